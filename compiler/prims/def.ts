// The record every Core primitive provides: its typing rule over concrete types and its reference
// evaluation (the semantics every backend is compared with). Later stages add VJP, fusion, codegen.
import { InternalError } from '../diag.ts';
import { typeStr, type Atom, type Func, type TensorType, type Var } from '../core/ir.ts';
import type { PrimName, PrimParams } from './names.ts';
import type { Tensor } from '../../runtime/tensor.ts';

export interface EvalCtx {
  /** Float tensors are held in Float64Array instead of Float32Array (gradient checks). */
  f64: boolean;
  /** Runs a nested Func (iterate bodies, custom_vjp forward). */
  run(f: Func, inputs: Tensor[]): Tensor[];
}

/** Where VJP rules emit the equations of the backward pass. */
export interface AdBuilder {
  emit<Q extends PrimName>(prim: Q, args: Atom[], params: PrimParams[Q]): Var;
  /** Inlines a closed Func (custom_vjp's backward body) and returns its results. */
  inline(f: Func, args: Atom[]): Atom[];
}

/** Reverse-mode rule: given the equation's operands, outputs and the cotangents of its outputs
 *  (undefined = zero), the cotangent of each operand (undefined = zero or not differentiable). */
export type VjpRule<P extends PrimName> = (b: AdBuilder, args: Atom[], outs: Var[], params: PrimParams[P], cts: (Atom | undefined)[]) => (Atom | undefined)[];

export interface PrimDef<P extends PrimName> {
  name: P;
  /** Output types from operand types; throws InternalError when the operands do not fit. */
  infer(args: TensorType[], params: PrimParams[P]): TensorType[];
  /** Reference evaluation. */
  eval(args: Tensor[], params: PrimParams[P], ctx: EvalCtx): Tensor[];
  /** Reverse-mode derivative (every primitive says how it differentiates, even if not at all). */
  vjp: VjpRule<P>;
}

/** The rule of a primitive with no derivative (integer, boolean, sign or constant results). */
export function noGrad(_b: AdBuilder, args: Atom[]): (Atom | undefined)[] {
  return args.map(() => undefined);
}

export function fail(prim: string, msg: string, args: TensorType[]): never {
  throw new InternalError(`${prim}: ${msg} (operands: ${args.map(typeStr).join(', ') || 'none'})`);
}

export function expectArity(prim: string, args: TensorType[], n: number): void {
  if (args.length !== n) fail(prim, `expects ${n} operand(s), got ${args.length}`, args);
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}
