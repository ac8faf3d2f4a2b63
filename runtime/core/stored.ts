// f32 values at a checkpoint's stored precision. A stored tensor is an f32 tensor whose elements
// are kept as bfloat16 or IEEE half bits (`stored`, data a Uint16Array): every value it holds is an
// f32 exactly, so it means what the f32 tensor of those values means. Backends keep it in its 16
// bits and convert where their kernels load it (the Wasm programs); anything else reads it widened
// (`widen`, once per tensor). Also: stored floats to f32 in bulk (f32 by one copy, IEEE half through
// a 65 536-entry table built on first use, bfloat16 by a shift into the high half of the f32 bits).
// Bytes are little-endian, as every format obt reads stores them; `bytes` may start at any offset.
import type { Stored, Tensor } from './tensor.ts';

let table: Float32Array | undefined;

/** The f32 value of each 16-bit word (a fresh array). */
export function storedToFloats(stored: Stored, u: Uint16Array): Float32Array {
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

const widened = new WeakMap<Tensor, Tensor>();
/** The f32 tensor of a tensor's values: itself unless it is stored (then its values, converted
 *  once and kept as long as the tensor lives). */
export function widen(t: Tensor): Tensor {
  if (!t.stored) return t;
  let w = widened.get(t);
  if (!w) widened.set(t, (w = { dtype: 'f32', shape: t.shape, data: storedToFloats(t.stored, t.data as Uint16Array) }));
  return w;
}

/** A tensor's f32 values for a one-off use (an upload): read from its source when it has one
 *  (nothing kept on the host), else its data, widened when stored. */
export function valuesOnce(t: Tensor): Float32Array | Tensor['data'] {
  if (!t.source) return widen(t).data;
  const raw = new Uint8Array(t.source.bytes);
  t.source.read(raw);
  return t.stored ? storedToFloats(t.stored, new Uint16Array(raw.buffer)) : new Float32Array(raw.buffer);
}

/** A stored tensor of n 16-bit words at the start of `bytes` (a copy, aligned). */
export function storedTensor(stored: Stored, shape: number[], bytes: Uint8Array, n: number): Tensor {
  return { dtype: 'f32', shape, data: words(bytes, n), stored };
}

/** Whether a 16-bit word is ±inf or NaN. */
export const storedNonFinite = (stored: Stored, h: number): boolean =>
  stored === 'bf16' ? (h & 0x7f80) === 0x7f80 : (h & 0x7c00) === 0x7c00;

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

/** n little-endian f32 → f32 (a copy, aligned). */
export function f32sToFloats(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  new Uint8Array(out.buffer).set(bytes.subarray(0, 4 * n));
  return out;
}

/** n IEEE halves → f32. */
export function halvesToFloats(bytes: Uint8Array, n: number): Float32Array {
  return storedToFloats('f16', words(bytes, n));
}
