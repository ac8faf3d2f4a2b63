// The Wasm backend with a worker_threads pool (runtime/env/node_threads.ts): kernels big enough
// are split across threads over one shared memory; the results equal the single-threaded ones
// (each output is computed by exactly one thread, in the same order) and the reference's.
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../compiler/api.ts';
import { alloc, type Tensor } from '../../runtime/core/tensor.ts';
import { mulberry32 } from '../../runtime/core/rng.ts';
import { NodeThreadPool } from '../../runtime/env/node_threads.ts';
import { split } from '../../runtime/wasm/pool.ts';
import { compileWasm } from '../../compiler/pipeline.ts';
import { closeNormwise } from '../helpers/close.ts';

function rand(shape: number[], seed: number): Tensor {
  const t = alloc('f32', shape);
  const r = mulberry32(seed);
  for (let i = 0; i < t.data.length; i++) t.data[i] = r() * 2 - 1;
  return t;
}

const pools = [new NodeThreadPool(2), new NodeThreadPool(3)];
afterAll(() => pools.forEach((p) => p.close()));

describe('split', () => {
  it('covers [0, units) with aligned starts', () => {
    for (const [u, t, a] of [
      [10, 3, 1],
      [4096, 2, 4],
      [7, 2, 4],
      [5, 8, 1],
      [33, 3, 4],
    ] as const) {
      const s = split(u, t, a);
      expect(s.length).toBeLessThanOrEqual(t);
      expect(s[0]![0]).toBe(0);
      expect(s[s.length - 1]![1]).toBe(u);
      s.forEach(([lo, hi], i) => {
        expect(lo % a).toBe(0);
        expect(hi).toBeGreaterThan(lo);
        if (i) expect(lo).toBe(s[i - 1]![1]);
      });
    }
  });
});

describe('wasm backend with threads', () => {
  const src = `
import nn
fn mm[M, N, K](a: f32[M, K], b: f32[N, K]) -> f32[M, N] = tanh(a @ transpose(b)) * 2.0
fn bmm[B, M, N, K](a: f32[B, M, K], b: f32[B, N, K]) -> f32[B, M, N] = einsum("bmk,bnk->bmn", a, b)
fn sl[M, O, I](x: f32[M, I], w: f32[O, I], g: f32[I], h: f32[O]) -> f32[M, O] = layernorm0(signlinear(x, pack_sign(w), g, h))
fn rows[A, B](x: f32[A, B]) -> f32[A, B] = softmax(x * 3.0, axis: -1) + rmsnorm0(x)
fn rmsnorm0[A, B](x: f32[A, B]) -> f32[A, B] = x * rsqrt(mean(x * x, axis: -1, keep: true) + 1e-5)
fn cols[A, B](x: f32[A, B], y: f32[A, B]) -> f32[B] = sum(x * y, axis: 0) * 0.5
fn tr[A, B](x: f32[A, B]) -> f32[B, A] = transpose(x)
fn tr3[A, B, C](x: f32[A, B, C]) -> f32[C, A, B] = einsum("abc->cab", x)
`;
  const prog = compile(src, { path: 'threads.obt' });
  const cases: [string, number[][]][] = [
    [
      'mm',
      [
        [9, 301],
        [203, 301],
      ],
    ],
    [
      'mm',
      [
        [1, 1024],
        [517, 1024],
      ],
    ],
    // more rows of A than of B: threads take rows of A (an odd last slice, k chunks of 1024)
    [
      'mm',
      [
        [301, 64],
        [37, 64],
      ],
    ],
    [
      'mm',
      [
        [203, 1100],
        [9, 1100],
      ],
    ],
    [
      'bmm',
      [
        [3, 5, 200],
        [3, 130, 200],
      ],
    ],
    ['sl', [[1, 2000], [301, 2000], [2000], [301]]],
    ['sl', [[4, 2048], [130, 2048], [2048], [130]]],
    ['rows', [[257, 600]]],
    // transposes move 4×4 tiles (compiler/backends/wasm/emit/transpose.ts)
    ['tr', [[2048, 64]]],
    ['tr3', [[16, 256, 36]]],
    // one output row: its elements are the units (4-aligned slices, a tail of 3)
    [
      'cols',
      [
        [2048, 1203],
        [2048, 1203],
      ],
    ],
  ];
  for (const [entry, shapes] of cases)
    it(`${entry} ${shapes.map((s) => s.join('×')).join(', ')}: 2 and 3 threads ≡ 1 thread ≡ reference`, () => {
      expect(prog.diagnostics.map((d) => d.message)).toEqual([]);
      const args = shapes.map((s, i) => rand(s, 7 + i));
      const ref = prog.runSync(entry, args).tensors[0]!;
      const one = prog.runSync(entry, args, { device: { kind: 'wasm' } }).tensors[0]!;
      expect(closeNormwise(one, ref, 1e-5)).toBeUndefined();
      for (const pool of pools) {
        const low = prog.lower(entry, prog.argTypes(prog.entry(entry), args).types);
        const before = pool.dispatches;
        const got = compileWasm(low.func, { pool }).run(args)[0]!;
        expect(pool.dispatches, 'a kernel was split across threads').toBeGreaterThan(before);
        expect(Array.from(got.data), `${pool.threads} threads`).toEqual(Array.from(one.data));
      }
    });
});
