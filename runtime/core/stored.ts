// f32 values at a checkpoint's stored precision. A stored tensor is an f32 tensor whose elements
// are kept as bfloat16 or IEEE half bits (`stored`, data a Uint16Array) or as GGUF's Q8_0 blocks
// (32 int8 values after one f16 scale d, 34 bytes; data a Uint8Array; element i of a block is
// d·q[i]): every value it holds is an f32 exactly, so it means what the f32 tensor of those values
// means. Backends keep it in its 16 bits and convert where their kernels load it (the Wasm
// programs); anything else reads it widened (`widen`, once per tensor). Also: stored floats to f32
// in bulk (IEEE half through a 65 536-entry table built on first use, bfloat16 by a shift into the
// high half of the f32 bits).
// Bytes are little-endian, as every format obt reads stores them; `bytes` may start at any offset.
import type { Stored, Tensor } from './tensor.ts';

let table: Float32Array | undefined;

/** Bytes n elements take stored (n a multiple of 32 for Q8_0). */
export const storedBytes = (s: Stored, n: number): number => (s === 'q8_0' ? (n / 32) * 34 : 2 * n);

/** The f32 values of stored data (16-bit words, or Q8_0's bytes) (a fresh array). */
export function storedToFloats(stored: Stored, data: Uint16Array | Uint8Array): Float32Array {
  if (stored === 'q8_0')
    return dequantizeQ8(
      data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
  const u =
    data instanceof Uint16Array
      ? data
      : data.byteOffset % 2
        ? new Uint16Array(data.slice().buffer)
        : new Uint16Array(data.buffer, data.byteOffset, data.byteLength >> 1);
  const n = u.length;
  if (stored === 'bf16') {
    const bits = new Uint32Array(n);
    for (let i = 0; i < n; i++) bits[i] = u[i]! << 16;
    return new Float32Array(bits.buffer);
  }
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfToFloat(h);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = table[u[i]!]!;
  return out;
}

/** Q8_0 blocks → f32: d·q, exact in f32 (an f16's 11 significant bits times 8). */
function dequantizeQ8(b: Uint8Array): Float32Array {
  const blocks = Math.floor(b.byteLength / 34);
  const out = new Float32Array(blocks * 32);
  for (let k = 0; k < blocks; k++) {
    const o = 34 * k;
    const d = halfToFloat(b[o]! | (b[o + 1]! << 8));
    for (let j = 0; j < 32; j++) out[32 * k + j] = d * ((b[o + 2 + j]! << 24) >> 24);
  }
  return out;
}

const widened = new WeakMap<Tensor, Tensor>();
/** The f32 tensor of a tensor's values: itself unless it is stored (then its values, converted
 *  once and kept as long as the tensor lives). */
export function widen(t: Tensor): Tensor {
  if (!t.stored) return t;
  let w = widened.get(t);
  if (!w)
    widened.set(
      t,
      (w = { dtype: 'f32', shape: t.shape, data: storedToFloats(t.stored, t.data as Uint16Array | Uint8Array) }),
    );
  return w;
}

/** A tensor's f32 values for a one-off use (an upload): read from its source when it has one
 *  (nothing kept on the host), else its data, widened when stored. */
export function valuesOnce(t: Tensor): Float32Array | Tensor['data'] {
  if (!t.source) return widen(t).data;
  const raw = new Uint8Array(t.source.bytes);
  t.source.read(raw);
  return t.stored ? storedToFloats(t.stored, raw) : new Float32Array(raw.buffer);
}

/** The first element of a stored tensor that is ±inf or NaN (of a Q8_0 block: its first, when its
 *  scale is); -1 when all are finite. */
export function firstNonFiniteStored(stored: Stored, data: Uint16Array | Uint8Array): number {
  if (stored === 'q8_0') {
    for (let o = 0; o + 34 <= data.length; o += 34) if ((data[o + 1]! & 0x7c) === 0x7c) return (o / 34) * 32;
    return -1;
  }
  const mask = stored === 'bf16' ? 0x7f80 : 0x7c00;
  for (let i = 0; i < data.length; i++) if ((data[i]! & mask) === mask) return i;
  return -1;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** The n 16-bit words at the start of `bytes`, aligned (a copy). */
function words(bytes: Uint8Array, n: number): Uint16Array {
  const u = new Uint16Array(n);
  new Uint8Array(u.buffer).set(bytes.subarray(0, 2 * n));
  return u;
}

/** n IEEE halves → f32. */
export function halvesToFloats(bytes: Uint8Array, n: number): Float32Array {
  return storedToFloats('f16', words(bytes, n));
}
