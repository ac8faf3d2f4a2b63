// obtc lsp: the language server for .obt files, over stdio (JSON-RPC with Content-Length headers, by
// Microsoft's vscode-languageserver; frames checked first by cli/lsp_framing.ts). This thread keeps
// the message loop: it holds the open documents (incremental sync), checks every message's params
// (a malformed one is an InvalidParams error or a dropped notification, never a stack trace), and
// passes texts — debounced: a burst of edits is one analysis — and requests to the analysis thread
// (cli/lsp_worker.ts), which re-analyses a changed document and its importers only and publishes
// diagnostics; hover gives the type and shape under the cursor, definition the declaration
// (across modules), completion the names in scope and the stdlib's modules after `import`. An
// analysis that outlives ANALYSIS_BUDGET_MS is stopped (the thread is replaced) and its document
// gets one diagnostic saying so.
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import {
  createConnection,
  ErrorCodes,
  ProposedFeatures,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  TextDocumentSyncKind,
  type Connection,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { FrameGuard } from './lsp_framing.ts';
import type { FromWorker, LspDiagnostic, ToWorker } from './lsp_worker.ts';
import type { Command } from './flags.ts';

/** Quiet time after an edit before its document is analysed. */
const DEBOUNCE_MS = 150;
/** The longest one analysis may take before it is stopped (OBT_LSP_BUDGET_MS overrides it: tests). */
const ANALYSIS_BUDGET_MS = Number(process.env.OBT_LSP_BUDGET_MS) > 0 ? Number(process.env.OBT_LSP_BUDGET_MS) : 8000;
/** The largest document text accepted (the language's own limit is 256 KiB). */
const MAX_TEXT = 4 << 20;

const Pos = z.object({
  line: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31),
  character: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31),
});
const Range = z.object({ start: Pos, end: Pos });
const Doc = z.object({ uri: z.string().max(4096) });
const PositionParams = z.object({ textDocument: Doc, position: Pos });
const DidOpen = z.object({ textDocument: Doc.extend({ version: z.number().int(), text: z.string().max(MAX_TEXT) }) });
const DidChange = z.object({
  textDocument: Doc.extend({ version: z.number().int() }),
  contentChanges: z
    .array(
      z.union([
        z.object({ range: Range, text: z.string().max(MAX_TEXT) }),
        z.object({ text: z.string().max(MAX_TEXT) }),
      ]),
    )
    .max(1 << 16),
});
const DidClose = z.object({ textDocument: Doc });

/** The params, or why they are not what the method takes (one line). */
function check<T>(schema: z.ZodType<T>, params: unknown, method: string): T | string {
  const r = schema.safeParse(params);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  return `${method}: params${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`;
}

/** The analysis thread, replaced when an analysis outlives its budget or the thread dies. */
class AnalysisThread {
  private worker!: Worker;
  private next = 0;
  private readonly pending = new Map<number, { msg: ToWorker; done: (r: unknown) => void }>();
  private watchdog?: NodeJS.Timeout;
  private closing = false;
  /** deaths of the thread since it last finished an analysis */
  private deaths = 0;

  constructor(
    private readonly conn: Connection,
    /** the open documents' texts, re-sent to a replacement thread */
    private readonly texts: () => Map<string, string>,
  ) {
    this.start();
  }

  private start(skip?: string): void {
    const tsx = import.meta.url.endsWith('.ts');
    const w = new Worker(new URL('./lsp_thread.js', import.meta.url), { workerData: { tsx } });
    this.worker = w;
    w.on('message', (m: FromWorker) => this.on(m));
    w.on('error', (e) => process.stderr.write(`obtc lsp: the analysis thread failed: ${e.message}\n`));
    w.on('exit', () => {
      if (this.worker !== w || this.closing) return;
      // died: a new one takes over — unless it keeps dying before finishing anything
      if (++this.deaths > 3) {
        process.stderr.write('obtc lsp: the analysis thread keeps failing; analysis is off\n');
        for (const p of this.pending.values()) p.done(null);
        this.pending.clear();
        this.closing = true;
        return;
      }
      this.restart();
    });
    if (skip) this.post({ t: 'skip', uri: skip });
    for (const [uri, text] of this.texts()) if (uri !== skip) this.post({ t: 'text', uri, text });
    for (const p of this.pending.values()) this.post(p.msg);
  }

  private restart(skip?: string): void {
    clearTimeout(this.watchdog);
    const old = this.worker;
    this.worker = undefined as unknown as Worker; // its exit is not a death to recover from
    void old.terminate();
    this.start(skip);
  }

  private on(m: FromWorker): void {
    if (m.t === 'diagnostics') void this.conn.sendDiagnostics({ uri: m.uri, diagnostics: m.diagnostics });
    else if (m.t === 'res') {
      this.pending.get(m.id)?.done(m.result);
      this.pending.delete(m.id);
    } else if (m.t === 'start') {
      clearTimeout(this.watchdog);
      this.watchdog = setTimeout(() => this.overBudget(m.uri), ANALYSIS_BUDGET_MS);
    } else {
      clearTimeout(this.watchdog);
      this.deaths = 0;
    }
  }

