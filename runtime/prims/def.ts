// The record every Core primitive provides in the runtime: its typing rule over concrete types and
// its reference evaluation (the semantics every backend is compared with). The compiler keeps the
// other rules in tables of the same shape: VJPs (compiler/ad/rules/), fusion (compiler/fuse/rules.ts).
import { InternalError } from '../core/errors.ts';
import { typeStr, type Func, type TensorType } from '../core/ir.ts';
import type { PrimName, PrimParams } from '../core/prim_names.ts';
import type { Tensor } from '../core/tensor.ts';

export interface EvalCtx {
  /** Float tensors are held in Float64Array instead of Float32Array (gradient checks). */
  f64: boolean;
  /** Runs a nested Func (iterate bodies, custom_vjp forward). */
  run(f: Func, inputs: Tensor[]): Tensor[];
}

export interface PrimDef<P extends PrimName> {
  name: P;
  /** Output types from operand types; throws InternalError when the operands do not fit. */
  infer(args: TensorType[], params: PrimParams[P]): TensorType[];
  /** Reference evaluation. */
  eval(args: Tensor[], params: PrimParams[P], ctx: EvalCtx): Tensor[];
}

export function fail(prim: string, msg: string, args: TensorType[]): never {
  throw new InternalError(`${prim}: ${msg} (operands: ${args.map(typeStr).join(', ') || 'none'})`);
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
