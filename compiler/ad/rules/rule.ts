// The shape of a reverse-mode rule and the builder it emits the backward pass into; one rule per
// primitive lives in compiler/ad/rules/ (the table VJPS, checked exhaustive by tsc).
import type { Atom, Func, Var } from '../../../runtime/core/ir.ts';
import type { PrimName, PrimParams } from '../../../runtime/core/prim_names.ts';

/** Where VJP rules emit the equations of the backward pass. */
export interface AdBuilder {
  emit<Q extends PrimName>(prim: Q, args: Atom[], params: PrimParams[Q]): Var;
  /** Inlines a closed Func (custom_vjp's backward body) and returns its results. */
  inline(f: Func, args: Atom[]): Atom[];
}

/** Reverse-mode rule: given the equation's operands, outputs and the cotangents of its outputs
 *  (undefined = zero), the cotangent of each operand (undefined = zero or not differentiable). */
export type VjpRule<P extends PrimName> = (
  b: AdBuilder,
  args: Atom[],
  outs: Var[],
  params: PrimParams[P],
  cts: (Atom | undefined)[],
) => (Atom | undefined)[];

/** The rule of a primitive with no derivative (integer, boolean, sign or constant results). */
export function noGrad(_b: AdBuilder, args: Atom[]): (Atom | undefined)[] {
  return args.map(() => undefined);
}
