// Core IR: typed A-normal form over concrete tensor types, after monomorphisation and inlining.
// `let %v: f32[4, 8] = prim(%a, %b){params}`; sub-programs (iterate, custom_vjp) are nested Funcs.
import type { DType } from './dtype.ts';
import type { PrimName, PrimParams } from './prim_names.ts';

export interface TensorType {
  dtype: DType;
  shape: number[];
}

export interface Var {
  kind: 'var';
  id: number;
  type: TensorType;
  hint?: string;
}

/** A scalar literal operand (rank 0). */
export interface Lit {
  kind: 'lit';
  value: number;
  type: TensorType; // shape []
}

export type Atom = Var | Lit;

export interface Eqn<P extends PrimName = PrimName> {
  prim: P;
  args: Atom[];
  params: PrimParams[P];
  outs: Var[];
  /** where it came from: `file:line:col` of the source expression ('∇ ' before it: its gradient) */
  src?: string;
}

export interface Func {
  params: Var[];
  eqns: Eqn[];
  results: Atom[];
}

export const typeStr = (t: TensorType): string => (t.shape.length ? `${t.dtype}[${t.shape.join(', ')}]` : t.dtype);
export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export const sameType = (a: TensorType, b: TensorType): boolean =>
  a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);

/** Allocates variable ids; one per compilation so ids are unique across nested Funcs. */
export class VarSupply {
  private next = 0;
  fresh(type: TensorType, hint?: string): Var {
    return { kind: 'var', id: this.next++, type, hint };
  }
}

export const lit = (value: number, dtype: DType): Lit => ({ kind: 'lit', value, type: { dtype, shape: [] } });
