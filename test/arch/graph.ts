// The project's import graph, read with TypeScript's own pre-processor (static imports, re-exports,
// dynamic imports; `import type` included: a layer may not even name another's types), for the
// layering tests. Paths are relative to the repository root.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export const ROOT = resolve(import.meta.dirname, '../..');
const SKIP = new Set(['node_modules', '.git', 'out', '.obt-cache', 'test-results', 'dist']);

export function sourceFiles(dir = ROOT): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|js|mjs)$/.test(e.name)) out.push(relative(ROOT, p));
  }
  return out.sort();
}

/** Each file's relative imports (resolved to root-relative paths) and its package imports. */
export function importGraph(files = sourceFiles()): Map<string, { local: string[]; packages: string[] }> {
  const g = new Map<string, { local: string[]; packages: string[] }>();
  for (const f of files) {
    const info = ts.preProcessFile(readFileSync(join(ROOT, f), 'utf8'), true, true);
    const local: string[] = [];
    const packages: string[] = [];
    for (const { fileName } of info.importedFiles) {
      if (fileName.startsWith('.')) local.push(relative(ROOT, resolve(ROOT, dirname(f), fileName)));
      else packages.push(fileName);
    }
    g.set(f, { local, packages });
  }
  return g;
}

/** The files a file reaches through value imports (what a bundler would include). */
export function closure(entry: string, valueOnly = true): Set<string> {
  const seen = new Set<string>();
  const visit = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    const text = readFileSync(join(ROOT, f), 'utf8');
    const sf = ts.createSourceFile(f, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
    for (const st of sf.statements) {
      let spec: string | undefined;
      if (ts.isImportDeclaration(st) && !(valueOnly && st.importClause?.isTypeOnly))
        spec = (st.moduleSpecifier as ts.StringLiteral).text;
      if (ts.isExportDeclaration(st) && st.moduleSpecifier && !(valueOnly && st.isTypeOnly))
        spec = (st.moduleSpecifier as ts.StringLiteral).text;
      if (spec?.startsWith('.')) visit(relative(ROOT, resolve(ROOT, dirname(f), spec)));
      else if (spec) seen.add(spec);
    }
  };
  visit(entry);
  return seen;
}

/** Strongly connected components of a graph with more than one node (Tarjan). */
export function cycles(edges: Map<string, Set<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of edges.keys()) if (!idx.has(v)) strong(v);
  return out;
}
