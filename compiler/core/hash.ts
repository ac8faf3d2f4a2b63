// Structural hash of Core IR: equal up to variable renaming gives equal hashes (FNV-1a over a
// canonical serialisation that numbers variables by first appearance).
import type { Atom, Func } from '../../runtime/core/ir.ts';

function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export function canonical(f: Func, names: Map<number, number> = new Map()): string {
  const name = (id: number) => {
    if (!names.has(id)) names.set(id, names.size);
    return names.get(id)!;
  };
  const atom = (a: Atom) =>
    a.kind === 'lit' ? `#${a.value}:${a.type.dtype}` : `v${name(a.id)}:${a.type.dtype}[${a.type.shape}]`;
  const parts: string[] = [`(${f.params.map(atom).join(',')})`];
  for (const e of f.eqns) {
    const ps = Object.entries(e.params as Record<string, unknown>)
      .map(([k, v]) =>
        v && typeof v === 'object' && 'eqns' in (v as object)
          ? `${k}=${canonical(v as Func, names)}`
          : `${k}=${JSON.stringify(v)}`,
      )
      .join(';');
    parts.push(`${e.outs.map(atom).join(',')}=${e.prim}(${e.args.map(atom).join(',')}){${ps}}`);
  }
  parts.push(`ret(${f.results.map(atom).join(',')})`);
  return parts.join('\n');
}

export function hashFunc(f: Func): string {
  return fnv1a(canonical(f));
}
