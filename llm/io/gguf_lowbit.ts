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

const bitOf = (w: Uint32Array, row: number, words: number, i: number) => (w[row * words + (i >>> 5)]! >>> (i & 31)) & 1;

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

/** The value index inside a 256-block of TQ1_0 byte `byte` (0..51) and trit n (0..4; 0..3 for qh). */
function tq1Index(byte: number, n: number): number {
  if (byte < 32) return byte + 32 * n;
  if (byte < 48) return 160 + (byte - 32) + 16 * n;
  return 240 + (byte - 48) + 4 * n;
}

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
  const words = I / 32;
  const size = LOWBIT[type].bytes;
  const out = new Uint8Array(O * K * size);
  // the code q = t + 1 ∈ {0, 1, 2} of value i of row o
  const code = (o: number, i: number) => 2 - bitOf(sa, o, words, i) - bitOf(sb, o, words, i);
  for (let o = 0; o < O; o++)
    for (let k = 0; k < K; k++) {
      const at = (o * K + k) * size;
      const base = k * 256;
      if (type === 'TQ2_0') {
        for (let g = 0; g < 2; g++)
          for (let m = 0; m < 32; m++) {
            let q = 0;
            for (let l = 0; l < 4; l++) q |= code(o, base + 128 * g + 32 * l + m) << (2 * l);
            out[at + 32 * g + m] = q;
          }
      } else {
        for (let byte = 0; byte < 52; byte++) {
          const trits = byte < 48 ? 5 : 4;
          let q = 0;
          for (let n = 0; n < 5; n++) q = q * 3 + (n < trits ? code(o, base + tq1Index(byte, n)) : 0);
          out[at + byte] = Math.ceil((q * 256) / 243);
        }
      }
      const h = floatToHalf(d[o * K + k]!);
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
  const words = I / 32;
  const size = LOWBIT[type].bytes;
  const sa = new Uint32Array(O * words);
  const sb = new Uint32Array(O * words);
  const d = new Float32Array(O * K);
  const put = (o: number, i: number, q: number) => {
    const w = o * words + (i >>> 5);
    const bit = 1 << (i & 31);
    if (q === 0) sa[w]! |= bit; // t = −1: both planes −1
    if (q <= 1) sb[w]! |= bit; // t ≤ 0: s_b = −1
  };
  for (let o = 0; o < O; o++)
    for (let k = 0; k < K; k++) {
      const at = (o * K + k) * size;
      const base = k * 256;
      if (type === 'TQ2_0') {
        for (let g = 0; g < 2; g++)
          for (let m = 0; m < 32; m++) {
            const byte = b[at + 32 * g + m]!;
            for (let l = 0; l < 4; l++) {
              const q = (byte >> (2 * l)) & 3;
              if (q === 3)
                throw new LoadError(
                  file,
                  `${what}: TQ2_0 code 3 (value 2·d) in row ${o}, column ${base + 128 * g + 32 * l + m}: not a ternary weight`,
                );
              put(o, base + 128 * g + 32 * l + m, q);
            }
          }
      } else {
        for (let byte = 0; byte < 52; byte++) {
          const v = b[at + byte]!;
          const trits = byte < 48 ? 5 : 4;
          for (let n = 0; n < trits; n++) put(o, base + tq1Index(byte, n), (((v * 3 ** n) & 0xff) * 3) >> 8);
        }
      }
      d[o * K + k] = halfToFloat(b[at + size - 2]! | (b[at + size - 1]! << 8));
    }
  return { sa, sb, d };
}
