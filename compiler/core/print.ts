// Core IR printer: one `let` per equation, nested bodies indented. Stable output for golden tests.
import { typeStr, type Atom, type Eqn, type Func } from '../../runtime/core/ir.ts';

function atomStr(a: Atom): string {
  if (a.kind === 'lit') {
    const v =
      Number.isInteger(a.value) && a.type.dtype !== 'f32' && a.type.dtype !== 'f16'
        ? String(a.value)
        : formatFloat(a.value);
    return `${v}:${a.type.dtype}`;
  }
  return `%${a.hint ? a.hint + '.' : ''}${a.id}`;
}

function formatFloat(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  const s = String(v);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

function paramStr(k: string, v: unknown, indent: string): string {
  if (v && typeof v === 'object' && 'eqns' in (v as object)) return `${k}=${printFunc(v as Func, indent + '  ')}`;
  if (Array.isArray(v) && v.length > 16 && typeof v[0] === 'number')
    return `${k}=[${v.slice(0, 8).join(', ')}, … ${v.length} values]`;
  return `${k}=${JSON.stringify(v)}`;
}

export function eqnStr(e: Eqn, indent = ''): string {
  const outs = e.outs.map((o) => `${atomStr(o)}: ${typeStr(o.type)}`).join(', ');
  const ps = Object.entries(e.params as Record<string, unknown>);
  const params = ps.length ? `{${ps.map(([k, v]) => paramStr(k, v, indent)).join(', ')}}` : '';
  return `${indent}let ${outs} = ${e.prim}(${e.args.map(atomStr).join(', ')})${params}`;
}

export function printFunc(f: Func, indent = ''): string {
  const ps = f.params.map((p) => `${atomStr(p)}: ${typeStr(p.type)}`).join(', ');
  const body = f.eqns.map((e) => eqnStr(e, indent + '  '));
  return [`(${ps}) {`, ...body, `${indent}  return ${f.results.map(atomStr).join(', ')}`, `${indent}}`].join('\n');
}
