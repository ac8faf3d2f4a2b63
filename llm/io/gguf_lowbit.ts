// llama.cpp's 1-bit and ternary tensor types, as ggml defines them (ggml-common.h block_q1_0,
// block_tq1_0, block_tq2_0; ggml-quants.c dequantize_row_*), to and from obt's inference forms:
//   Q1_0  (41): 128 values in 18 bytes: f16 d, then 16 bytes of bits, value j is bit j%8 of byte
//               j/8: set → +d, clear → −d.
//   TQ2_0 (35): 256 values in 66 bytes: 64 bytes of 2-bit codes q, then f16 d; value = (q − 1)·d.
//               Byte j + m of a 32-byte group holds values 128·(j/32) + 32·l + m in bits 2l..2l+1.
//   TQ1_0 (34): 256 values in 54 bytes: 48 bytes of 5 trits each (q0 3⁴ + … + q4, stored as
//               ⌈q · 256 / 243⌉, so trit n is ((byte · 3ⁿ mod 256) · 3) >> 8), 4 bytes of 4 trits
//               each (the same with a 0 fifth trit), then f16 d. Byte m of the first 32 holds values
//               m + 32n, of the next 16 values 160 + m + 16n, byte j of the last 4 values 240 + j + 4n.
// obt's side: signs packed 32 per u32 word, bit 1 = −1 (rows here are whole words: the blocks are),
// scales f32 holding f16 values; ternary codes t ∈ {−1, 0, 1} as two sign planes s_a = sign(t + ½),
// s_b = sign(t − ½), so t = ½ (s_a + s_b). A TQ2_0 code 3 (value 2d) is not ternary: refused.
import { halfToFloat } from '../../runtime/core/stored.ts';
import { floatToHalf } from '../../runtime/core/stored_encode.ts';
import { LoadError } from './model.ts';

export const LOWBIT = {
  Q1_0: { code: 41, values: 128, bytes: 18 },
  TQ1_0: { code: 34, values: 256, bytes: 54 },
  TQ2_0: { code: 35, values: 256, bytes: 66 },
} as const;
export type LowBit = keyof typeof LOWBIT;
export const isLowBit = (t: string): t is LowBit => t in LOWBIT;
export const lowBitOfCode = (code: number): LowBit | undefined =>
  (Object.keys(LOWBIT) as LowBit[]).find((t) => LOWBIT[t].code === code);

/** Bytes of a [rows, cols] tensor of a low-bit type (cols whole blocks). */
export const lowBitBytes = (t: LowBit, rows: number, cols: number): number =>
  rows * (cols / LOWBIT[t].values) * LOWBIT[t].bytes;

/** Q1_0 from signs [O, I] and one scale per block of 128 ([O, I / 128], f16 values). */
export function encodeQ1_0(s: Uint32Array, d: Float32Array, O: number, I: number): Uint8Array {
  const K = I / 128;
  const words = I / 32;
  const out = new Uint8Array(O * K * 18);
  for (let o = 0; o < O; o++)
    for (let k = 0; k < K; k++) {
      const at = (o * K + k) * 18;
      const h = floatToHalf(d[o * K + k]!);
      out[at] = h & 0xff;
      out[at + 1] = h >> 8;
      // Q1_0's bit set is +d, obt's bit set is −1: the words inverted, little-endian
      for (let q = 0; q < 4; q++) {
        const w = ~s[o * words + 4 * k + q]! >>> 0;
        for (let b = 0; b < 4; b++) out[at + 2 + 4 * q + b] = (w >>> (8 * b)) & 0xff;
      }
    }
  return out;
}

