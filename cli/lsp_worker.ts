// The language server's analysis side, in a worker thread (cli/lsp.ts keeps the message loop): the
// open documents' texts, their analyses (compiler/ide.ts) and what each imports. A changed document
// and the open documents that import it are re-analysed, one per turn of this thread's event loop,
// so a request (hover, definition, completion) is answered between two analyses — its own document
// first when it is stale. The main thread stops this worker when one analysis outlives its budget.
import { parentPort } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { existsSync, readFileSync } from 'node:fs';
import { analyze, type Analysis } from '../compiler/ide.ts';
import { lineCol, type Diagnostic, type Span } from '../compiler/syntax/diag.ts';

/** What the main thread sends. */
export type ToWorker =
  | { t: 'text'; uri: string; text: string }
  | { t: 'close'; uri: string }
  /** a document whose analysis outlived the budget: not analysed again until its text changes */
  | { t: 'skip'; uri: string }
  | { t: 'req'; id: number; kind: 'hover' | 'definition' | 'completion'; uri: string; offset: number };

/** What the worker sends back. */
export type FromWorker =
  | { t: 'start'; uri: string }
  | { t: 'done'; uri: string }
  | { t: 'diagnostics'; uri: string; diagnostics: LspDiagnostic[] }
  | { t: 'res'; id: number; result: unknown };

export interface LspRange {
  start: { line: number; character: number };
  end: { line: number; character: number };
}
export interface LspDiagnostic {
  range: LspRange;
  severity: 1 | 2;
  source: 'obt';
  message: string;
  relatedInformation: { location: { uri: string; range: LspRange }; message: string }[];
}

const toPath = (uri: string): string => (uri.startsWith('file:') ? fileURLToPath(uri) : uri);
const toUri = (path: string): string =>
  path.startsWith('/') || /^[A-Za-z]:/.test(path) ? pathToFileURL(path).href : path;

/** A span as an LSP range (0-based lines, UTF-16 columns, as both sides count). */
export function range(s: Span): LspRange {
  const a = lineCol(s.file, s.start);
  const b = lineCol(s.file, Math.max(s.end, s.start));
  return { start: { line: a.line - 1, character: a.col - 1 }, end: { line: b.line - 1, character: b.col - 1 } };
}

const ZERO: LspRange = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

function lspDiagnostic(d: Diagnostic, a: Analysis): LspDiagnostic {
  return {
    range: d.span ? range(d.span) : ZERO,
    severity: d.severity === 'error' ? 1 : 2,
    source: 'obt',
    message: d.hint ? `${d.message}\nhint: ${d.hint}` : d.message,
    relatedInformation: (d.notes ?? [])
      .filter((n) => n.span)
      .map((n) => ({ location: { uri: toUri(a.pathOf(n.span!.file)), range: range(n.span!) }, message: n.message })),
  };
}

const KINDS = { local: 6, function: 3, builtin: 3, module: 9, struct: 22, keyword: 14, type: 25 } as const;

/** The analysis side's state and scheduling (one per worker; tests may drive one directly). */
export class Analyzer {
  private readonly texts = new Map<string, string>();
  private readonly analyses = new Map<string, { a: Analysis; deps: Set<string> }>();
  /** the files each document's last analysis published diagnostics for */
  private readonly published = new Map<string, Set<string>>();
  /** documents to analyse, oldest change first */
  private readonly dirty = new Set<string>();
  private readonly skipped = new Set<string>();
  private scheduled = false;

  /** Whether analyses are pending (tests drain it). */
  get busy(): boolean {
    return this.dirty.size > 0;
  }

  constructor(private readonly send: (m: FromWorker) => void) {}

  on(m: ToWorker): void {
    switch (m.t) {
      case 'text': {
        this.texts.set(m.uri, m.text);
        this.skipped.delete(m.uri);
        this.markDirty(m.uri);
        break;
      }
      case 'close':
        this.texts.delete(m.uri);
        this.analyses.delete(m.uri);
        this.dirty.delete(m.uri);
        for (const uri of this.published.get(m.uri) ?? []) this.send({ t: 'diagnostics', uri, diagnostics: [] });
        this.published.delete(m.uri);
        // its importers now read it from disk
        this.markDirty(m.uri, false);
        break;
      case 'skip':
        this.skipped.add(m.uri);
        this.dirty.delete(m.uri);
        break;
      case 'req':
        this.send({ t: 'res', id: m.id, result: this.answer(m) });
        break;
    }
    this.schedule();
  }

  /** The document and every open document whose last analysis read it. */
  private markDirty(uri: string, self = true): void {
    if (self && this.texts.has(uri)) this.dirty.add(uri);
    const path = toPath(uri);
    for (const [u, x] of this.analyses) if (u !== uri && x.deps.has(path)) this.dirty.add(u);
  }

  private schedule(): void {
    if (this.scheduled || !this.dirty.size) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const next = this.dirty.values().next();
      if (!next.done) this.refresh(next.value);
      this.schedule();
    });
  }

  private readFile = (path: string): string | undefined => {
    const open = this.texts.get(toUri(path));
    if (open !== undefined) return open;
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  };

  /** Analyses one document and publishes the diagnostics of every file involved. */
  private refresh(uri: string): void {
    this.dirty.delete(uri);
    const text = this.texts.get(uri);
    if (text === undefined || this.skipped.has(uri)) return;
    this.send({ t: 'start', uri });
    const a = analyze(text, { path: toPath(uri), readFile: this.readFile });
    this.send({ t: 'done', uri });
    this.analyses.set(uri, { a, deps: new Set(a.program.modules.keys()) });
    const byFile = new Map<string, LspDiagnostic[]>([[uri, []]]);
    for (const d of a.diagnostics) {
      const u = d.span ? toUri(a.pathOf(d.span.file)) : uri;
      if (!byFile.has(u)) byFile.set(u, []);
      byFile.get(u)!.push(lspDiagnostic(d, a));
    }
    for (const u of this.published.get(uri) ?? []) if (!byFile.has(u)) byFile.set(u, []);
    for (const [u, diagnostics] of byFile) this.send({ t: 'diagnostics', uri: u, diagnostics });
    this.published.set(uri, new Set([...byFile].filter(([, d]) => d.length).map(([u]) => u)));
  }

  private answer(m: Extract<ToWorker, { t: 'req' }>): unknown {
    if (this.dirty.has(m.uri)) this.refresh(m.uri);
    const a = this.analyses.get(m.uri)?.a;
    if (!a) return m.kind === 'completion' ? [] : null;
    const offset = Math.max(0, Math.min(m.offset, this.texts.get(m.uri)?.length ?? 0));
    if (m.kind === 'hover') {
      const h = a.hover(offset);
      return h ? { contents: { kind: 'markdown', value: '```obt\n' + h.text + '\n```' }, range: range(h.span) } : null;
    }
    if (m.kind === 'definition') {
      const s = a.definition(offset);
      return s ? { uri: toUri(a.pathOf(s.file)), range: range(s) } : null;
    }
    return a
      .completions(offset)
      .map((c) => ({ label: c.name, kind: KINDS[c.kind], ...(c.detail ? { detail: c.detail } : {}) }));
  }
}

if (parentPort) {
  const port = parentPort;
  const an = new Analyzer((m) => port.postMessage(m));
  port.on('message', (m: ToWorker) => an.on(m));
}
