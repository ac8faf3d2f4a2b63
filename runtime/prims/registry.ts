// The exhaustive primitive registry: one record per Core primitive, keyed by name. The mapped type
// makes a missing record a TypeScript error.
import type { PrimDef } from './def.ts';
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
} from '../core/prim_names.ts';
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
import { blocksignlinear, pack_sign, signlinear, unpack_sign } from './sign.ts';
import { attention } from './attention.ts';
import { random_bits } from './random_bits.ts';
import { custom_vjp, iterate, stop_gradient } from './control.ts';

export type Registry = { [P in PrimName]: PrimDef<P> };

/** One entry per name of a primitive family (unary, binary, compare, reduce), made by its record
 *  factory: adding a name to the family's list in runtime/core/prim_names.ts is enough here. */
export function family<N extends PrimName, D extends { [P in N]: unknown }>(
  names: readonly N[],
  make: (p: N) => D[N],
): D {
  return Object.fromEntries(names.map((p) => [p, make(p)])) as D;
}

export const PRIMS: Registry = {
  ...family<UnaryPrim, { [P in UnaryPrim]: PrimDef<P> }>(UNARY, unaryPrim),
  ...family<BinaryPrim, { [P in BinaryPrim]: PrimDef<P> }>(BINARY, binaryPrim),
  ...family<ComparePrim, { [P in ComparePrim]: PrimDef<P> }>(COMPARE, comparePrim),
  ...family<ReducePrim, { [P in ReducePrim]: PrimDef<P> }>(REDUCE, reducePrim),
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
