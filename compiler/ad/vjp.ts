// Reverse-mode automatic differentiation as a Core IR → Core IR transform. Loops are unrolled
// first (their counts are static), then the equations are walked backwards, each primitive's VJP
// rule (the VJPS table, compiler/ad/rules/) turning output cotangents into operand cotangents; a function
// with a user gradient rule (custom_vjp) contributes its rule's body instead.
import { InternalError } from '../syntax/diag.ts';
import { PRIMS } from '../../runtime/prims/registry.ts';
import type { PrimDef } from '../../runtime/prims/def.ts';
import type { AdBuilder, VjpRule } from './rules/rule.ts';
import { VJPS } from './rules/index.ts';
import type { PrimName, PrimParams } from '../../runtime/core/prim_names.ts';
import {
  lit,
  sameType,
  typeStr,
  type Atom,
  type Eqn,
  type Func,
  type Var,
  type VarSupply,
} from '../../runtime/core/ir.ts';
import { zeros } from './rules/util.ts';
import { isFloat } from '../../runtime/core/dtype.ts';

/** Appends renamed copies of a closed Func's equations; returns its results in the new names. */
export function inlineInto(eqns: Eqn[], supply: VarSupply, g: Func, args: Atom[]): Atom[] {
  if (args.length !== g.params.length)
    throw new InternalError(`inline: ${g.params.length} parameters, ${args.length} arguments`);
  const sub = new Map<number, Atom>();
  g.params.forEach((p, i) => sub.set(p.id, args[i]!));
  const m = (a: Atom) => (a.kind === 'var' ? (sub.get(a.id) ?? a) : a);
  for (const e of g.eqns) {
    const outs = e.outs.map((o) => {
      const v = supply.fresh(o.type, o.hint);
      sub.set(o.id, v);
      return v;
    });
    eqns.push({ ...e, args: e.args.map(m), outs });
  }
  return g.results.map(m);
}

/** Replaces every iterate by its body repeated n times (recursively). */
function unrollIterates(f: Func, supply: VarSupply): Func {
  if (!f.eqns.some((e) => e.prim === 'iterate')) return f;
  const eqns: Eqn[] = [];
  const sub = new Map<number, Atom>();
  const m = (a: Atom) => (a.kind === 'var' ? (sub.get(a.id) ?? a) : a);
  for (const e of f.eqns) {
    const args = e.args.map(m);
    if (e.prim !== 'iterate') {
      eqns.push({ ...e, args });
      continue;
    }
    const p = e.params as PrimParams['iterate'];
    const body = unrollIterates(p.body, supply);
    const consts = args.slice(0, p.nconst);
    let state = args.slice(p.nconst);
    for (let i = 0; i < p.n; i++) state = inlineInto(eqns, supply, body, [...consts, ...state]);
    e.outs.forEach((o, i) => sub.set(o.id, state[i]!));
  }
  return { params: f.params, eqns, results: f.results.map(m) };
}

/**
 * The gradient program of f with respect to its first `nWrt` parameters. f's first result must be a
 * float scalar (the loss). Returns a Func with f's parameters and results [...f.results, ...grads].
 */
export function gradFunc(f0: Func, nWrt: number, supply: VarSupply): Func {
  const f = unrollIterates(f0, supply);
  const eqns: Eqn[] = [...f.eqns];
  // the equations a primitive's rule emits record the primitive's source, marked as its gradient
  let src: string | undefined;
  const b: AdBuilder = {
    emit<Q extends PrimName>(prim: Q, args: Atom[], params: PrimParams[Q]): Var {
      const [t] = (PRIMS[prim] as PrimDef<Q>).infer(
        args.map((a) => a.type),
        params,
      );
      const v = supply.fresh(t!);
      eqns.push({ prim, args, params, outs: [v], src } as Eqn);
      return v;
    },
    inline: (g, args) => inlineInto(eqns, supply, g, args),
  };
  const loss = f.results[0];
  if (!loss || loss.type.shape.length !== 0 || !isFloat(loss.type.dtype))
    throw new InternalError(
      `grad: the function must return a float scalar first, found ${loss ? typeStr(loss.type) : 'nothing'}`,
    );
  const cts = new Map<number, Atom>();
  if (loss.kind === 'var') cts.set(loss.id, lit(1, loss.type.dtype));
  const add = (v: Var, ct: Atom) => {
    if (!sameType(v.type, ct.type))
      throw new InternalError(`VJP produced ${typeStr(ct.type)} for an operand of type ${typeStr(v.type)}`);
    const prev = cts.get(v.id);
    cts.set(v.id, prev ? b.emit('add', [prev, ct], {}) : ct);
  };
  for (let i = f.eqns.length - 1; i >= 0; i--) {
    const e = f.eqns[i]!;
    const outCts = e.outs.map((o) => cts.get(o.id));
    if (outCts.every((c) => !c)) continue;
    const rule = VJPS[e.prim] as VjpRule<PrimName>;
    src = e.src === undefined ? undefined : e.src.startsWith('∇ ') ? e.src : `∇ ${e.src}`;
    let inCts: (Atom | undefined)[];
    try {
      inCts = rule(b, e.args, e.outs, e.params as never, outCts);
    } catch (err) {
      throw new InternalError(`VJP of ${e.prim}: ${(err as Error).message}`);
    }
    e.args.forEach((a, k) => {
      const ct = inCts[k];
      if (ct && a.kind === 'var' && isFloat(a.type.dtype)) add(a, ct);
    });
  }
  const grads = f.params.slice(0, nWrt).map((p) => cts.get(p.id) ?? zeros(b, p.type));
  return { params: f.params, eqns, results: [...f.results, ...grads] };
}
