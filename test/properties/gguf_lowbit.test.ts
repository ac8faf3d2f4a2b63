// llama.cpp's Q1_0, TQ1_0 and TQ2_0 (llm/io/gguf_lowbit.ts) against ggml's own definitions
// (test/helpers/ggml_ref.ts, transcribed from ggml-quants.c): what obt writes dequantises, by ggml's
// loops, to exactly its scales times its signs or ternary codes; what it reads back is what it
// wrote; a ternary tensor quantised by ggml's reference quantizer is read as its codes and scale
// and written back to the same bytes.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeQ1_0, decodeTQ, encodeQ1_0, encodeTQ } from '../../llm/io/gguf_lowbit.ts';
import { dequantizeRowQ1_0, dequantizeRowTQ1_0, dequantizeRowTQ2_0, quantizeRowTQ } from '../helpers/ggml_ref.ts';
import { halfToFloat } from '../../runtime/core/stored.ts';

/** A random f16 value (finite, any sign) as f32, from 16 random bits. */
const half = (bits: number) => {
  const h = bits & 0x7bff; // exponent below 31: finite
  return halfToFloat(h);
};

/** Ternary codes t ∈ {−1, 0, 1} → two sign planes s_a = sign(t + ½), s_b = sign(t − ½) (bit 1 = −1). */
function planes(t: number[], O: number, I: number): { sa: Uint32Array; sb: Uint32Array } {
  const words = I / 32;
  const sa = new Uint32Array(O * words);
  const sb = new Uint32Array(O * words);
  t.forEach((v, at) => {
    const o = Math.floor(at / I);
    const i = at % I;
    if (v < 0) sa[o * words + (i >> 5)]! |= 1 << (i & 31);
    if (v <= 0) sb[o * words + (i >> 5)]! |= 1 << (i & 31);
  });
  return { sa, sb };
}

/** n values of an arbitrary; n random f16 scales */
const exactly = <T>(n: number, arb: fc.Arbitrary<T>) => fc.array(arb, { minLength: n, maxLength: n });
const scales = (n: number) => exactly(n, fc.integer({ min: 0, max: 0xffff }).map(half));

const shape = (block: number) =>
  fc
    .record({ O: fc.integer({ min: 1, max: 3 }), K: fc.integer({ min: 1, max: 3 }) })
    .map(({ O, K }) => ({ O, I: K * block }));

describe('Q1_0', () => {
  it("obt's signs and scales dequantise, by ggml's loop, to ±d; decoding gives them back", () => {
    fc.assert(
      fc.property(
        shape(128).chain(({ O, I }) =>
          fc.record({
            O: fc.constant(O),
            I: fc.constant(I),
            words: exactly((O * I) / 32, fc.integer({ min: 0, max: 2 ** 32 - 1 })),
            d: scales((O * I) / 128),
          }),
        ),
        ({ O, I, words, d }) => {
          const s = Uint32Array.from(words);
          const dd = Float32Array.from(d);
          const b = encodeQ1_0(s, dd, O, I);
          expect(b.length).toBe((O * I * 18) / 128);
          const y = dequantizeRowQ1_0(b, O * I);
          for (let o = 0; o < O; o++)
            for (let i = 0; i < I; i++) {
              const neg = (s[o * (I / 32) + (i >> 5)]! >>> (i & 31)) & 1;
              const want = dd[o * (I / 128) + Math.floor(i / 128)]!;
              expect(y[o * I + i]).toBe(neg ? -want : want);
            }
          const back = decodeQ1_0(b, O, I);
          expect(back.s).toEqual(s);
          expect(back.d).toEqual(dd);
        },
      ),
      { numRuns: 60 },
    );
  });
});

for (const type of ['TQ1_0', 'TQ2_0'] as const) {
  const deq = type === 'TQ1_0' ? dequantizeRowTQ1_0 : dequantizeRowTQ2_0;
  describe(type, () => {
    it("obt's ternary codes dequantise, by ggml's loops, to t·d; decoding gives the planes back", () => {
      fc.assert(
        fc.property(
          shape(256).chain(({ O, I }) =>
            fc.record({
              O: fc.constant(O),
              I: fc.constant(I),
              t: exactly(O * I, fc.integer({ min: -1, max: 1 })),
              d: scales((O * I) / 256),
            }),
          ),
          ({ O, I, t, d }) => {
            const { sa, sb } = planes(t, O, I);
            const dd = Float32Array.from(d);
            const b = encodeTQ(type, sa, sb, dd, O, I);
            const y = deq(b, O * I);
            for (let at = 0; at < O * I; at++) {
              const want = t[at]! * dd[Math.floor(at / 256)]!;
              expect(y[at]! === want || (want === 0 && y[at] === 0)).toBe(true);
            }
            const back = decodeTQ(type, b, O, I, 'f.gguf', 'tensor w');
            expect(back.sa).toEqual(sa);
            expect(back.sb).toEqual(sb);
            expect(back.d).toEqual(dd);
          },
        ),
        { numRuns: 60 },
      );
    });

    it("a block ggml's reference quantizer made is read as its codes and scale, and written back byte for byte", () => {
      fc.assert(
        fc.property(
          exactly(512, fc.integer({ min: -1, max: 1 })),
          fc.double({ min: 0.01, max: 8, noNaN: true }),
          (t, scale) => {
            t[0] = 1; // max |x| of each block is its scale
            t[256] = -1;
            const d = Math.fround(scale);
            const x = Float32Array.from(t, (v) => v * d);
            const b = quantizeRowTQ(type, x);
            const back = decodeTQ(type, b, 2, 256, 'f.gguf', 'tensor w');
            const { sa, sb } = planes(t, 2, 256);
            expect(back.sa).toEqual(sa);
            expect(back.sb).toEqual(sb);
            expect(encodeTQ(type, back.sa, back.sb, back.d, 2, 256)).toEqual(b);
          },
        ),
        { numRuns: 40 },
      );
    });
  });
}

it('a TQ2_0 code 3 (2·d: not ternary) is refused, naming the tensor, row and column', () => {
  const b = new Uint8Array(66);
  b[5] = 3 << 2; // byte 5, bits 2..3: column 32 + 5
  expect(() => decodeTQ('TQ2_0', b, 1, 256, 'm.gguf', 'tensor blk.0.attn_q.weight')).toThrow(
    /m\.gguf: tensor blk\.0\.attn_q\.weight: TQ2_0 code 3 .* row 0, column 37/,
  );
});
