// A JSON-RPC client of `obtc lsp` over its stdio (Content-Length framing), as an editor drives it:
// requests with ids, notifications kept in order, the next publishDiagnostics of a document.
import type { ChildProcess } from 'node:child_process';

export interface Message {
  id?: number;
  method?: string;
  params?: { uri: string; diagnostics: { range: Range; message: string; severity: number }[] };
  result?: unknown;
  error?: unknown;
}
export interface Range {
  start: { line: number; character: number };
  end: { line: number; character: number };
}

/** A JSON-RPC client over the server's stdin/stdout (Content-Length framing). */
export class Client {
  private buf = Buffer.alloc(0);
  private next = 0;
  private readonly waiting = new Map<number, (m: Message) => void>();
  readonly notes: Message[] = [];
  private noteWaiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;

  constructor(readonly proc: ChildProcess) {
    proc.stdout!.on('data', (d: Buffer) => this.data(d));
    this.exited = new Promise((ok) => proc.on('exit', (code) => ok(code)));
  }

  private data(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const sep = this.buf.indexOf('\r\n\r\n');
      if (sep < 0) return;
      const len = Number(/Content-Length: (\d+)/i.exec(this.buf.subarray(0, sep).toString())![1]);
      if (this.buf.length < sep + 4 + len) return;
      const m = JSON.parse(this.buf.subarray(sep + 4, sep + 4 + len).toString()) as Message;
      this.buf = this.buf.subarray(sep + 4 + len);
      if (m.id !== undefined && this.waiting.has(m.id)) {
        this.waiting.get(m.id)!(m);
        this.waiting.delete(m.id);
      } else {
        this.notes.push(m);
        for (const w of this.noteWaiters.splice(0)) w();
      }
    }
  }

  /** Bytes as they are, framing included (hostile input). */
  raw(bytes: string | Buffer): void {
    this.proc.stdin!.write(bytes);
  }

  send(m: object): void {
    const s = JSON.stringify({ jsonrpc: '2.0', ...m });
    this.proc.stdin!.write(`Content-Length: ${Buffer.byteLength(s)}\r\n\r\n${s}`);
  }

  async request<T>(method: string, params?: unknown): Promise<T> {
    const id = ++this.next;
    const r = await new Promise<Message>((ok) => {
      this.waiting.set(id, ok);
      this.send({ id, method, params });
    });
    if (r.error) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
    return r.result as T;
  }

  /** The next publishDiagnostics for uri after the notes seen so far. */
  async diagnostics(uri: string): Promise<NonNullable<Message['params']>['diagnostics']> {
    const from = this.notes.length;
    for (;;) {
      const hit = this.notes
        .slice(from)
        .find((n) => n.method === 'textDocument/publishDiagnostics' && n.params?.uri === uri);
      if (hit) return hit.params!.diagnostics;
      await new Promise<void>((ok) => this.noteWaiters.push(ok));
    }
  }
}
