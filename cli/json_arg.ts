// obtc run's argument reader: JSON (plus bare nan, inf, -inf as results print them) read in bounded
// memory and depth. A rectangular array of numbers — however deeply nested — is read straight into
// one Float64Array (a DenseHost: shape and row-major data), never into JS arrays, so a 20 MB
// argument file costs about its size again, not 30 times it (JSON.parse's nested arrays). Nesting
// is limited (MAX_ARG_DEPTH), a number that overflows a double (1e400) is an error, not `inf`.
// Hand-written: JSON.parse cannot do the first two, and no maintained streaming JSON reader here
// produces typed arrays.
import { UserError } from '../compiler/syntax/diag.ts';
import { DenseHost } from '../runtime/core/tensor.ts';
import { controlPictures } from '../runtime/core/errors.ts';
import type { HostValue } from '../compiler/api.ts';

/** The deepest an argument may nest (arrays and objects). */
export const MAX_ARG_DEPTH = 64;

type Parsed = HostValue | null | string;

/** Reads one argument's text; `i` is its index (errors say "argument i+1"). */
export function parseArgText(text: string, i: number): HostValue {
  const p = new Reader(text, i);
  p.ws();
  const v = p.host(p.value(0));
  p.ws();
  if (p.pos < text.length) p.fail('more text after the value');
  return v;
}

/** A growable buffer of doubles: every number of a dense array lands here, in order. */
class Doubles {
  data = new Float64Array(1024);
  n = 0;
  push(x: number): void {
    if (this.n === this.data.length) {
      const d = new Float64Array(this.data.length * 2);
      d.set(this.data);
      this.data = d;
    }
    this.data[this.n++] = x;
  }
}

/** A dense run of `buf`: its first element and its shape. */
interface Run {
  start: number;
  shape: number[];
  special: boolean;
  bools: boolean;
  nums: boolean;
}

const WORDS = [
  ['true', true],
  ['false', false],
  ['null', null],
  ['nan', 'nan'],
  ['inf', 'inf'],
  ['-inf', '-inf'],
] as const;

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

class Reader {
  pos = 0;
  private readonly buf = new Doubles();
  constructor(
    readonly text: string,
    readonly index: number,
  ) {}

  /** A syntax error (or, `syntax` false, a value out of range) at the current character. */
  fail(what: string, syntax = true): never {
    const at = this.text.slice(this.pos, this.pos + 30);
    throw new UserError(
      `argument ${this.index + 1}${syntax ? ' is not a JSON literal' : ''}: ${what} at character ${this.pos + 1}${at ? ` (${controlPictures(at)}…)` : ''}`,
    );
  }

  ws(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++;
      else break;
    }
  }

  /** A value; arrays of numbers come back as a Run (turned into a DenseHost by the caller). */
  value(depth: number): Parsed | Run {
    if (depth > MAX_ARG_DEPTH) this.fail(`it nests deeper than ${MAX_ARG_DEPTH} levels`, false);
    const t = this.text;
    const c = t.charCodeAt(this.pos);
    if (c === 91 /* [ */) return this.array(depth);
    if (c === 123 /* { */) return this.object(depth);
    if (c === 34 /* " */) return this.string();
    if ((c >= 48 && c <= 57) || (c === 45 /* - */ && t.charCodeAt(this.pos + 1) !== 105)) return this.number();
    for (const [word, v] of WORDS)
      if (t.startsWith(word, this.pos) && !/[\w.]/.test(t[this.pos + word.length] ?? '')) {
        this.pos += word.length;
        return v;
      }
    return this.fail(c !== c ? 'the text ends where a value should be' : 'expected a value');
  }

  private number(): number {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (!m) this.fail('expected a number');
    const x = Number(m[0]);
    if (!Number.isFinite(x))
      this.fail(`${m[0].slice(0, 40)} is out of range for a number (write inf or -inf for an infinity)`, false);
    this.pos += m[0].length;
    return x;
  }

  private string(): string {
    const t = this.text;
    // eslint-disable-next-line no-control-regex -- JSON strings exclude control characters
    const end = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
    end.lastIndex = this.pos;
    const m = end.exec(t);
    if (!m) this.fail('an unterminated or invalid string');
    this.pos += m[0].length;
    return JSON.parse(m[0]) as string;
  }

  private object(depth: number): HostValue {
    this.pos++;
    const out: Record<string, HostValue> = {};
    this.ws();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text[this.pos] !== '"') this.fail('expected a field name in quotes');
      const k = this.string();
      this.ws();
      if (this.text[this.pos] !== ':') this.fail('expected :');
      this.pos++;
      this.ws();
      out[k] = this.host(this.value(depth + 1));
      this.ws();
      const c = this.text[this.pos++];
      if (c === '}') return out;
      if (c !== ',') this.fail('expected , or }');
    }
  }

  /** An array: a Run when every element is a number (or nan/inf/true/false) or a Run of one shape
   *  (its elements then lie contiguously in the buffer), read without keeping its elements; else
   *  (read again) a JS array of host values. */
  private array(depth: number): Parsed | Run {
    const pos0 = this.pos;
    const start = this.buf.n;
    const dense = this.denseArray(depth, start);
    if (dense) return dense;
    this.buf.n = start;
    this.pos = pos0 + 1;
    const items: HostValue[] = [];
    this.ws();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return items;
    }
    for (;;) {
      this.ws();
      items.push(this.host(this.value(depth + 1)));
      this.ws();
      const c = this.text[this.pos++];
      if (c === ']') return items;
      if (c !== ',') this.fail('expected , or ]');
    }
  }

  /** The array at pos as a dense Run, or undefined as soon as it is not one. */
  private denseArray(depth: number, start: number): Run | undefined {
    this.pos++;
    const run: Run = { start, shape: [0], special: false, bools: false, nums: false };
    this.ws();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return run;
    }
    let inner: number[] | undefined; // the rows' shape, when the elements are arrays
    let n = 0;
    for (; ; n++) {
      this.ws();
      const v = this.value(depth + 1);
      if (typeof v === 'number' || typeof v === 'boolean' || v === 'nan' || v === 'inf' || v === '-inf') {
        if (inner) return undefined;
        if (typeof v === 'number') {
          this.buf.push(v);
          run.nums = true;
        } else if (typeof v === 'boolean') {
          this.buf.push(v ? 1 : 0);
          run.bools = true;
        } else {
          this.buf.push(v === 'nan' ? NaN : v === 'inf' ? Infinity : -Infinity);
          run.special = true;
        }
      } else if (isRun(v)) {
        if (n === 0) inner = v.shape;
        else if (!inner || v.shape.length !== inner.length || v.shape.some((d, i) => d !== inner![i])) return undefined;
        run.special ||= v.special;
        run.bools ||= v.bools;
        run.nums ||= v.nums;
      } else return undefined;
      this.ws();
      const c = this.text[this.pos++];
      if (c === ']') break;
      if (c !== ',') this.fail('expected , or ]');
    }
    run.shape = [n + 1, ...(inner ?? [])];
    return run;
  }

  /** A parsed value as a host value (a Run becomes a DenseHost over its part of the buffer). */
  host(v: Parsed | Run): HostValue {
    if (!isRun(v)) return v as HostValue;
    const n = v.shape.reduce((a, b) => a * b, 1);
    return new DenseHost(v.shape, this.buf.data.slice(v.start, v.start + n), v.special, v.bools && !v.nums);
  }
}

function isRun(v: unknown): v is Run {
  return !!v && typeof v === 'object' && 'start' in v && 'shape' in v && !(v instanceof DenseHost);
}
