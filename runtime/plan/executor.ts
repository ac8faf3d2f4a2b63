// What the Wasm and WebGPU programs share in running a plan: which inputs are resident (an input
// whose tensor object is the one last uploaded, or a donated result passed back, is not copied
// again), which results live in a donated parameter's buffer, host steps (a primitive's reference
// rule on its operands, nested functions prepared once) and literal operands.
import type { Func } from '../core/ir.ts';
import type { Lit, Plan, PlanStep } from './plan.ts';
import type { EvalCtx, PrimDef } from '../prims/def.ts';
import type { PrimName } from '../core/prim_names.ts';
import { PRIMS } from '../prims/registry.ts';
import { alloc, type Tensor } from '../core/tensor.ts';
import { interpret } from '../ref/interp.ts';
import { InternalError } from '../core/errors.ts';

/** How a host step runs a nested function (an iterate body): compiled by the caller, or interpreted. */
export type NestedRunner = (g: Func) => { run(inputs: Tensor[]): Tensor[] };

export class Residency {
  private readonly last: (Tensor | undefined)[];
  /** buffer of a donated parameter → its parameter index */
  private readonly donated = new Map<number, number>();

  constructor(
    private readonly plan: Plan,
    donate: readonly number[] = [],
    private readonly backend: string,
  ) {
    this.last = plan.inputs.map(() => undefined);
    for (const i of donate) {
      if (!Number.isInteger(i) || i < 0 || i >= plan.inputs.length)
        throw new InternalError(`${backend}: donated parameter ${i} of ${plan.inputs.length}`);
      this.donated.set(plan.inputs[i]!, i);
    }
  }

  /** Calls `upload(i, t)` for every input that is not resident, after checking the count. */
  uploadInputs(inputs: Tensor[], upload: (i: number, t: Tensor) => void): void {
    if (inputs.length !== this.plan.inputs.length)
      throw new InternalError(`${this.backend}: ${this.plan.inputs.length} inputs expected, got ${inputs.length}`);
    inputs.forEach((t, i) => {
      if (this.last[i] === t) return;
      upload(i, t);
      this.last[i] = t;
    });
  }

  /** After the plan ran: a donated parameter's buffer may hold something else now. */
  ran(): void {
    for (const i of this.donated.values()) this.last[i] = undefined;
  }

  /** The parameter whose donated buffer holds a result (undefined: not donated). */
  donatedAs(buf: number): number | undefined {
    return this.donated.get(buf);
  }

  /** Whether a buffer is a donated parameter's. */
  isDonated(buf: number): boolean {
    return this.donated.has(buf);
  }

  /** A result in a donated buffer, resident again: passed back as the same parameter, it is not copied. */
  keep(param: number, t: Tensor): Tensor {
    this.last[param] = t;
    return t;
  }

  /** Forgets which inputs are resident (after writing into an input tensor in place). */
  invalidate(): void {
    this.last.fill(undefined);
  }
}

export function literalTensor(a: Lit): Tensor {
  const t = alloc(a.dtype, []);
  t.data[0] = a.lit;
  return t;
}

/** The evaluation context of host steps: nested functions prepared on first use. */
export function hostContext(nested?: NestedRunner): EvalCtx {
  const ready = new WeakMap<Func, { run(inputs: Tensor[]): Tensor[] }>();
  return {
    f64: false,
    run: (g, xs) => {
      let w = ready.get(g);
      if (!w) ready.set(g, (w = nested?.(g) ?? { run: (ins) => interpret(g, ins) }));
      return w.run(xs);
    },
  };
}

/** Runs a host step's primitive on its operands (`arg` gives the tensor of a buffer operand). */
export function runHostStep(
  plan: Plan,
  st: Extract<PlanStep, { op: 'host' }>,
  arg: (buf: number) => Tensor,
  ctx: EvalCtx,
): Tensor[] {
  const e = plan.hostEqns[st.eqn]!;
  const args = st.ins.map((a) => (typeof a === 'number' ? arg(a) : literalTensor(a)));
  return (PRIMS[e.prim] as PrimDef<PrimName>).eval(args, e.params as never, ctx);
}
