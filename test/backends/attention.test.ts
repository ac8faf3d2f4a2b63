// Fused attention (`sdpa`, runtime/prims/attention.ts; kernels in compiler/templates/attention/):
// the primitive against its definition in plain tensor operations (nn.attention_batch_unfused),
// forward and gradient, on odd shapes (T not a multiple of anything, one query row, H ≠ KV, a
// query row with no key, S ≠ T); its gradient by central finite differences in f64; the Wasm
// kernels (fused and unfused schedules, 1 and 2 threads) and the WGSL kernels against the
// interpreter.
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../compiler/api.ts';
import { alloc, type Tensor } from '../../runtime/core/tensor.ts';
import { mulberry32 } from '../../runtime/core/rng.ts';
import { centralDiff } from '../helpers/fd.ts';
import { gpu, gpuNote } from '../helpers/gpu.ts';
import { NodeThreadPool } from '../../runtime/env/node_threads.ts';

const src = `import nn
pub fn fused[B, T, S, H, KV, Dh](q: f32[B, T, H, Dh], k: f32[B, S, KV, Dh], v: f32[B, S, KV, Dh], mask: bool[T, S]) -> f32[B, T, H, Dh] = sdpa(q, k, v, mask)
pub fn unfused[B, T, S, H, KV, Dh](q: f32[B, T, H, Dh], k: f32[B, S, KV, Dh], v: f32[B, S, KV, Dh], mask: bool[T, S]) -> f32[B, T, H, Dh] = attention_batch_unfused(q, k, v, mask)
pub fn loss[B, T, S, H, KV, Dh](q: f32[B, T, H, Dh], k: f32[B, S, KV, Dh], v: f32[B, S, KV, Dh], mask: bool[T, S], w: f32[B, T, H, Dh]) -> f32 =
  sum(tanh(sdpa(q, k, v, mask)) * w)
pub fn gf[B, T, S, H, KV, Dh](q: f32[B, T, H, Dh], k: f32[B, S, KV, Dh], v: f32[B, S, KV, Dh], mask: bool[T, S], w: f32[B, T, H, Dh]) =
  value_and_grad(fn(p) { sum(tanh(sdpa(p.0, p.1, p.2, mask)) * w) }, (q, k, v))
pub fn gu[B, T, S, H, KV, Dh](q: f32[B, T, H, Dh], k: f32[B, S, KV, Dh], v: f32[B, S, KV, Dh], mask: bool[T, S], w: f32[B, T, H, Dh]) =
  value_and_grad(fn(p) { sum(tanh(attention_batch_unfused(p.0, p.1, p.2, mask)) * w) }, (q, k, v))
`;
const prog = compile(src, { path: 'attention.obt' });

type Case = {
  name: string;
  dims: [number, number, number, number, number, number];
  mask: (i: number, j: number) => boolean;
};
const causal = (off: number) => (i: number, j: number) => j <= i + off;
const CASES: Case[] = [
  { name: 'causal T=17 H=3 KV=1 Dh=8', dims: [1, 17, 17, 3, 1, 8], mask: causal(0) },
  // big enough that a kernel is split across the 2 threads
  { name: 'causal B=2 T=70 H=4 KV=2 Dh=8', dims: [2, 70, 70, 4, 2, 8], mask: causal(0) },
  { name: 'one query row over 9 keys (decode) H=KV=2', dims: [1, 1, 9, 2, 2, 4], mask: (_i, j) => j < 6 },
  {
    name: 'B=2 T=5 S=7 H=4 KV=2 Dh=3, a gappy mask',
    dims: [2, 5, 7, 4, 2, 3],
    mask: (i, j) => j <= i + 2 && (i + j) % 4 !== 3,
  },
  { name: 'B=3 T=6 H=KV=2 Dh=5, a row with no key', dims: [3, 6, 6, 2, 2, 5], mask: (i, j) => i !== 2 && j <= i },
  // whole 4-key and 4-query blocks masked out inside a row's and a column's range of blocks
  {
    name: 'T=27 H=2 KV=1 Dh=8, masked-out blocks inside the range',
    dims: [1, 27, 27, 2, 1, 8],
    mask: (i, j) => j <= i && (j < 8 || j >= 16) && (i < 4 || i >= 12 || j !== 1),
  },
  // runs of full blocks (no mask test) that start after the range does, and that fill it
  {
    name: 'T=41 H=2 KV=1 Dh=8, a sliding window of 13',
    dims: [1, 41, 41, 2, 1, 8],
    mask: (i, j) => j <= i && j > i - 13,
  },
  { name: 'T=22 S=13 H=4 KV=2 Dh=8, no mask', dims: [2, 22, 13, 4, 2, 8], mask: () => true },
];

