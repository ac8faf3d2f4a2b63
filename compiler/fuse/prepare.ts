// Core → Core preparation for the compiled backends: custom_vjp calls become their forward bodies
// (their rule only matters to AD, which has run), and every dot_general gets the canonical operand
// layout the dot template reads — lhs [batch..., free..., contract...], rhs [batch..., free...,
// contract...] — by inserting transposes where an operand is laid out otherwise.
import type { Atom, Eqn, Func, Var } from '../../runtime/core/ir.ts';
import type { PrimParams } from '../../runtime/core/prim_names.ts';
import { cse, dce } from '../core/opt.ts';

function maxId(f: Func): number {
  let m = -1;
  const see = (g: Func): void => {
    for (const p of g.params) m = Math.max(m, p.id);
    for (const e of g.eqns) {
      for (const o of e.outs) m = Math.max(m, o.id);
      for (const v of Object.values(e.params as Record<string, unknown>))
        if (v && typeof v === 'object' && 'eqns' in (v as object)) see(v as Func);
    }
  };
  see(f);
  return m;
}

export function prepare(f: Func): Func {
  let next = maxId(f) + 1;
  const fresh = (t: Var['type'], hint?: string): Var => ({ kind: 'var', id: next++, type: t, hint });
  const sub = new Map<number, Atom>();
  const at = (a: Atom): Atom => (a.kind === 'var' ? (sub.get(a.id) ?? a) : a);
  const eqns: Eqn[] = [];

  const inline = (body: Func, args: Atom[], outs: Var[]): void => {
    const local = new Map<number, Atom>();
    body.params.forEach((p, i) => local.set(p.id, args[i]!));
    const la = (a: Atom): Atom => (a.kind === 'var' ? (local.get(a.id) ?? a) : a);
    for (const e of body.eqns) {
      const renamed = e.outs.map((o) => fresh(o.type, o.hint));
      e.outs.forEach((o, i) => local.set(o.id, renamed[i]!));
      emit({ ...e, args: e.args.map(la), outs: renamed });
    }
    body.results.forEach((r, i) => sub.set(outs[i]!.id, la(r)));
  };

  const emit = (e: Eqn): void => {
    const args = e.args.map(at);
    if (e.prim === 'custom_vjp') {
      inline((e.params as PrimParams['custom_vjp']).fwd, args, e.outs);
      return;
    }
    if (e.prim === 'dot_general') {
      eqns.push(canonicalDot(e, args, fresh, eqns));
      return;
    }
    eqns.push({ ...e, args });
  };

  for (const e of f.eqns) emit(e);
  return dce(cse({ params: f.params, eqns, results: f.results.map(at) }));
}

function canonicalDot(e: Eqn, args: Atom[], fresh: (t: Var['type']) => Var, eqns: Eqn[]): Eqn {
  const p = e.params as PrimParams['dot_general'];
  const side = (a: Atom, batch: number[], contract: number[]): Atom => {
    const r = a.type.shape.length;
    const freeAx = [...Array(r).keys()].filter((i) => !batch.includes(i) && !contract.includes(i));
    const perm = [...batch, ...freeAx, ...contract];
    if (perm.every((x, i) => x === i)) return a;
    const v = fresh({ dtype: a.type.dtype, shape: perm.map((i) => a.type.shape[i]!) });
    eqns.push({ prim: 'transpose', args: [a], params: { perm }, outs: [v], src: e.src } as Eqn);
    return v;
  };
  const a = side(args[0]!, p.batch[0], p.contract[0]);
  const b = side(args[1]!, p.batch[1], p.contract[1]);
  if (a === args[0] && b === args[1]) return { ...e, args };
  const ra = a.type.shape.length;
  const rb = b.type.shape.length;
  const nb = p.batch[0].length;
  const nc = p.contract[0].length;
  const range = (lo: number, hi: number) => [...Array(hi - lo).keys()].map((i) => i + lo);
  return {
    ...e,
    args: [a, b],
    params: { batch: [range(0, nb), range(0, nb)], contract: [range(ra - nc, ra), range(rb - nc, rb)] },
  } as Eqn;
}
