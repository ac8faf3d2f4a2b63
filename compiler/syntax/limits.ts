// The documented limits on a source file, checked before and after parsing so that no program —
// however hostile — overflows the stack or exhausts memory in a later stage (docs/language.md,
// "Limits"): at most MAX_SOURCE_BYTES (256 KiB) of text, no control characters other than tab, newline and
// carriage return, brackets nested at most MAX_BRACKETS deep, expressions at most MAX_EXPR_DEPTH
// deep. A UTF-8 byte-order mark at the start is allowed (read as a space).
import { UserError, type SourceFile } from './diag.ts';

/** The most characters a source file may have. Parsing costs ~13 µs and ~5 KB of memo tables per
 *  character (measured on a file of small functions): 256 KiB checks in ~4 s and ~1.3 GB; the
 *  largest shipped file is under 5 KB. */
export const MAX_SOURCE_BYTES = 256 << 10;
/** The deepest brackets ( [ { may nest. */
export const MAX_BRACKETS = 32;
/** The deepest an expression tree may be (operator chains included). */
export const MAX_EXPR_DEPTH = 256;

const OPEN = new Set(['(', '[', '{']);
const CLOSE = new Set([')', ']', '}']);

/** The text the parser reads: a leading byte-order mark replaced by a space (spans unchanged). */
export function sourceText(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? ' ' + text.slice(1) : text;
}

/** Size, control characters and bracket nesting, in one pass over the text (strings and comments
 *  skipped for brackets); throws a UserError at the first offence. */
export function checkSource(file: SourceFile, text: string): void {
  if (text.length > MAX_SOURCE_BYTES)
    throw new UserError(
      `this file has ${text.length} characters; a source file may have at most ${MAX_SOURCE_BYTES} (256 KiB)`,
      { file, start: 0, end: 0 },
      'split it into modules that import each other',
    );
  let depth = 0;
  let inString = false;
  let inComment = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 32 && c !== 9 && c !== 10 && c !== 13) || c === 127)
      throw new UserError(`a control character (U+${c.toString(16).toUpperCase().padStart(4, '0')}) in the source`, {
        file,
        start: i,
        end: i + 1,
      });
    const ch = text[i]!;
    if (c === 10) {
      inComment = false;
      inString = false; // a string does not span lines (the grammar reports it)
    } else if (inComment) continue;
    else if (inString) {
      if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '/' && text[i + 1] === '/') inComment = true;
    else if (OPEN.has(ch)) {
      if (++depth > MAX_BRACKETS)
        throw new UserError(
          `brackets nested more than ${MAX_BRACKETS} deep`,
          { file, start: i, end: i + 1 },
          'name the inner parts with `let`',
        );
    } else if (CLOSE.has(ch)) depth = Math.max(0, depth - 1);
  }
}

/** The AST's depth in nodes (objects with a `kind`), walked with an explicit stack; throws when an
 *  expression nests deeper than MAX_EXPR_DEPTH (later stages recurse over expressions). */
export function checkDepth(file: SourceFile, ast: unknown): void {
  const stack: [unknown, number][] = [[ast, 0]];
  while (stack.length) {
    const [v, d0] = stack.pop()!;
    if (!v || typeof v !== 'object') continue;
    const node = typeof (v as { kind?: unknown }).kind === 'string';
    const d = node ? d0 + 1 : d0;
    if (d > MAX_EXPR_DEPTH) {
      const span = (v as { span?: { start: number; end: number } }).span;
      throw new UserError(
        `this expression nests more than ${MAX_EXPR_DEPTH} levels deep`,
        { file, start: span?.start ?? 0, end: span?.end ?? 0 },
        'name the inner parts with `let`',
      );
    }
    for (const [k, e] of Object.entries(v)) if (!SPAN_KEYS.has(k)) stack.push([e, d]);
  }
}

const SPAN_KEYS = new Set(['span', 'opSpan', 'nameSpan', 'file']);
