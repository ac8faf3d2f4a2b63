// The exhaustive VJP table: one reverse-mode rule per Core primitive, keyed by name (the mapped
// type makes a primitive without a rule a TypeScript error; `noGrad` says it has no derivative).
import type { PrimName } from '../../../runtime/core/prim_names.ts';
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
import { pack_sign, signlinear, unpack_sign } from './sign.ts';
import { random_bits } from './random_bits.ts';
import { custom_vjp, iterate, stop_gradient } from './control.ts';

export const VJPS: { [P in PrimName]: VjpRule<P> } = {
  neg: unaryRule('neg'),
  abs: unaryRule('abs'),
  exp: unaryRule('exp'),
  log: unaryRule('log'),
  sqrt: unaryRule('sqrt'),
  rsqrt: unaryRule('rsqrt'),
  sin: unaryRule('sin'),
  cos: unaryRule('cos'),
  tanh: unaryRule('tanh'),
  sigmoid: unaryRule('sigmoid'),
  sign: unaryRule('sign'),
  floor: unaryRule('floor'),
  ceil: unaryRule('ceil'),
  round: unaryRule('round'),
  not: unaryRule('not'),
  add: binaryRule('add'),
  sub: binaryRule('sub'),
  mul: binaryRule('mul'),
  div: binaryRule('div'),
  rem: binaryRule('rem'),
  pow: binaryRule('pow'),
  max: binaryRule('max'),
  min: binaryRule('min'),
  and: binaryRule('and'),
  or: binaryRule('or'),
  xor: binaryRule('xor'),
  shl: binaryRule('shl'),
  shr: binaryRule('shr'),
  eq: compareRule('eq'),
  ne: compareRule('ne'),
  lt: compareRule('lt'),
  le: compareRule('le'),
  gt: compareRule('gt'),
  ge: compareRule('ge'),
  reduce_sum: reduceRule('reduce_sum'),
  reduce_max: reduceRule('reduce_max'),
  reduce_min: reduceRule('reduce_min'),
  argmax: reduceRule('argmax'),
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