  /** One analysis outlived the budget: the thread is replaced, the document told why. */
  private overBudget(uri: string): void {
    const d: LspDiagnostic = {
      range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
      severity: 1,
      source: 'obt',
      message: `analysis stopped: this document took more than ${ANALYSIS_BUDGET_MS / 1000} s to check (the language server's budget for one analysis); \`obtc check\` gives its diagnostics`,
      relatedInformation: [],
    };
    void this.conn.sendDiagnostics({ uri, diagnostics: [d] });
    this.restart(uri);
  }

  post(m: ToWorker): void {
    if (!this.closing) this.worker.postMessage(m);
  }

  request(kind: 'hover' | 'definition' | 'completion', uri: string, offset: number): Promise<unknown> {
    const msg: ToWorker = { t: 'req', id: ++this.next, kind, uri, offset };
    if (this.closing) return Promise.resolve(kind === 'completion' ? [] : null);
    return new Promise((done) => {
      this.pending.set(msg.id, { msg, done });
      this.post(msg);
    });
  }

  close(): Promise<number> {
    this.closing = true;
    clearTimeout(this.watchdog);
    return this.worker.terminate();
  }
}

/** Runs the server on the given streams until the client says exit. */
export function startServer(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<void> {
  const guard = new FrameGuard((line) => process.stderr.write(line + '\n'));
  input.pipe(guard);
  const conn = createConnection(ProposedFeatures.all, new StreamMessageReader(guard), new StreamMessageWriter(output));
  const docs = new Map<string, TextDocument>();
  const timers = new Map<string, NodeJS.Timeout>();
  const thread = new AnalysisThread(conn, () => new Map([...docs].map(([u, d]) => [u, d.getText()])));
  const warn = (why: string): void => void process.stderr.write(`obtc lsp: ignored: ${why}\n`);

  /** Sends a document's text now (a request needs it current). */
  const flush = (uri: string) => {
    const t = timers.get(uri);
    if (!t) return;
    clearTimeout(t);
    timers.delete(uri);
    const d = docs.get(uri);
    if (d) thread.post({ t: 'text', uri, text: d.getText() });
  };
  const changed = (uri: string, now = false) => {
    clearTimeout(timers.get(uri));
    timers.set(
      uri,
      setTimeout(() => flush(uri), now ? 0 : DEBOUNCE_MS),
    );
  };

  conn.onInitialize(() => ({
    capabilities: {
      textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
      hoverProvider: true,
      definitionProvider: true,
      completionProvider: { triggerCharacters: ['.'] },
    },
    serverInfo: { name: 'obtc lsp' },
  }));
  conn.onDidOpenTextDocument((raw) => {
    const p = check(DidOpen, raw, 'textDocument/didOpen');
    if (typeof p === 'string') return warn(p);
    const { uri, version, text } = p.textDocument;
    docs.set(uri, TextDocument.create(uri, 'obt', version, text));
    changed(uri, true);
  });
  conn.onDidChangeTextDocument((raw) => {
    const p = check(DidChange, raw, 'textDocument/didChange');
    if (typeof p === 'string') return warn(p);
    const d = docs.get(p.textDocument.uri);
    if (!d) return warn(`textDocument/didChange: ${p.textDocument.uri} is not open`);
    const next = TextDocument.update(d, p.contentChanges, p.textDocument.version);
    if (next.getText().length > MAX_TEXT) return warn(`textDocument/didChange: over ${MAX_TEXT} characters`);
    docs.set(d.uri, next);
    changed(d.uri);
  });
  conn.onDidCloseTextDocument((raw) => {
    const p = check(DidClose, raw, 'textDocument/didClose');
    if (typeof p === 'string') return warn(p);
    const uri = p.textDocument.uri;
    clearTimeout(timers.get(uri));
    timers.delete(uri);
    if (docs.delete(uri)) thread.post({ t: 'close', uri });
  });

  /** A request at a position of an open document: answered by the analysis thread. */
  const at =
    (kind: 'hover' | 'definition' | 'completion', method: string) =>
    async (raw: unknown): Promise<unknown> => {
      const p = check(PositionParams, raw, method);
      if (typeof p === 'string') throw new ResponseError(ErrorCodes.InvalidParams, p);
      const d = docs.get(p.textDocument.uri);
      if (!d) return kind === 'completion' ? [] : null;
      flush(d.uri);
      return thread.request(kind, d.uri, d.offsetAt(p.position));
    };
  // registered by method name: the typed helpers (onHover, …) read params.workDoneToken before a
  // handler could check them, so `params: null` failed inside the library
  conn.onRequest('textDocument/hover', at('hover', 'textDocument/hover'));
  conn.onRequest('textDocument/definition', at('definition', 'textDocument/definition'));
  conn.onRequest('textDocument/completion', at('completion', 'textDocument/completion'));
  conn.onShutdown(() => thread.close().then(() => undefined));

  return new Promise((done) => {
    conn.onExit(() => {
      void thread.close();
      done();
    });
    input.on('end', () => {
      void thread.close();
      done();
    });
    conn.listen();
  });
}

/** obtc lsp [--stdio] */
export const lspCmd: Command = async () => {
  await startServer(process.stdin, process.stdout);
  return 0;
};
