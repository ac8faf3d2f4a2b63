// The exhaustive VJP table: one reverse-mode rule per Core primitive, keyed by name (the mapped
// type makes a primitive without a rule a TypeScript error; `noGrad` says it has no derivative).
import {
  BINARY,
  COMPARE,
  REDUCE,
  UNARY,
  type BinaryPrim,
  type ComparePrim,
  type PrimName,
  type ReducePrim,
  type UnaryPrim,
} from '../../../runtime/core/prim_names.ts';
import { family } from '../../../runtime/prims/registry.ts';
import type { VjpRule } from './rule.ts';
import { binaryRule, compareRule, convert, select, unaryRule } from './elementwise.ts';
import { reduceRule } from './reduce.ts';
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
import { blocksignlinear, pack_sign, signlinear, unpack_sign } from './sign.ts';
import { attention } from './attention.ts';
import { random_bits } from './random_bits.ts';
import { custom_vjp, iterate, stop_gradient } from './control.ts';

export const VJPS: { [P in PrimName]: VjpRule<P> } = {
  ...family<UnaryPrim, { [P in UnaryPrim]: VjpRule<P> }>(UNARY, unaryRule),
  ...family<BinaryPrim, { [P in BinaryPrim]: VjpRule<P> }>(BINARY, binaryRule),
  ...family<ComparePrim, { [P in ComparePrim]: VjpRule<P> }>(COMPARE, compareRule),
  ...family<ReducePrim, { [P in ReducePrim]: VjpRule<P> }>(REDUCE, reduceRule),
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
  blocksignlinear,
  attention,
  random_bits,
  iterate,
  custom_vjp,
  stop_gradient,
};
