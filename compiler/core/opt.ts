// Core IR clean-up passes: common-subexpression elimination and dead-code elimination.
import type { Atom, Eqn, Func, Var } from '../../runtime/core/ir.ts';
import { canonical } from './hash.ts';
import type { PrimParams } from '../../runtime/core/prim_names.ts';

function mapAtom(a: Atom, sub: Map<number, Var>): Atom {
  return a.kind === 'var' ? (sub.get(a.id) ?? a) : a;
}

/** Replaces an equation by an earlier identical one (same primitive, operands and parameters). */
export function cse(f: Func): Func {
  const seen = new Map<string, Var[]>();
  const sub = new Map<number, Var>();
  const eqns: Eqn[] = [];
  for (const e0 of f.eqns) {
    const e: Eqn = { ...e0, args: e0.args.map((a) => mapAtom(a, sub)) };
    if (e.prim === 'iterate' || e.prim === 'custom_vjp') {
      const p = e.params as { body?: Func; fwd?: Func; bwd?: Func };
      e.params = {
        ...(e.params as object),
        ...(p.body ? { body: cse(p.body) } : {}),
        ...(p.fwd ? { fwd: cse(p.fwd), bwd: cse(p.bwd!) } : {}),
      } as never;
    }
    const key = `${e.prim}(${e.args.map((a) => (a.kind === 'var' ? `v${a.id}` : `#${a.value}:${a.type.dtype}`)).join(',')})${paramKey(e)}`;
    const prev = seen.get(key);
    if (prev) {
      e.outs.forEach((o, i) => sub.set(o.id, prev[i]!));
      continue;
    }
    seen.set(key, e.outs);
    eqns.push(e);
  }
  return { params: f.params, eqns, results: f.results.map((a) => mapAtom(a, sub)) };
}

function paramKey(e: Eqn): string {
  return JSON.stringify(e.params, (_k, v) => (v && typeof v === 'object' && 'eqns' in v ? canonical(v as Func) : v));
}

/** Drops equations whose outputs are never used. */
export function dce(f: Func): Func {
  const live = new Set<number>();
  for (const r of f.results) if (r.kind === 'var') live.add(r.id);
  const keep: Eqn[] = [];
  for (let i = f.eqns.length - 1; i >= 0; i--) {
    const e = f.eqns[i]!;
    if (!e.outs.some((o) => live.has(o.id))) continue;
    let params = e.params;
    if (e.prim === 'iterate')
      params = { ...(e.params as object), body: dce((e.params as { body: Func }).body) } as never;
    keep.push({ ...e, params });
    for (const a of e.args) if (a.kind === 'var') live.add(a.id);
  }
  return { params: f.params, eqns: keep.reverse(), results: f.results };
}

/** dot_general(transpose(a), b) → dot_general(a, b) with remapped axes, when the free axes keep
 *  their relative order (so the output layout is unchanged). Saves the transposed copy. */
export function foldTransposes(f: Func): Func {
  const producer = new Map<number, Eqn>();
  for (const e of f.eqns) for (const o of e.outs) producer.set(o.id, e);
  const eqns = f.eqns.map((e) => {
    if (e.prim !== 'dot_general') return e;
    const p = e.params as PrimParams['dot_general'];
    const args = e.args.slice();
    const batch: [number[], number[]] = [p.batch[0].slice(), p.batch[1].slice()];
    const contract: [number[], number[]] = [p.contract[0].slice(), p.contract[1].slice()];
    for (const side of [0, 1] as const) {
      const a = args[side]!;
      if (a.kind !== 'var') continue;
      const t = producer.get(a.id);
      if (!t || t.prim !== 'transpose') continue;
      const perm = (t.params as PrimParams['transpose']).perm;
      const used = new Set([...batch[side], ...contract[side]]);
      const free = perm
        .map((_, j) => j)
        .filter((j) => !used.has(j))
        .map((j) => perm[j]!);
      if (free.some((v, i) => i > 0 && v < free[i - 1]!)) continue;
      batch[side] = batch[side].map((j) => perm[j]!);
      contract[side] = contract[side].map((j) => perm[j]!);
      args[side] = t.args[0]!;
    }
    return { ...e, args, params: { batch, contract } } as Eqn;
  });
  return { ...f, eqns };
}