/** Q1_0 bytes → signs [O, I] and scales [O, I / 128]. */
export function decodeQ1_0(b: Uint8Array, O: number, I: number): { s: Uint32Array; d: Float32Array } {
  const K = I / 128;
  const words = I / 32;
  const s = new Uint32Array(O * words);
  const d = new Float32Array(O * K);
  for (let blk = 0; blk < O * K; blk++) {
    const at = blk * 18;
    d[blk] = halfToFloat(b[at]! | (b[at + 1]! << 8));
    for (let q = 0; q < 4; q++) {
      const o = at + 2 + 4 * q;
      s[blk * 4 + q] = ~(b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
    }
  }
  return { s, d };
}

/** Each code byte of a TQ block: the indices (in its 256 values) of the codes it holds — TQ2_0: 64
 *  bytes of 4 two-bit codes (code l in bits 2l, 2l + 1); TQ1_0: 48 bytes of 5 trits, then 4 of 4
 *  (the most significant trit first). Flat, 5 slots a byte (−1: none). */
const SLOTS = {
  TQ2_0: slots(64, (j, n) => (n < 4 ? 128 * (j >> 5) + 32 * n + (j & 31) : -1)),
  TQ1_0: slots(52, (j, n) =>
    j < 32 ? j + 32 * n : j < 48 ? 160 + (j - 32) + 16 * n : n < 4 ? 240 + (j - 48) + 4 * n : -1,
  ),
};
function slots(bytes: number, at: (j: number, n: number) => number): Int16Array {
  return Int16Array.from({ length: 5 * bytes }, (_, x) => at(Math.floor(x / 5), x % 5));
}
const POW3 = [1, 3, 9, 27, 81];
/** each byte value's codes in its 5 slots: TQ2_0's 2-bit fields, TQ1_0's trits ((v·3ⁿ mod 256)·3 >> 8) */
const CODES = {
  TQ2_0: Uint8Array.from({ length: 256 * 5 }, (_, x) => (x % 5 < 4 ? (Math.floor(x / 5) >> (2 * (x % 5))) & 3 : 0)),
  TQ1_0: Uint8Array.from({ length: 256 * 5 }, (_, x) => (((Math.floor(x / 5) * POW3[x % 5]!) & 0xff) * 3) >> 8),
};

/** Ternary codes [O, I] as two sign planes and one scale per block of 256 → TQ1_0 or TQ2_0 bytes. */
export function encodeTQ(
  type: 'TQ1_0' | 'TQ2_0',
  sa: Uint32Array,
  sb: Uint32Array,
  d: Float32Array,
  O: number,
  I: number,
): Uint8Array {
  const K = I / 256;
  const size = LOWBIT[type].bytes;
  const out = new Uint8Array(O * K * size);
  const slot = SLOTS[type];
  const codes = new Uint8Array(256); // q = t + 1 ∈ {0, 1, 2} of the block's values
  for (let blk = 0; blk < O * K; blk++) {
    // a block is 8 whole words of each plane (rows are whole blocks)
    for (let w = 0; w < 8; w++) {
      const [a, c] = [sa[blk * 8 + w]!, sb[blk * 8 + w]!];
      for (let bit = 0; bit < 32; bit++) codes[32 * w + bit] = 2 - ((a >>> bit) & 1) - ((c >>> bit) & 1);
    }
    const at = blk * size;
    for (let j = 0; j < slot.length / 5; j++) {
      let v = 0;
      if (type === 'TQ2_0') for (let n = 0; n < 4; n++) v |= codes[slot[5 * j + n]!]! << (2 * n);
      else {
        // base 3, the most significant trit first, a missing fifth trit 0; stored as ⌈v · 256 / 243⌉
        for (let n = 0; n < 5; n++) v = v * 3 + (slot[5 * j + n]! >= 0 ? codes[slot[5 * j + n]!]! : 0);
        v = Math.ceil((v * 256) / 243);
      }
      out[at + j] = v;
    }
    const h = floatToHalf(d[blk]!);
    out[at + size - 2] = h & 0xff;
    out[at + size - 1] = h >> 8;
  }
  return out;
}

/** TQ1_0 or TQ2_0 bytes → two sign planes [O, I] and scales [O, I / 256]. */
export function decodeTQ(
  type: 'TQ1_0' | 'TQ2_0',
  b: Uint8Array,
  O: number,
  I: number,
  file: string,
  what: string,
): { sa: Uint32Array; sb: Uint32Array; d: Float32Array } {
  const K = I / 256;
  const size = LOWBIT[type].bytes;
  const sa = new Uint32Array((O * I) / 32);
  const sb = new Uint32Array((O * I) / 32);
  const d = new Float32Array(O * K);
  const [slot, table] = [SLOTS[type], CODES[type]];
  const codes = new Uint8Array(257); // slot −1 writes index 256, never read
  for (let blk = 0; blk < O * K; blk++) {
    const at = blk * size;
    for (let j = 0; j < slot.length / 5; j++) {
      const v5 = 5 * b[at + j]!;
      for (let n = 0; n < 5; n++) codes[(slot[5 * j + n]! + 257) % 257] = table[v5 + n]!;
    }
    for (let w = 0; w < 8; w++) {
      let a = 0; // t = −1 (q = 0): both planes −1
      let c = 0; // t ≤ 0 (q ≤ 1): s_b = −1
      let three = 0;
      for (let bit = 0; bit < 32; bit++) {
        const q = codes[32 * w + bit]!;
        a |= ((q - 1) >>> 31) << bit;
        c |= ((q - 2) >>> 31) << bit;
        three |= q & (q >> 1);
      }
      if (three) {
        const i = (blk % K) * 256 + 32 * w + codes.subarray(32 * w, 32 * w + 32).indexOf(3);
        throw new LoadError(
          file,
          `${what}: TQ2_0 code 3 (value 2·d) in row ${Math.floor(blk / K)}, column ${i}: not a ternary weight`,
        );
      }
      sa[blk * 8 + w] = a >>> 0;
      sb[blk * 8 + w] = c >>> 0;
    }
    d[blk] = halfToFloat(b[at + size - 2]! | (b[at + size - 1]! << 8));
  }
  return { sa, sb, d };
}
