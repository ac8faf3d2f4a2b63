// The reference interpreter of Core IR: evaluates each equation with its primitive's reference
// rule. f32 by default (every result rounded to f32), or f64 for gradient checks.
import type { Atom, Func } from '../core/ir.ts';
import { PRIMS } from '../prims/registry.ts';
import type { EvalCtx, PrimDef } from '../prims/def.ts';
import type { PrimName } from '../core/prim_names.ts';
import { alloc, type Tensor } from '../core/tensor.ts';
import { InternalError } from '../core/errors.ts';
import { widen } from '../core/stored.ts';

export interface InterpOptions {
  f64?: boolean;
}

export function interpret(f: Func, inputs: Tensor[], opts: InterpOptions = {}): Tensor[] {
  const ctx: EvalCtx = { f64: !!opts.f64, run: (g, xs) => runFunc(g, xs, ctx) };
  // the interpreter computes with the values of stored inputs (runtime/core/stored.ts)
  return runFunc(f, inputs.map(widen), ctx);
}

function runFunc(f: Func, inputs: Tensor[], ctx: EvalCtx): Tensor[] {
  if (inputs.length !== f.params.length)
    throw new InternalError(`interpreter: ${f.params.length} inputs expected, got ${inputs.length}`);
  const env = new Map<number, Tensor>();
  f.params.forEach((p, i) => env.set(p.id, inputs[i]!));
  const read = (a: Atom): Tensor => {
    if (a.kind === 'lit') {
      const t = alloc(a.type.dtype, [], ctx.f64);
      t.data[0] = a.value;
      return t;
    }
    const t = env.get(a.id);
    if (!t) throw new InternalError(`interpreter: %${a.id} is not defined`);
    return t;
  };
  for (const e of f.eqns) {
    const def = PRIMS[e.prim] as PrimDef<PrimName>;
    const outs = def.eval(e.args.map(read), e.params as never, ctx);
    e.outs.forEach((o, i) => env.set(o.id, outs[i]!));
  }
  return f.results.map(read);
}
