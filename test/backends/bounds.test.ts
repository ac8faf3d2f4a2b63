// Reductions near the Wasm backend's bounds (2^31 − 1 elements, i32 indices): shapes that make the
// count large but the memory small (broadcast constants and iota), so nothing near 8 GiB is
// allocated. Near the bound the Wasm result is checked against the closed form (the interpreter
// would materialise the broadcast); at counts the interpreter can hold, against the interpreter.
// A plain f32 loop over 2^31 ones returned 2^28 (each accumulator stuck at 2^24 × its addend):
// long sums now run in chunks with f64 running totals, within an f32 rounding (1e-6) of exact.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compile } from '../../compiler/api.ts';
import type { Tensor } from '../../runtime/core/tensor.ts';

const MAX = 2 ** 31 - 1;
type Red = 'sum' | 'sum0' | 'sum1' | 'mean' | 'max';

function source(a: number, b: number, c: number, red: Red): string {
  const x = `(ones([${a}, ${b}]) * ${c.toFixed(1)})`;
  const body: Record<Red, [string, string]> = {
    sum: ['f32', `sum(${x})`],
    sum0: [`f32[${b}]`, `sum(${x}, axis: 0)`],
    sum1: [`f32[${a}]`, `sum(${x}, axis: 1)`],
    mean: ['f32', `mean(${x})`],
    max: ['f32', `max(f32(iota(${a * b})))`],
  };
  const [ty, e] = body[red];
  return `fn f() -> ${ty} = ${e}\n`;
}

/** The exact answer of `source` (every element of a vector result is the same). */
function exact(a: number, b: number, c: number, red: Red): number {
  return { sum: a * b * c, sum0: a * c, sum1: b * c, mean: c, max: a * b - 1 }[red];
}

async function wasmValue(src: string, kind: 'wasm' | 'interp' = 'wasm'): Promise<number[]> {
  const r = await compile(src, { path: 'bounds.obt' }).run('f', [], { device: { kind } });
  return Array.from((r.value as Tensor).data as Float32Array);
}

const reds: Red[] = ['sum', 'sum0', 'sum1', 'mean', 'max'];

describe('Wasm reductions near 2^31 elements', () => {
  it('agree with the closed form (fast-check over shapes of 2^30 .. 2^31 − 1 elements)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 16 }),
        fc.constantFrom(...reds),
        fc.constantFrom(0.5, 1, 3),
        async (small, red, c) => {
          // the other side so that a·b lands in [2^30, 2^31 − 1]; a reduction's result stays small
          const big = Math.max(1, Math.floor(MAX / small) - (small % 3));
          const [a, b] = red === 'sum0' ? [big, small] : [small, big];
          fc.pre(a * b >= 2 ** 30 && a * b <= MAX);
          const want = exact(a, b, c, red);
          const got = await wasmValue(source(a, b, c, red));
          for (const v of got)
            expect(Math.abs(v - want), `${source(a, b, c, red)} → ${v}`).toBeLessThanOrEqual(1e-6 * want);
        },
      ),
      { numRuns: 4 },
    );
  }, 120_000);
  it('one axis of exactly 2^31 − 1 elements (a prime: no block divides it)', async () => {
    const [v] = await wasmValue('fn f() -> f32 = sum(ones([2147483647]))\n');
    expect(Math.abs(v! - MAX)).toBeLessThanOrEqual(1e-6 * MAX);
  }, 60_000);
  it('agree with the interpreter where it can hold the tensors (2^20 .. 2^22 elements)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4096 }), fc.constantFrom(...reds), async (a, red) => {
        const b = Math.max(1, Math.floor(2 ** 22 / a) - (a % 5));
        fc.pre(a * b >= 2 ** 20);
        const src = source(a, b, 1.5, red);
        const [w, i] = [await wasmValue(src), await wasmValue(src, 'interp')];
        expect(w.length).toBe(i.length);
        w.forEach((v, k) => expect(Math.abs(v - i[k]!), src).toBeLessThanOrEqual(1e-5 * Math.abs(i[k]!)));
      }),
      { numRuns: 6 },
    );
  }, 120_000);
});
