// obtc lsp: the language server for .obt files, over stdio (JSON-RPC with Content-Length headers,
// by Microsoft's vscode-languageserver). On every open or change it analyses the document with the
// compiler (compiler/ide.ts) — the open documents' unsaved text stands in for their files, so an
// edit to an imported module is seen by its importers — and publishes the diagnostics of every
// file involved; hover gives the type and shape under the cursor, definition the declaration
// (across modules), completion the names in scope and the stdlib's modules after `import`.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { existsSync, readFileSync } from 'node:fs';
import {
  CompletionItemKind,
  createConnection,
  DiagnosticSeverity,
  MarkupKind,
  ProposedFeatures,
  StreamMessageReader,
  StreamMessageWriter,
  TextDocuments,
  TextDocumentSyncKind,
  type Diagnostic as LspDiagnostic,
  type Range,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { analyze, type Analysis, type CompletionKind } from '../compiler/ide.ts';
import { lineCol, type Diagnostic, type Span } from '../compiler/syntax/diag.ts';
import type { Command } from './flags.ts';

const KINDS: Record<CompletionKind, CompletionItemKind> = {
  local: CompletionItemKind.Variable,
  function: CompletionItemKind.Function,
  builtin: CompletionItemKind.Function,
  module: CompletionItemKind.Module,
  struct: CompletionItemKind.Struct,
  keyword: CompletionItemKind.Keyword,
  type: CompletionItemKind.TypeParameter,
};

const toPath = (uri: string) => (uri.startsWith('file:') ? fileURLToPath(uri) : uri);
const toUri = (path: string) => (path.startsWith('/') || /^[A-Za-z]:/.test(path) ? pathToFileURL(path).href : path);

/** A span as an LSP range (0-based lines, UTF-16 columns, as both sides count). */
function range(s: Span): Range {
  const a = lineCol(s.file, s.start);
  const b = lineCol(s.file, Math.max(s.end, s.start));
  return { start: { line: a.line - 1, character: a.col - 1 }, end: { line: b.line - 1, character: b.col - 1 } };
}

function lspDiagnostic(d: Diagnostic, a: Analysis): LspDiagnostic {
  const message = d.hint ? `${d.message}\nhint: ${d.hint}` : d.message;
  return {
    range: d.span ? range(d.span) : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
    severity: d.severity === 'error' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    source: 'obt',
    message,
    relatedInformation: (d.notes ?? [])
      .filter((n) => n.span)
      .map((n) => ({ location: { uri: toUri(a.pathOf(n.span!.file)), range: range(n.span!) }, message: n.message })),
  };
}

/** Runs the server on the given streams until the client says exit. */
export function startServer(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<void> {
  const conn = createConnection(ProposedFeatures.all, new StreamMessageReader(input), new StreamMessageWriter(output));
  const docs = new TextDocuments(TextDocument);
  const analyses = new Map<string, Analysis>();
  /** the files each document's last analysis published diagnostics for */
  const published = new Map<string, Set<string>>();

  const readFile = (path: string): string | undefined => {
    const open = docs.get(toUri(path));
    if (open) return open.getText();
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  };

  const refresh = (doc: TextDocument) => {
    const path = toPath(doc.uri);
    const a = analyze(doc.getText(), { path, readFile });
    analyses.set(doc.uri, a);
    const byFile = new Map<string, LspDiagnostic[]>([[doc.uri, []]]);
    for (const d of a.diagnostics) {
      const uri = d.span ? toUri(a.pathOf(d.span.file)) : doc.uri;
      if (!byFile.has(uri)) byFile.set(uri, []);
      byFile.get(uri)!.push(lspDiagnostic(d, a));
    }
    for (const uri of published.get(doc.uri) ?? []) if (!byFile.has(uri)) byFile.set(uri, []);
    for (const [uri, diagnostics] of byFile) void conn.sendDiagnostics({ uri, diagnostics });
    published.set(doc.uri, new Set([...byFile].filter(([, d]) => d.length).map(([u]) => u)));
  };
  /** documents that import the changed one see its new text */
  const refreshAll = (changed: TextDocument) => {
    refresh(changed);
    for (const d of docs.all()) if (d.uri !== changed.uri) refresh(d);
  };

  conn.onInitialize(() => ({
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      hoverProvider: true,
      definitionProvider: true,
      completionProvider: { triggerCharacters: ['.'] },
    },
    serverInfo: { name: 'obtc lsp' },
  }));
  // (opening a document is its first change)
  docs.onDidChangeContent((e) => refreshAll(e.document));
  docs.onDidClose((e) => {
    analyses.delete(e.document.uri);
    for (const uri of published.get(e.document.uri) ?? []) void conn.sendDiagnostics({ uri, diagnostics: [] });
    published.delete(e.document.uri);
  });

  const at = (uri: string, pos: { line: number; character: number }) => {
    const doc = docs.get(uri);
    const a = analyses.get(uri);
    return doc && a ? { a, offset: doc.offsetAt(pos) } : undefined;
  };
  conn.onHover((p) => {
    const q = at(p.textDocument.uri, p.position);
    const h = q?.a.hover(q.offset);
    return h
      ? { contents: { kind: MarkupKind.Markdown, value: '```obt\n' + h.text + '\n```' }, range: range(h.span) }
      : null;
  });
  conn.onDefinition((p) => {
    const q = at(p.textDocument.uri, p.position);
    const s = q?.a.definition(q.offset);
    return s && q ? { uri: toUri(q.a.pathOf(s.file)), range: range(s) } : null;
  });
  conn.onCompletion((p) => {
    const q = at(p.textDocument.uri, p.position);
    return (q?.a.completions(q.offset) ?? []).map((c) => ({
      label: c.name,
      kind: KINDS[c.kind],
      ...(c.detail ? { detail: c.detail } : {}),
    }));
  });

  docs.listen(conn);
  return new Promise((done) => {
    conn.onExit(() => done());
    conn.listen();
  });
}

/** obtc lsp [--stdio] */
export const lspCmd: Command = async () => {
  await startServer(process.stdin, process.stdout);
  return 0;
};
