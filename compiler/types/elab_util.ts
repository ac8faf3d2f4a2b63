// Helpers of the elaborator: names and keys of type arguments, substituting rigid dims, spans,
// and the "did you mean" suggestion.
import type { Span } from '../syntax/diag.ts';
import type * as A from '../syntax/ast.ts';
import { dimSubst, dimToString, dimVars, type Dim } from './dim.ts';
import { D, typeToString, type ShapeItem, type TArg, type Type } from './types.ts';
import type { Bindings } from './unify.ts';

export function collectNames(a: TArg, out: Set<string>): void {
  const t = a.k === 'type' ? a.t : undefined;
  if (a.k === 'dim') for (const v of dimVars(a.d)) out.add(v);
  if (!t) return;
  const walk = (x: Type): void => {
    if (x.k === 'tensor') for (const it of x.shape) if (it.k === 'dim') for (const v of dimVars(it.d)) out.add(v);
    if (x.k === 'tuple') x.elems.forEach(walk);
    if (x.k === 'array') {
      walk(x.elem);
      for (const v of dimVars(x.len)) out.add(v);
    }
    if (x.k === 'struct') for (const y of x.args) collectNames(y, out);
  };
  walk(t);
}

export function targKey(a: TArg): string {
  return a.k === 'ctor' ? a.s.name : a.k === 'type' ? typeToString(a.t) : dimToString(a.d);
}

/** Re-expresses a type over a callee's rigid dims in the caller's terms. */
export function substType(t: Type, rigid: Bindings, actual: Bindings): Type {
  const map = new Map<string, Dim>();
  for (const [n, d] of rigid.dims) {
    const name = [...dimVars(d)][0]!;
    const a = actual.dims.get(n);
    if (a) map.set(name, a);
  }
  const dim = (d: Dim) => dimSubst(d, (v) => map.get(v));
  const shape = (s: ShapeItem[]): ShapeItem[] =>
    s.flatMap((it) =>
      it.k === 'spread' ? (it.name === '...' && actual.spread ? actual.spread : [it]) : [D(dim(it.d))],
    );
  const go = (x: Type): Type => {
    switch (x.k) {
      case 'tensor':
        return { ...x, shape: shape(x.shape) };
      case 'tuple':
        return { ...x, elems: x.elems.map(go) };
      case 'array':
        return { k: 'array', elem: go(x.elem), len: dim(x.len) };
      case 'struct':
        return {
          k: 'struct',
          s: x.s,
          args: x.args.map((a) =>
            a.k === 'dim' ? { k: 'dim', d: dim(a.d) } : a.k === 'type' ? { k: 'type', t: go(a.t) } : a,
          ),
        };
      default:
        return x;
    }
  };
  return go(t);
}

export function resultSpan(e: A.Expr): Span {
  return e.kind === 'block' ? resultSpan(e.result) : e.span;
}

export function patName(p: A.Pattern): string {
  return p.kind === 'name' ? p.name : `(${p.elems.map(patName).join(', ')})`;
}

export function closest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of new Set(known)) {
    const d = editDistance(name, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      dp[i]![j] = Math.min(
        dp[i - 1]![j]! + 1,
        dp[i]![j - 1]! + 1,
        dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
  return dp[a.length]![b.length]!;
}

/** The span of a name at the start of a node's span (a parameter's name within `x: f32[N]`). */
export const nameSpan = (s: Span, name: string): Span => ({ ...s, end: s.start + name.length });

const leafMemo = new WeakMap<object, number>();

/** The tensors of a type with its tuples and struct type arguments expanded (shared parts counted
 *  each time they occur), in time linear in the type's distinct nodes. */
export function typeLeaves(t: Type | TArg): number {
  if (t.k === 'dim' || t.k === 'ctor') return 0;
  if (t.k === 'type') return typeLeaves(t.t);
  const hit = leafMemo.get(t);
  if (hit !== undefined) return hit;
  let n: number;
  switch (t.k) {
    case 'tensor':
    case 'fn':
    case 'error':
      n = 1;
      break;
    case 'tuple':
      n = t.elems.reduce((a, e) => a + typeLeaves(e), 0);
      break;
    case 'array':
      n = typeLeaves(t.elem);
      break;
    case 'struct':
      n = 1 + t.args.reduce((a, e) => a + typeLeaves(e), 0);
      break;
  }
  leafMemo.set(t, n);
  return n;
}
