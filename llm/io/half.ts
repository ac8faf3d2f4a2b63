// Stored floats to f32 in bulk: f32 by one copy, IEEE half through a 65 536-entry table (built on
// first use), bfloat16 by a shift into the high half of the f32 bits. Bytes are little-endian, as
// every format obt reads stores them; `bytes` may start at any offset.
let table: Float32Array | undefined;

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
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfToFloat(h);
  }
  const u = words(bytes, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = table[u[i]!]!;
  return out;
}

/** n bfloat16 → f32 (the high 16 bits of each f32). */
export function bf16ToFloats(bytes: Uint8Array, n: number): Float32Array {
  const u = words(bytes, n);
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) bits[i] = u[i]! << 16;
  return new Float32Array(bits.buffer);
}
