// Properties of the stored-format encoders (runtime/core/stored_encode.ts) that GGUF export writes
// with: f16 and bf16 are the nearest representable value (ties to even), by comparison with the
// neighbours the decoder gives; NaN stays NaN and overflow goes to ±inf; Q8_0 blocks decode to
// within half a step of the values (and the f16 rounding of the scale), with the f16 scale max|x|/127.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { floatToBf16, floatToHalf, floatsToStored } from '../../runtime/core/stored_encode.ts';
import { halfToFloat, storedToFloats } from '../../runtime/core/stored.ts';

const bf16ToFloat = (h: number) => new Float32Array(Uint32Array.of(h << 16).buffer)[0]!;

/** `enc(x)` is a nearest representable value: no neighbour (bits ±1) is closer, and on a tie the
 *  chosen bits are even. */
function nearest(x: number, h: number, dec: (h: number) => number): void {
  const v = dec(h);
  const err = Math.abs(v - x);
  for (const n of [h - 1, h + 1]) {
    if ((n & 0x7fff) === 0x7fff || n < 0 || n > 0xffff || (n ^ h) & 0x8000) continue; // another sign or NaN
    const w = dec(n);
    if (!Number.isFinite(w)) continue;
    const e = Math.abs(w - x);
    expect(e, `${x}: ${v} (0x${h.toString(16)}) vs ${w}`).toBeGreaterThanOrEqual(err);
    if (e === err) expect(h & 1).toBe(0);
  }
}

describe('stored encoders', () => {
  it('f16: the nearest value, ties to even; subnormals, overflow and NaN', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, min: -65504, max: 65504 }), (x) => {
        const h = floatToHalf(x);
        nearest(Math.fround(x), h, halfToFloat);
      }),
      { numRuns: 5000 },
    );
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(-1e6)).toBe(0xfc00);
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
    expect(floatToHalf(2 ** -24)).toBe(1); // the smallest subnormal
    expect(floatToHalf(2 ** -25)).toBe(0); // a tie: to even (zero)
    expect(floatToHalf(1.5 * 2 ** -25)).toBe(1);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // a tie between 1 and 1 + 2^-10: even
  });

  it('bf16: the nearest value, ties to even; NaN stays NaN', () => {
    fc.assert(
      fc.property(
        fc.float({ noNaN: true, noDefaultInfinity: true, min: Math.fround(-3e38), max: Math.fround(3e38) }),
        (x) => {
          nearest(Math.fround(x), floatToBf16(x), bf16ToFloat);
        },
      ),
      { numRuns: 5000 },
    );
    expect(Number.isNaN(bf16ToFloat(floatToBf16(NaN)))).toBe(true);
  });

  it('Q8_0: each block decodes within half a step of its values, the scale max|x|/127', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true, min: -1e4, max: 1e4 }), { minLength: 32, maxLength: 32 }), (xs) => {
        const x = Float32Array.from(xs);
        const b = floatsToStored('q8_0', x);
        const d = halfToFloat(new DataView(b.buffer).getUint16(0, true));
        const amax = Math.max(...xs.map(Math.abs));
        expect(d).toBe(halfToFloat(floatToHalf(amax / 127)));
        const y = storedToFloats('q8_0', b);
        // half a step of the stored scale, plus what rounding the scale to f16 moved the 127 steps
        // (all of amax where the scale underflows f16: such a block decodes to zeros, as llama.cpp's)
        const bound = 0.5 * d + 128 * Math.abs(d - amax / 127) + 1e-6 * amax;
        for (let i = 0; i < 32; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(bound);
      }),
      // a block whose scale underflows f16 (found by this property)
      { numRuns: 500, examples: [[Array.from({ length: 32 }, (_, i) => (i === 30 ? 1.0010010541602371e-30 : 0))]] },
    );
  });
});
