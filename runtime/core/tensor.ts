// Host tensors: a dtype, a row-major shape and a typed array (f32 as Float32Array, or Float64Array
// in the interpreter's f64 mode; f16 values are kept rounded to half precision in a float array;
// `sign` is packed 32 per u32 word along the last axis, bit 1 = -1, bit k of word j = column 32j+k).
import type { DType } from './dtype.ts';

export type Storage = Float32Array | Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;

/** The formats an f32 tensor may be stored in (runtime/core/stored.ts): 16-bit floats, Q8_0 blocks. */
export type Stored = 'bf16' | 'f16' | 'q8_0';

export interface Tensor {
  dtype: DType;
  shape: number[];
  data: Storage;
  /** an f32 tensor whose values are kept as these 16-bit words (data a Uint16Array) */
  stored?: Stored;
  /** where its storage's bytes can be read from (a checkpoint file): a backend reads them straight
   *  into its own memory; `data` reads them on the host only when something there asks */
  source?: TensorSource;
}

/** A tensor's storage bytes, readable on demand (f32 words, or its stored 16-bit words). */
export interface TensorSource {
  readonly bytes: number;
  /** fills `into` (exactly `bytes` long) with them */
  read(into: Uint8Array): void;
}

/** An f32 tensor (stored: held in 16-bit words) whose storage is its source's bytes: nothing is
 *  read until `data` is first asked for (then kept); backends read the source into their memory. */
