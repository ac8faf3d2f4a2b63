// Property: the scan that checks weights as they are read (llm/io/source.ts nonFiniteIn) finds the
// first ±inf or NaN among f32 values and bf16/f16 words — at any offset of the buffer (aligned or
// not), with any number of values (odd counts of 16-bit words included) — the index a plain
// element-by-element test finds.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { nonFiniteIn } from '../../llm/io/source.ts';
import { halfToFloat } from '../../runtime/core/stored.ts';

/** The value of a stored word, element by element (the definition the scan must agree with). */
const value = (stored: 'bf16' | 'f16' | undefined, dv: DataView, i: number): number =>
  stored === undefined
    ? dv.getFloat32(i * 4, true)
    : stored === 'f16'
      ? halfToFloat(dv.getUint16(i * 2, true))
      : new Float32Array(Uint32Array.of(dv.getUint16(i * 2, true) << 16).buffer)[0]!;

describe('nonFiniteIn', () => {
  it('finds the first non-finite value, as an element-by-element test does', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'bf16' | 'f16' | undefined>('bf16', 'f16', undefined),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 41 }),
        fc.array(fc.tuple(fc.nat(40), fc.constantFrom(NaN, Infinity, -Infinity)), { maxLength: 3 }),
        fc.integer(),
        (stored, offset, n, bad, seed) => {
          const width = stored ? 2 : 4;
          const buf = new Uint8Array(offset + n * width + 3);
          const bytes = buf.subarray(offset, offset + n * width);
          const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          let s = seed;
          for (let i = 0; i < n; i++) {
            s = (Math.imul(s, 1103515245) + 12345) | 0;
            // finite words only: an exponent below all ones
            if (stored) dv.setUint16(i * 2, (s >>> 8) & (stored === 'bf16' ? 0xff7f : 0xfbff), true);
            else dv.setFloat32(i * 4, (s / 2 ** 31) * 1e30, true);
          }
          for (const [i, v] of bad)
            if (i < n) {
              if (!stored) dv.setFloat32(i * 4, v, true);
              else {
                const inf = stored === 'bf16' ? 0x7f80 : 0x7c00;
                dv.setUint16(i * 2, (v < 0 ? 0x8000 : 0) | inf | (Number.isNaN(v) ? 1 : 0), true);
              }
            }
          let want = -1;
          for (let i = 0; i < n && want < 0; i++) if (!Number.isFinite(value(stored, dv, i))) want = i;
          expect(nonFiniteIn(bytes, stored)).toBe(want);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
