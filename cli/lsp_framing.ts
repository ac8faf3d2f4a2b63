// The language server's input, checked frame by frame before the JSON-RPC reader sees it: a frame is
// headers (`Content-Length: N`, optionally `Content-Type`), a blank line and N bytes of JSON. A
// header block that is not that — `Content-Length: -5`, `10^20`, over MAX_FRAME bytes, a block
// of garbage, headers over 8 KiB without an end — or a body that is not JSON is dropped with one
// line on stderr, and reading resynchronises at the next `Content-Length:`; the reader downstream
// only ever sees well-formed frames, so no input can wedge it waiting for bytes that never come.
// (vscode-jsonrpc's own reader trusts the header: it waits for 10^20 bytes.)
import { Transform, type TransformCallback } from 'node:stream';

/** The largest message accepted (a 256 KiB source as JSON, with room to spare). */
export const MAX_FRAME = 16 << 20;
const MAX_HEADERS = 8 << 10;
const CL = Buffer.from('Content-Length:', 'latin1');
const END = Buffer.from('\r\n\r\n', 'latin1');

export class FrameGuard extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  /** frames dropped so far (tests read it) */
  dropped = 0;

  constructor(private readonly warn: (line: string) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.pump();
    done();
  }

  /** Drops what is before the next `Content-Length:` after the current position. */
  private resync(why: string): void {
    this.dropped++;
    this.warn(`obtc lsp: dropped a malformed message (${why}); resynchronising`);
    const next = this.buf.indexOf(CL, 1);
    // none yet: keep the tail that may be the start of one still arriving (found by the fuzzer: a
    // valid frame split after `Cont` was lost)
    this.buf = this.buf.subarray(next >= 0 ? next : Math.max(1, this.buf.length - CL.length + 1));
  }

  private pump(): void {
    for (;;) {
      const end = this.buf.indexOf(END);
      if (end < 0) {
        if (this.buf.length > MAX_HEADERS) this.resync(`no end of headers within ${MAX_HEADERS} bytes`);
        return;
      }
      if (end > MAX_HEADERS) {
        this.resync(`headers over ${MAX_HEADERS} bytes`);
        continue;
      }
      let len: number | undefined;
      let bad: string | undefined;
      for (const line of this.buf.subarray(0, end).toString('latin1').split('\r\n')) {
        const m = /^([A-Za-z-]+):[ \t]*(.*)$/.exec(line);
        if (!m) bad = 'a header line that is not `Name: value`';
        else if (m[1]!.toLowerCase() === 'content-length') {
          if (!/^\d{1,9}$/.test(m[2]!.trim()) || Number(m[2]) > MAX_FRAME)
            bad = `Content-Length ${m[2]!.slice(0, 24)}: expected an integer from 0 to ${MAX_FRAME}`;
          else len = Number(m[2]);
        }
        if (bad) break;
      }
      if (!bad && len === undefined) bad = 'no Content-Length';
      if (bad) {
        this.resync(bad);
        continue;
      }
      const start = end + END.length;
      if (this.buf.length < start + len!) return; // the body is still coming
      const body = this.buf.subarray(start, start + len!);
      this.buf = this.buf.subarray(start + len!);
      try {
        JSON.parse(body.toString('utf8'));
      } catch {
        this.dropped++;
        this.warn('obtc lsp: dropped a message whose body is not JSON');
        continue;
      }
      this.push(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'latin1'), body]));
    }
  }
}
