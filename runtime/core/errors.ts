// Errors shared by the runtime and the compiler: source files, spans, user errors, internal errors and
// their rendering (file:line:col, the line, a caret). Data-file loaders report through UserError too.
export interface SourceFile {
  path: string; // as shown to the user
  text: string;
  lineStarts?: number[];
}

export interface Span {
  file: SourceFile;
  start: number; // offset, inclusive
  end: number; // offset, exclusive
}

export interface Note {
  span?: Span;
  message: string;
}

export interface Diagnostic {
  severity: 'error' | 'warning';
  message: string;
  span?: Span;
  hint?: string;
  notes: Note[];
}

/** A user-facing error: thrown inside the compiler, caught at stage boundaries and reported. */
export class UserError extends Error {
  readonly diag: Diagnostic;
  constructor(message: string, span?: Span, hint?: string, notes: Note[] = []) {
    super(message);
    this.diag = { severity: 'error', message, span, hint, notes };
  }
}

/** A program needs more memory than its backend can have (bytes needed, the backend's limit). */
export class MemoryLimitError extends UserError {
  constructor(
    message: string,
    readonly needed: number,
    readonly limit: number,
    hint?: string,
  ) {
    super(message, undefined, hint);
  }
}

/** The user stopped a long run (Ctrl-C): reported in one line, exit status 130 as a shell gives. */
export class Interrupted extends UserError {}

/** An internal invariant failure: a compiler bug, never the user's fault. */
export class InternalError extends Error {
  constructor(message: string) {
    super(`internal: ${message}`);
  }
}

export function lineStarts(f: SourceFile): number[] {
  if (!f.lineStarts) {
    const ls = [0];
    for (let i = 0; i < f.text.length; i++) if (f.text.charCodeAt(i) === 10) ls.push(i + 1);
    f.lineStarts = ls;
  }
  return f.lineStarts;
}

/** 1-based line and column of an offset. */
export function lineCol(f: SourceFile, offset: number): { line: number; col: number } {
  const ls = lineStarts(f);
  let lo = 0;
  let hi = ls.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ls[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, col: offset - ls[lo]! + 1 };
}

export function spanLocation(s: Span): string {
  const { line, col } = lineCol(s.file, s.start);
  return `${s.file.path}:${line}:${col}`;
}

/** A byte count for messages: 37.3 GiB, 4.0 MiB, 812 B. */
export function formatBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

/** Text from a user's file with its control characters (C0 and DEL) shown as their Unicode
 *  pictures (␀, ␊ …): a message stays one line and no raw byte of the file reaches a terminal. */
export function controlPictures(s: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) =>
    String.fromCharCode(c === '\u007f' ? 0x2421 : 0x2400 + c.charCodeAt(0)),
  );
}

/** Text from a file (a tokenizer's pieces, generated text) made safe for a terminal: newlines and
 *  tabs kept, every other C0 control and DEL shown as its picture (ESC as ␛), C1 controls (which
 *  some terminals also obey: U+009B is a CSI) as `\u009b`, so no escape sequence from a file can
 *  move the cursor, recolour, retitle or clear the user's terminal. */
export function terminalText(s: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => {
    const n = c.charCodeAt(0);
    if (n >= 0x80) return `\\u00${n.toString(16)}`;
    return String.fromCharCode(n === 0x7f ? 0x2421 : 0x2400 + n);
  });
}

/** The widest source excerpt a snippet shows: a longer line is cut to a window around the caret. */
const SNIPPET_WIDTH = 100;

function renderSnippet(s: Span): string {
  const { line, col } = lineCol(s.file, s.start);
  const ls = lineStarts(s.file);
  const lineStart = ls[line - 1]!;
  let lineEnd = s.file.text.indexOf('\n', lineStart);
  if (lineEnd < 0) lineEnd = s.file.text.length;
  // control characters shown as their pictures (␀, ␁ …): a source's raw bytes never reach the terminal
  let text = controlPictures(s.file.text.slice(lineStart, lineEnd).replace(/\r$/, '').replace(/\t/g, ' '));
  let caret = col - 1;
  let width = Math.max(1, Math.min(s.end, lineEnd) - s.start);
  if (text.length > SNIPPET_WIDTH) {
    const from = Math.max(0, Math.min(caret - SNIPPET_WIDTH / 2, text.length - SNIPPET_WIDTH));
    const head = from > 0 ? '…' : '';
    const tail = from + SNIPPET_WIDTH < text.length ? '…' : '';
    text = head + text.slice(from, from + SNIPPET_WIDTH) + tail;
    caret = caret - from + head.length;
    width = Math.max(1, Math.min(width, SNIPPET_WIDTH + head.length - caret));
  }
  const num = String(line);
  const pad = ' '.repeat(num.length);
  return `${num} | ${text}\n${pad} | ${' '.repeat(caret)}${'^'.repeat(width)}`;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.span ? `${spanLocation(d.span)}: ` : '';
  const out = [`${where}${d.severity}: ${d.message}`];
  if (d.span) out.push(renderSnippet(d.span));
  for (const n of d.notes) {
    out.push(n.span ? `${spanLocation(n.span)}: note: ${n.message}` : `note: ${n.message}`);
    if (n.span) out.push(renderSnippet(n.span));
  }
  if (d.hint) out.push(`hint: ${d.hint}`);
  return out.join('\n');
}

/** A diagnostic as plain data for tools (`obtc check --json`): 1-based lines and columns, the span's
 *  end, the hint and the notes. */
export interface DiagnosticJson {
  severity: 'error' | 'warning';
  message: string;
  file?: string;
  line?: number;
  column?: number;
  endLine?: number;
  endColumn?: number;
  hint?: string;
  notes: { message: string; file?: string; line?: number; column?: number }[];
}

function where(s: Span | undefined): { file?: string; line?: number; column?: number } {
  if (!s) return {};
  const { line, col } = lineCol(s.file, s.start);
  return { file: s.file.path, line, column: col };
}

export function diagnosticJson(d: Diagnostic): DiagnosticJson {
  const end = d.span ? lineCol(d.span.file, d.span.end) : undefined;
  return {
    severity: d.severity,
    message: d.message,
    ...where(d.span),
    ...(end ? { endLine: end.line, endColumn: end.col } : {}),
    ...(d.hint ? { hint: d.hint } : {}),
    notes: d.notes.map((n) => ({ message: n.message, ...where(n.span) })),
  };
}
