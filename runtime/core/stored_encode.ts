// f32 values into a stored format (the inverse of runtime/core/stored.ts's decoding): f16 and bf16
// rounded to nearest, ties to even (as torch and ggml's FP32_TO_FP16 round), NaN kept a NaN; GGUF
// Q8_0 as llama.cpp's quantize_row_q8_0 writes it — per 32 values d = max|x| / 127 stored as f16,
// then round(x / d) (half away from zero, as C's roundf) as int8.
import type { Stored } from './tensor.ts';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The f16 bits nearest to a value (ties to even; overflow to ±inf). */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // a subnormal f16 (or zero): the 24-bit significand shifted down, rounded
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 2 ** (shift - 1);
    let h = Math.floor(m / 2 ** shift);
    const rem = m - h * 2 ** shift;
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is right (up to inf)
  return sign | h;
}

/** The bf16 bits nearest to a value (ties to even), a NaN kept quiet. */
export function floatToBf16(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  if ((u & 0x7f800000) === 0x7f800000 && u & 0x7fffff) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Values in a stored format's bytes (Q8_0: a multiple of 32 values, blocks along them). */
export function floatsToStored(stored: Stored, x: Float32Array): Uint8Array {
  if (stored === 'q8_0') {
    if (x.length % 32) throw new Error(`Q8_0 needs a multiple of 32 values, has ${x.length}`);
    const out = new Uint8Array((x.length / 32) * 34);
    const dv = new DataView(out.buffer);
    for (let k = 0; k < x.length / 32; k++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[k * 32 + j]!));
      const d = Math.fround(amax / 127);
      const id = d ? Math.fround(1 / d) : 0;
      dv.setUint16(k * 34, floatToHalf(d), true);
      for (let j = 0; j < 32; j++) {
        const v = Math.fround(x[k * 32 + j]! * id);
        dv.setInt8(k * 34 + 2 + j, Math.sign(v) * Math.round(Math.abs(v)));
      }
    }
    return out;
  }
  const h = new Uint16Array(x.length);
  const enc = stored === 'f16' ? floatToHalf : floatToBf16;
  for (let i = 0; i < x.length; i++) h[i] = enc(x[i]!);
  return new Uint8Array(h.buffer);
}
