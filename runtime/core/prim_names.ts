// The closed set of Core primitives and the parameter record each one carries.
import type { DType } from './dtype.ts';
import type { Func } from './ir.ts';

export const UNARY = [
  'neg',
  'abs',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'sin',
  'cos',
  'tanh',
  'sigmoid',
  'sign',
  'floor',
  'ceil',
  'round',
  'not',
] as const;
export type UnaryPrim = (typeof UNARY)[number];

export const BINARY = [
  'add',
  'sub',
  'mul',
  'div',
  'rem',
  'pow',
  'max',
  'min',
  'and',
  'or',
  'xor',
  'shl',
  'shr',
] as const;
export type BinaryPrim = (typeof BINARY)[number];

export const COMPARE = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;
export type ComparePrim = (typeof COMPARE)[number];

export const REDUCE = ['reduce_sum', 'reduce_max', 'reduce_min', 'argmax'] as const;
export type ReducePrim = (typeof REDUCE)[number];

type NoParams = Record<string, never>;

/** Fused scaled dot-product attention (runtime/prims/attention.ts): `out` the forward (its output
 *  beside each row's log-sum-exp), `bwd` the backward (dq, dk, dv in one flat vector). */
export type AttentionMode = 'out' | 'bwd';
export interface AttentionParams {
  mode: AttentionMode;
  scale: number;
}

export interface PrimParams
  extends
    Record<UnaryPrim, NoParams>,
    Record<BinaryPrim, NoParams>,
    Record<ComparePrim, NoParams>,
    Record<ReducePrim, { axes: number[] }> {
  select: NoParams;
  convert: { dtype: DType };
  broadcast_in_dim: { shape: number[]; dims: number[] };
  reshape: { shape: number[] };
  transpose: { perm: number[] };
  slice: { start: number[]; stop: number[]; step: number[] };
  concat: { axis: number };
  pad: { lo: number[]; hi: number[]; interior: number[] };
  gather: { axis: number };
  scatter_add: { axis: number };
  dynamic_slice: { sizes: number[] };
  dynamic_update_slice: NoParams;
  iota: { shape: number[]; axis: number; dtype: DType };
  constant: { data: number[]; shape: number[]; dtype: DType };
  dot_general: { batch: [number[], number[]]; contract: [number[], number[]] };
  pack_sign: NoParams;
  unpack_sign: NoParams;
  signlinear: NoParams;
  blocksignlinear: NoParams;
  attention: AttentionParams;
  random_bits: { shape: number[] };
  /** the first `nconst` operands are loop-invariant; body: (consts..., carry...) -> carry... */
  iterate: { n: number; nconst: number; body: Func };
  custom_vjp: { fwd: Func; bwd: Func; name: string };
  stop_gradient: NoParams;
}

export type PrimName = keyof PrimParams;
