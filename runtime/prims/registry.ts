// The exhaustive primitive registry: one record per Core primitive, keyed by name. The mapped type
// makes a missing record a TypeScript error.
import type { PrimDef } from './def.ts';
import type { PrimName } from '../core/prim_names.ts';
import { binaryPrim, comparePrim, convert, select, unaryPrim } from './elementwise.ts';
import { reducePrim } from './reduce.ts';
import { broadcast_in_dim } from './broadcast_in_dim.ts';
import { reshape } from './reshape.ts';
import { transpose } from './transpose.ts';
import { slice } from './slice.ts';
import { pad } from './pad.ts';
import { concat } from './concat.ts';
import { gather, scatter_add } from './gather.ts';
import { dynamic_slice, dynamic_update_slice } from './dynamic_slice.ts';
import { constant, iota } from './iota.ts';
import { dot_general } from './dot_general.ts';
import { pack_sign, signlinear, unpack_sign } from './sign.ts';
import { random_bits } from './random_bits.ts';
import { custom_vjp, iterate, stop_gradient } from './control.ts';

export type Registry = { [P in PrimName]: PrimDef<P> };

export const PRIMS: Registry = {
  neg: unaryPrim('neg'),
  abs: unaryPrim('abs'),
  exp: unaryPrim('exp'),
  log: unaryPrim('log'),
  sqrt: unaryPrim('sqrt'),
  rsqrt: unaryPrim('rsqrt'),
  sin: unaryPrim('sin'),
  cos: unaryPrim('cos'),
  tanh: unaryPrim('tanh'),
  sigmoid: unaryPrim('sigmoid'),
  sign: unaryPrim('sign'),
  floor: unaryPrim('floor'),
  ceil: unaryPrim('ceil'),
  round: unaryPrim('round'),
  not: unaryPrim('not'),
  add: binaryPrim('add'),
  sub: binaryPrim('sub'),
  mul: binaryPrim('mul'),
  div: binaryPrim('div'),
  rem: binaryPrim('rem'),
  pow: binaryPrim('pow'),
  max: binaryPrim('max'),
  min: binaryPrim('min'),
  and: binaryPrim('and'),
  or: binaryPrim('or'),
  xor: binaryPrim('xor'),
  shl: binaryPrim('shl'),
  shr: binaryPrim('shr'),
  eq: comparePrim('eq'),
  ne: comparePrim('ne'),
  lt: comparePrim('lt'),
  le: comparePrim('le'),
  gt: comparePrim('gt'),
  ge: comparePrim('ge'),
  reduce_sum: reducePrim('reduce_sum'),
  reduce_max: reducePrim('reduce_max'),
  reduce_min: reducePrim('reduce_min'),
  argmax: reducePrim('argmax'),
  select,
  convert,
  broadcast_in_dim,
  reshape,
  transpose,
  slice,
  concat,
  pad,
  gather,
  scatter_add,
  dynamic_slice,
  dynamic_update_slice,
  iota,
  constant,
  dot_general,
  pack_sign,
  unpack_sign,
  signlinear,
  random_bits,
  iterate,
  custom_vjp,
  stop_gradient,
};

export function primDef<P extends PrimName>(p: P): PrimDef<P> {
  return PRIMS[p] as PrimDef<P>;
}
