// Core IR verifier: every operand defined before use (lexically scoped nested bodies), each variable
// defined once, output types equal to what the primitive's typing rule infers, and rank-0 implicit
// broadcasting only from literals. Failures are internal errors that print the offending IR.
import { InternalError } from '../syntax/diag.ts';
import { PRIMS } from '../../runtime/prims/registry.ts';
import type { PrimDef } from '../../runtime/prims/def.ts';
import type { PrimName } from '../../runtime/core/prim_names.ts';
import { sameType, typeStr, type Func } from '../../runtime/core/ir.ts';
import { eqnStr, printFunc } from './print.ts';
import { BINARY, COMPARE } from '../../runtime/core/prim_names.ts';

const ELEMENTWISE = new Set<string>([...BINARY, ...COMPARE, 'select']);

export function verifyFunc(f: Func, outer: Set<number> = new Set(), defined: Set<number> = new Set()): void {
  const scope = new Set(outer);
  const bad = (msg: string): never => {
    throw new InternalError(`Core IR verification failed: ${msg}\n${printFunc(f)}`);
  };
  for (const p of f.params) {
    if (defined.has(p.id)) bad(`%${p.id} defined twice`);
    defined.add(p.id);
    scope.add(p.id);
  }
  for (const e of f.eqns) {
    for (const a of e.args)
      if (a.kind === 'var' && !scope.has(a.id)) bad(`%${a.id} used before definition in: ${eqnStr(e)}`);
    if (ELEMENTWISE.has(e.prim)) {
      const big = e.args.some((a) => a.type.shape.length > 0);
      for (const a of e.args)
        if (big && a.type.shape.length === 0 && a.kind === 'var')
          bad(`rank-0 variable broadcast implicitly in: ${eqnStr(e)}`);
    }
    // nested bodies see the enclosing scope only where the primitive allows it: never (closed bodies)
    for (const v of Object.values(e.params as Record<string, unknown>))
      if (v && typeof v === 'object' && 'eqns' in (v as object)) verifyFunc(v as Func, new Set(), defined);
    let inferred;
    try {
      inferred = (PRIMS[e.prim] as PrimDef<PrimName>).infer(
        e.args.map((a) => a.type),
        e.params as never,
      );
    } catch (err) {
      bad(`${(err as Error).message} in: ${eqnStr(e)}`);
    }
    if (inferred!.length !== e.outs.length) bad(`arity of outputs in: ${eqnStr(e)}`);
    e.outs.forEach((o, i) => {
      if (!sameType(o.type, inferred![i]!))
        bad(`output ${i} declared ${typeStr(o.type)}, rule gives ${typeStr(inferred![i]!)} in: ${eqnStr(e)}`);
      if (defined.has(o.id)) bad(`%${o.id} defined twice`);
      defined.add(o.id);
      scope.add(o.id);
    });
  }
  for (const r of f.results) if (r.kind === 'var' && !scope.has(r.id)) bad(`result %${r.id} is not defined`);
}