function inputs(c: Case, seed: number, f64 = false): Tensor[] {
  const [B, T, S, H, KV, Dh] = c.dims;
  const r = mulberry32(seed);
  const rnd = (s: number[]) => {
    const t = alloc('f32', s, f64);
    for (let i = 0; i < t.data.length; i++) t.data[i] = (r() * 2 - 1) * 1.5;
    return t;
  };
  const mask = alloc('bool', [T, S]);
  for (let i = 0; i < T; i++) for (let j = 0; j < S; j++) mask.data[i * S + j] = c.mask(i, j) ? 1 : 0;
  return [rnd([B, T, H, Dh]), rnd([B, S, KV, Dh]), rnd([B, S, KV, Dh]), mask, rnd([B, T, H, Dh])];
}

/** max |a − b| over elements, relative to b's largest magnitude (normwise) */
function normErr(a: Tensor, b: Tensor, skip?: (i: number) => boolean): number {
  let e = 0;
  let n = 1e-30;
  for (let i = 0; i < b.data.length; i++) {
    if (skip?.(i)) continue;
    e = Math.max(e, Math.abs(a.data[i]! - b.data[i]!));
    n = Math.max(n, Math.abs(b.data[i]!));
  }
  return e / n;
}

const pool = new NodeThreadPool(2);
afterAll(() => pool.close());

describe('fused attention (sdpa)', () => {
  for (const c of CASES) {
    const [, T, S, H, , Dh] = c.dims;
    // output elements of query rows that have a key (the unfused softmax is NaN on the others)
    const empty = (i: number) => {
      const t = Math.floor(i / (H * Dh)) % T;
      return ![...Array(S).keys()].some((j) => c.mask(t, j));
    };
    it(`${c.name}: forward and gradient equal the unfused definition`, () => {
      const [q, k, v, mask, w] = inputs(c, 7);
      const f = prog.runSync('fused', [q!, k!, v!, mask!]).tensors[0]!;
      const u = prog.runSync('unfused', [q!, k!, v!, mask!]).tensors[0]!;
      expect(normErr(f, u, empty)).toBeLessThan(1e-6);
      for (let i = 0; i < f.data.length; i++) if (empty(i)) expect(f.data[i]).toBe(0);
      if (c.dims[1] !== 6) {
        // (with an empty row the unfused gradient is NaN)
        const gf = prog.runSync('gf', [q!, k!, v!, mask!, w!]).tensors;
        const gu = prog.runSync('gu', [q!, k!, v!, mask!, w!]).tensors;
        gf.forEach((g, i) => expect(normErr(g, gu[i]!), `result ${i}`).toBeLessThan(1e-5));
      }
    });

    it(`${c.name}: the gradient matches central finite differences (f64)`, () => {
      const xs = inputs(c, 11, true);
      const g = prog.runSync('gf', xs, { f64: true }).tensors;
      const lossAt = () => prog.runSync('loss', xs, { f64: true }).tensors[0]!.data[0]!;
      const r = mulberry32(5);
      for (const a of [0, 1, 2]) {
        const t = xs[a]!;
        for (let n = 0; n < 6; n++) {
          const i = Math.floor(r() * t.data.length);
          const fd = centralDiff(lossAt, t, i);
          expect(Math.abs(g[1 + a]!.data[i]! - fd), `operand ${a} element ${i}`).toBeLessThan(
            1e-6 * Math.max(1, Math.abs(fd)),
          );
        }
      }
    });

    it(`${c.name}: Wasm kernels (fused, unfused, 2 threads) equal the interpreter`, () => {
      const xs = inputs(c, 13);
      const want = prog.runSync('gf', xs).tensors;
      const runs = { fused: {}, unfused: { noFusion: true }, '2 threads': { device: { kind: 'wasm' as const, pool } } };
      for (const [name, opts] of Object.entries(runs)) {
        const got = prog.runSync('gf', xs, { device: { kind: 'wasm' }, ...opts }).tensors;
        got.forEach((g, i) => expect(normErr(g, want[i]!), `${name} result ${i}`).toBeLessThan(2e-5));
      }
    });

    it(`${c.name}: WGSL kernels equal the interpreter${gpuNote}`, async () => {
      if (!gpu) return;
      const xs = inputs(c, 17);
      const want = prog.runSync('gf', xs).tensors;
      const got = (await prog.run('gf', xs, { device: { kind: 'webgpu', gpu } })).tensors;
      got.forEach((g, i) => expect(normErr(g, want[i]!), `result ${i}`).toBeLessThan(2e-5));
    });
  }

  it('reports misuse as a type error with the argument position', () => {
    const bad = compile(
      `pub fn f(q: f32[1, 4, 2, 8], k: f32[1, 4, 3, 8], m: bool[4, 4]) -> f32[1, 4, 2, 8] = sdpa(q, k, k, m)\n`,
      { path: 'bad.obt' },
    );
    expect(bad.ok).toBe(false);
    expect(JSON.stringify(bad.ok ? [] : bad.diagnostics.map((d) => d.message))).toMatch(
      /query heads are not a multiple of the 3 KV heads/,
    );
  });
});
