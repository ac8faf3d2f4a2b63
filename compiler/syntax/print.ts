// AST printer (`obtc compile --emit ast`): one node per line, indented, with its line:col.
import { lineCol } from './diag.ts';
import type * as A from './ast.ts';

type Node = { kind?: string; span?: A.Module['span'] } & Record<string, unknown>;

export function printModule(m: A.Module): string {
  const out: string[] = [];
  const at = (n: Node) => {
    if (!n.span) return '';
    const { line, col } = lineCol(n.span.file, n.span.start);
    return ` @${line}:${col}`;
  };
  const scalar = (v: unknown): boolean =>
    typeof v === 'string' ||
    typeof v === 'number' ||
    typeof v === 'boolean' ||
    // a list of names (an import's parts) prints inline
    (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' || typeof x === 'number'));
  const walk = (n: unknown, indent: string, label: string): void => {
    if (Array.isArray(n)) {
      if (!n.length) return;
      out.push(`${indent}${label}:`);
      n.forEach((x) => walk(x, indent + '  ', '-'));
      return;
    }
    if (!n || typeof n !== 'object') return;
    const node = n as Node;
    const attrs = Object.entries(node)
      .filter(([k, v]) => k !== 'kind' && k !== 'span' && k !== 'opSpan' && k !== 'nameSpan' && scalar(v))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    out.push(
      `${indent}${label === '-' ? '' : label + ': '}${node.kind ?? 'node'}${attrs.length ? ' ' + attrs.join(' ') : ''}${at(node)}`,
    );
    for (const [k, v] of Object.entries(node))
      if (k !== 'span' && k !== 'opSpan' && k !== 'nameSpan' && !scalar(v)) walk(v, indent + '  ', k);
  };
  out.push(`module ${JSON.stringify(m.file)}`);
  m.items.forEach((it) => walk(it, '  ', '-'));
  return out.join('\n');
}
