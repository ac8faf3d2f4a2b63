// The language's built-in functions: each one types its arguments (symbolic shapes) and lowers to
// Core primitives through the op layer, so the same code checks and lowers.
// The functions live in builtin_args.ts (argument readers), builtins_tensor.ts and builtins_control.ts.
import { UNARY, type UnaryPrim } from '../../../runtime/core/prim_names.ts';
import type { Val } from './vals.ts';
import * as ops from './ops.ts';
import type { Builtin } from './builtin_args.ts';
import * as T from './builtins_tensor.ts';
import * as C from './builtins_control.ts';
import * as LY from './builtins_layers.ts';
import { sdpa } from './builtins_attention.ts';

export type { CallInfo } from './builtin_args.ts';

/** Unary primitives callable by name: every unary primitive but `not` (written `!`), from the
 *  primitive list, so a new unary primitive is a builtin without touching this file. */
const UNARY_BUILTINS = UNARY.filter((p): p is Exclude<UnaryPrim, 'not'> => p !== 'not');

export const BUILTINS: Record<string, Builtin> = {
  ...Object.fromEntries(UNARY_BUILTINS.map((p) => [p, T.unaryB(p)])),
  max: T.reduceOrBinary('reduce_max', 'max'),
  min: T.reduceOrBinary('reduce_min', 'min'),
  sum: T.sum,
  mean: T.mean,
  logsumexp: T.logsumexp,
  argmax: T.argmax,
  where: T.where,
  $cast: T.castB,
  transpose: T.transposeB,
  permute: T.permute,
  reshape: T.reshapeB,
  broadcast: T.broadcastB,
  concat: T.concatB,
  stack: T.stackB,
  repeat: T.repeatB,
  iota: T.iotaB,
  zeros: T.zerosB(0),
  ones: T.zerosB(1),
  full: T.fullB,
  zeros_like: C.zerosLike,
  $zero: C.zeroLeaf,
  tree_sum: C.treeSum,
  one_hot: T.oneHot,
  take: T.gatherB,
  update_slice: T.updateSlice,
  slice_at: T.sliceAt,
  matmul: T.matmulB,
  einsum: T.einsum,
  pack_sign: T.packSign,
  unpack_sign: T.unpackSign,
  signlinear: T.signlinear,
  blocksignlinear: T.blocksignlinear,
  sdpa,
  key: T.keyB,
  split: T.splitB,
  rand_uniform: T.randUniform,
  rand_normal: T.randNormal,
  categorical: T.categorical,
  iterate: C.iterate,
  fold: C.fold,
  map: C.mapB,
  scan: C.scan,
  tmap: C.tmap,
  lmap: LY.lmap,
  layers: LY.layersB,
  with_layers: LY.withLayers,
  len: C.lenB,
  size: C.sizeB,
  stop_gradient: C.stopGradient,
  grad: C.gradB(false),
  value_and_grad: C.gradB(true),
  vjp: C.vjpB,
};

export const BUILTIN_CONSTS: Record<string, () => Val> = {
  inf: () => ({ ...ops.tval('f32', [], undefined, { k: 'float', v: Infinity }), weak: true }),
  nan: () => ({ ...ops.tval('f32', [], undefined, { k: 'float', v: NaN }), weak: true }),
  pi: () => ({ ...ops.tval('f32', [], undefined, { k: 'float', v: Math.PI }), weak: true }),
};
