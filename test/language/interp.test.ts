// Reference interpreter: primitive semantics checked on hand-computed cases, f32 vs f64 modes,
// the packed sign layout, the counter-based PRNG.
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/api.ts';
import { PRIMS } from '../../runtime/prims/registry.ts';
import { threefry2x32 } from '../../runtime/prims/random_bits.ts';
import { fromNested, packSigns, roundF16, toNested, type Tensor } from '../../runtime/core/tensor.ts';

const ctx = { f64: false, run: () => [] as Tensor[] };
const T = (v: unknown, d: 'f32' | 'i32' | 'u32' | 'bool' = 'f32') => fromNested(v, d);

function run(src: string, entry: string, args: unknown[], f64 = false): unknown {
  const p = compile(src, { path: 'interp.obt' });
  expect(p.diagnostics).toEqual([]);
  const r = p.runSync(entry, args as never, { f64 });
  const conv = (v: unknown): unknown =>
    v && typeof v === 'object' && 'data' in (v as object) ? toNested(v as Tensor) : Array.isArray(v) ? v.map(conv) : v;
  return conv(r.value);
}

describe('primitives', () => {
  it('dot_general with batch and contracting axes', () => {
    const a = T([
      [
        [1, 2],
        [3, 4],
      ],
      [
        [5, 6],
        [7, 8],
      ],
    ]); // [2, 2, 2]
    const b = T([
      [
        [1, 0],
        [0, 1],
      ],
      [
        [2, 0],
        [0, 2],
      ],
    ]);
    const [r] = PRIMS.dot_general.eval([a, b], { batch: [[0], [0]], contract: [[2], [1]] }, ctx);
    expect(toNested(r!)).toEqual([
      [
        [1, 2],
        [3, 4],
      ],
      [
        [10, 12],
        [14, 16],
      ],
    ]);
  });

  it('sign packing: bit k of word j is column 32j+k, bit 1 = -1, zero packs as +1', () => {
    const row = Array.from({ length: 40 }, (_, i) => (i === 0 || i === 33 ? -1 : i === 5 ? 0 : 1));
    const s = packSigns(row, [1, 40]);
    expect(Array.from(s.data)).toEqual([1, 2]);
    const [u] = PRIMS.unpack_sign.eval([s], {}, ctx);
    expect((toNested(u!) as number[][])[0]!.filter((x) => x === -1).length).toBe(2);
  });

  it('gather clamps indices; dynamic_slice clamps its window', () => {
    const [g] = PRIMS.gather.eval([T([10, 20, 30]), T([0, 5, -1], 'i32')], { axis: 0 }, ctx);
    expect(toNested(g!)).toEqual([10, 30, 10]);
    const [d] = PRIMS.dynamic_slice.eval([T([1, 2, 3, 4]), T(3, 'i32')], { sizes: [2] }, ctx);
    expect(toNested(d!)).toEqual([3, 4]);
  });

  it('f32 mode rounds every result; f64 mode keeps doubles', () => {
    const src = 'fn f(x: f32[1]) -> f32[1] = x / 3.0';
    expect((run(src, 'f', [[1]]) as number[])[0]).toBe(Math.fround(1 / 3));
    expect((run(src, 'f', [[1]], true) as number[])[0]).toBe(1 / 3);
  });

  it('f16 values round to half precision', () => {
    expect(roundF16(1 / 3)).toBe(0.333251953125);
    expect(roundF16(65520)).toBe(Infinity);
    expect(roundF16(2049)).toBe(2048);
  });

  it('threefry2x32 matches the published known-answer vector', () => {
    // Random123 kat_vectors: threefry2x32_20, key = counter = 0 -> 0x6b200159 0x99ba4efe
    expect(threefry2x32(0, 0, 0, 0).map((x) => x.toString(16))).toEqual(['6b200159', '99ba4efe']);
  });

  it('random draws are deterministic per key and have sensible moments', () => {
    const src =
      'fn f(s: i32) -> (f32, f32, f32) {\n let z = rand_normal(key(s), [4000])\n let u = rand_uniform(split(key(s), 2)[1], [4000])\n (mean(z), mean(z * z), mean(u)) }';
    const [m, m2, mu] = run(src, 'f', [3]) as number[];
    expect(Math.abs(m!)).toBeLessThan(0.06);
    expect(Math.abs(m2! - 1)).toBeLessThan(0.08);
    expect(Math.abs(mu! - 0.5)).toBeLessThan(0.02);
    expect(run(src, 'f', [3])).toEqual([m, m2, mu]);
    expect(run(src, 'f', [4])).not.toEqual([m, m2, mu]);
  });

  it('categorical samples follow the logits', () => {
    const src =
      'fn f(l: f32[3]) -> f32 {\n let keys = split(key(1), 2000)\n let xs = categorical(keys[0], broadcast(l, [2000, 3]))\n mean(f32(xs == 2)) }';
    const p2 = run(src, 'f', [[0, 0, Math.log(2)]]) as number;
    expect(Math.abs(p2 - 0.5)).toBeLessThan(0.05);
  });
});