export function sourcedTensor(shape: number[], source: TensorSource, stored?: Stored): Tensor {
  let data: Float32Array | Uint16Array | Uint8Array | undefined;
  const t = { dtype: 'f32', shape, source, ...(stored ? { stored } : {}) } as Tensor;
  Object.defineProperty(t, 'data', {
    enumerable: true,
    get() {
      if (!data) {
        const n = source.bytes;
        data = stored === 'q8_0' ? new Uint8Array(n) : stored ? new Uint16Array(n / 2) : new Float32Array(n / 4);
        source.read(new Uint8Array(data.buffer));
      }
      return data;
    },
  });
  return t;
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export const signWords = (cols: number): number => Math.ceil(cols / 32);

/** Number of storage elements for a logical shape (sign tensors are packed along the last axis). */
export function storageSize(dtype: DType, shape: readonly number[]): number {
  if (dtype === 'sign') {
    if (shape.length === 0) return 1;
    return numel(shape.slice(0, -1)) * signWords(shape[shape.length - 1]!);
  }
  return numel(shape);
}

function allocStorage(dtype: DType, n: number, f64 = false): Storage {
  switch (dtype) {
    case 'f32':
    case 'f16':
      return f64 ? new Float64Array(n) : new Float32Array(n);
    case 'i32':
      return new Int32Array(n);
    case 'u32':
    case 'sign':
      return new Uint32Array(n);
    case 'bool':
      return new Uint8Array(n);
  }
}

export function alloc(dtype: DType, shape: number[], f64 = false): Tensor {
  return { dtype, shape, data: allocStorage(dtype, storageSize(dtype, shape), f64) };
}

const f16buf = new Float32Array(1);
const f16bits = new Uint32Array(f16buf.buffer);
/** Rounds a number to the nearest IEEE half-precision value (ties to even), as a JS number. */
export function roundF16(x: number): number {
  if (!Number.isFinite(x)) return x;
  f16buf[0] = x;
  const b = f16bits[0]!;
  const sign = b >>> 31 ? -1 : 1;
  const ax = Math.abs(f16buf[0]!);
  if (ax >= 65520) return sign * Infinity;
  if (ax < 6.103515625e-5) {
    // subnormal: a multiple of 2^-24
    const q = ax / 5.960464477539063e-8;
    return sign * roundEven(q) * 5.960464477539063e-8;
  }
  const e = Math.floor(Math.log2(ax));
  const ulp = Math.pow(2, e - 10);
  return sign * roundEven(ax / ulp) * ulp;
}

/** Rounds to the nearest integer, ties to even. */
export function roundEven(q: number): number {
  const f = Math.floor(q);
  const r = q - f;
  if (r > 0.5) return f + 1;
  if (r < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Reads the logical value at flat index i of a sign tensor (+1 or -1). */
function signAt(t: Tensor, row: number, col: number): number {
  const cols = t.shape[t.shape.length - 1]!;
  const w = (t.data as Uint32Array)[row * signWords(cols) + (col >>> 5)]!;
  return (w >>> (col & 31)) & 1 ? -1 : 1;
}

/** Packs a float matrix [..., O, I] into the sign layout (x < 0 -> bit 1; 0 and positives -> +1). */
export function packSigns(values: ArrayLike<number>, shape: number[]): Tensor {
  const out = alloc('sign', shape);
  const cols = shape[shape.length - 1] ?? 1;
  const rows = numel(shape.slice(0, -1));
  const words = signWords(cols);
  const d = out.data as Uint32Array;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) if (values[r * cols + c]! < 0) d[r * words + (c >>> 5)]! |= 1 << (c & 31);
  return out;
}

/** A rectangular nested array of numbers held flat (obtc run reads large arguments into one, never
 *  into JS arrays): its shape and row-major elements; `special` when some element was written as
 *  nan or ±inf, `bools` when every element was true or false. */
export class DenseHost {
  constructor(
    readonly shape: number[],
    readonly data: Float64Array,
    readonly special = false,
    readonly bools = false,
  ) {}

  /** Its rows along the first axis (numbers for a 1-d array): a tuple or an array of tensors. */
  rows(): (DenseHost | number)[] {
    const [n = 0, ...rest] = this.shape;
    if (!rest.length) return Array.from(this.data);
    const k = numel(rest);
    return Array.from(
      { length: n },
      (_, i) => new DenseHost(rest, this.data.subarray(i * k, (i + 1) * k), this.special, this.bools),
    );
  }
}

/** Converts nested JS arrays (and DenseHost parts) into a tensor of the given dtype; returns the
 *  inferred shape. */
export function fromNested(value: unknown, dtype: DType, f64 = false): Tensor {
  const shape: number[] = [];
  let v: unknown = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  if (v instanceof DenseHost) shape.push(...v.shape);
  const flat: number[] | Float64Array = value instanceof DenseHost ? value.data : [];
  const walk = (x: unknown, depth: number): void => {
    if (x instanceof DenseHost) {
      if (x.shape.length !== shape.length - depth || x.shape.some((d, i) => d !== shape[depth + i]))
        throw new TypeError('ragged nested array: every row must have the same length');
      for (const y of x.data) (flat as number[]).push(y);
      return;
    }
    if (depth === shape.length) {
      const out = flat as number[];
      if (typeof x === 'boolean') out.push(x ? 1 : 0);
      else if (typeof x === 'number') out.push(x);
      else if (x === 'inf' || x === 'Infinity') out.push(Infinity);
      else if (x === '-inf' || x === '-Infinity') out.push(-Infinity);
      else if (x === 'nan' || x === 'NaN') out.push(NaN);
      else throw new TypeError(`expected a number, found ${JSON.stringify(x)?.slice(0, 80) ?? String(x)}`);
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth])
      throw new TypeError('ragged nested array: every row must have the same length');
    for (const y of x) walk(y, depth + 1);
  };
  if (!(value instanceof DenseHost)) walk(value, 0);
  if (dtype === 'sign') return packSigns(flat, shape);
  const t = alloc(dtype, shape, f64);
  if (dtype === 'f16') for (let i = 0; i < flat.length; i++) t.data[i] = roundF16(flat[i]!);
  else t.data.set(flat);
  return t;
}

/** Converts a tensor to nested JS arrays (sign tensors unpack to ±1; bools to true/false). */
export function toNested(t: Tensor): unknown {
  const get = (i: number): number | boolean => {
    if (t.dtype === 'sign') {
      const cols = t.shape[t.shape.length - 1]!;
      return signAt(t, Math.floor(i / cols), i % cols);
    }
    const x = t.data[i]!;
    return t.dtype === 'bool' ? x !== 0 : x;
  };
  const rec = (dim: number, off: number): unknown => {
    if (dim === t.shape.length) return get(off);
    const stride = numel(t.shape.slice(dim + 1));
    const out: unknown[] = [];
    for (let i = 0; i < t.shape[dim]!; i++) out.push(rec(dim + 1, off + i * stride));
    return out;
  };
  return rec(0, 0);
}
