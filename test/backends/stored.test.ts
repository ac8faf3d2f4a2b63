// f32 tensors held at a stored precision (runtime/core/stored.ts: bf16 or IEEE half words): the
// Wasm kernels read the 16-bit words and convert in registers. A run with stored inputs equals,
// bit for bit, the run with their widened f32 values (the conversion is exact and nothing else
// changes), for dot products (rows of B stored; the vector and the scalar k tails), gathers,
// elementwise and reduction loops (vector and lane-wise loads), transposes and the templates that
// read f32 words themselves (their stored operands are widened instead), on one thread and split
// across two; every half bit pattern (subnormals, ±0, ±inf, NaN) converts as the table does; the
// plan holds a stored input in 2 bytes an element; the interpreter computes with the values.
import { afterAll, describe, expect, it } from 'vitest';
import { compile, type Device } from '../../compiler/api.ts';
import { mulberry32 } from '../../runtime/core/rng.ts';
import { storedToFloats, widen } from '../../runtime/core/stored.ts';
import { fromNested, type Stored, type Tensor } from '../../runtime/core/tensor.ts';
import { NodeThreadPool } from '../../runtime/env/node_threads.ts';
import { compileWasm } from '../../compiler/pipeline.ts';
import { gpu, gpuNote } from '../helpers/gpu.ts';

const pool = new NodeThreadPool(2);
afterAll(() => pool.close());

const src = `
import nn
fn mm[M, N, K](x: f32[M, K], w: f32[N, K]) -> f32[M, N] = silu(x @ transpose(w))
fn gather[V, D, T](emb: f32[V, D], ids: i32[T]) -> f32[T, D] = emb[ids] * 2.0
fn ew[A, B](w: f32[A, B], b: f32[B]) -> f32[A, B] = w * 1.0 + 0.0 * b
fn red[A, B](w: f32[A, B]) -> f32[A] = sum(w * w, axis: -1)
fn col[A, B](w: f32[A, B]) -> f32[B] = max(w, axis: 0)
fn tr[A, B](w: f32[A, B]) -> f32[B, A] = transpose(w) * 1.0
fn sl[M, O, I](x: f32[M, I], w: f32[O, I], g: f32[I], h: f32[O]) -> f32[M, O] = signlinear(x, pack_sign(w), g, h)
fn same[A](w: f32[A]) -> f32[A] = w
`;
const prog = compile(src, { path: 'stored.obt' });
if (!prog.ok) throw new Error(prog.diagnostics.map((d) => d.message).join('\n'));

/** Random finite words of a format, values about ±scale (bf16 / f16 bit patterns of normal numbers). */
function words(s: Stored, n: number, seed: number): Uint16Array {
  const r = mulberry32(seed);
  const f = Float32Array.from({ length: n }, () => (r() * 2 - 1) * 3);
  const u = new Uint32Array(f.buffer);
  return Uint16Array.from(u, (b, i) => {
    if (s === 'bf16') return b >>> 16;
    // an f16 of about the same value: sign, exponent rebased, the top 10 mantissa bits
    const v = Math.abs(f[i]!);
    const e = Math.max(1, Math.min(30, Math.floor(Math.log2(v || 1e-4)) + 15));
    return ((b >>> 16) & 0x8000) | (e << 10) | ((b >>> 13) & 0x3ff);
  });
}

const stored = (s: Stored, shape: number[], data: Uint16Array): Tensor => ({ dtype: 'f32', shape, data, stored: s });
const f32 = (shape: number[], seed: number): Tensor => {
  const r = mulberry32(seed);
  const t = fromNested(0, 'f32');
  return { ...t, shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1) };
};
const bits = (t: Tensor) => Array.from(new Uint32Array(Float32Array.from(t.data).buffer));

const devices: [string, Device | undefined][] = [
  ['Wasm, one thread', { kind: 'wasm' }],
  ['Wasm, two threads', { kind: 'wasm', pool }],
  [`WebGPU${gpuNote}`, gpu && { kind: 'webgpu', gpu }],
];

describe('stored-precision inputs on Wasm and WebGPU', () => {
  for (const s of ['bf16', 'f16'] as const)
    for (const [name, dev] of devices)
      it.skipIf(!dev)(
        `${s}, ${name}: every kernel kind equals the run with the widened values, bit for bit`,
        async () => {
          const cases: [string, (w: Tensor) => Tensor[], number[]][] = [
            ['mm', (w) => [f32([5, w.shape[1]!], 1), w], [64, 36]], // k: 8 steps of 4 and a scalar tail
            ['mm', (w) => [f32([33, w.shape[1]!], 2), w], [130, 128]], // blocks of B, split rows
            ['mm', (w) => [f32([1, w.shape[1]!], 3), w], [7, 5]],
            ['gather', (w) => [w, fromNested([3, 0, 9, 3], 'i32')], [10, 12]],
            ['ew', (w) => [w, f32([w.shape[1]!], 4)], [9, 11]],
            ['red', (w) => [w], [6, 37]],
            ['col', (w) => [w], [37, 6]],
            ['tr', (w) => [w], [8, 12]],
            [
              'sl',
              (w) => [
                f32([3, w.shape[1]!], 5),
                f32([w.shape[0]!, w.shape[1]!], 6),
                w.shape[1]! === 40 ? sub(w) : w,
                f32([w.shape[0]!], 7),
              ],
              [1, 40],
            ],
            ['same', (w) => [w], [19]],
          ];
          for (const [entry, args, shape] of cases) {
            const n = shape.reduce((a, b) => a * b, 1);
            const w = stored(s, shape, words(s, n, n));
            const ins = args(w);
            const wide = ins.map(widen);
            const got = (await prog.run(entry, ins, { device: dev })).tensors;
            const want = (await prog.run(entry, wide, { device: dev })).tensors;
            expect(got.map(bits), `${entry} ${shape.join('×')}`).toEqual(want.map(bits));
            const ref = (await prog.run(entry, ins)).tensors[0]!;
            const r0 = Float32Array.from(ref.data);
            const g0 = Float32Array.from(got[0]!.data);
            r0.forEach((v, i) =>
              expect(Math.abs(g0[i]! - v), `${entry} [${i}] vs the interpreter`).toBeLessThan(1e-4 * (1 + Math.abs(v))),
            );
          }
        },
      );

  it('converts every f16 and bf16 bit pattern as the table does (subnormals, ±0, ±inf, NaN), vector and scalar; WebGPU too', async () => {
    for (const dev of [{ kind: 'wasm' }, ...(gpu ? [{ kind: 'webgpu', gpu }] : [])] as Device[])
      for (const s of ['bf16', 'f16'] as const) {
        const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
        for (const len of [65536, 65535]) {
          const w = stored(s, [len], all.slice(0, len));
          const [got] = (await prog.run('ew', [{ ...w, shape: [1, len] }, f32([len], 8)], { device: dev })).tensors;
          const want = storedToFloats(s, w.data as Uint16Array);
          const g = got!.data as Float32Array;
          for (let i = 0; i < len; i++)
            if (!(Object.is(g[i], want[i]) || (Number.isNaN(g[i]) && Number.isNaN(want[i]))))
              expect.fail(`${dev.kind} ${s} word 0x${i.toString(16)}: ${g[i]} vs ${want[i]}`);
        }
      }
  });

  it('holds a stored input in 2 bytes an element; a program is compiled for the inputs’ storage', async () => {
    const low = prog.lower('mm', prog.argTypes(prog.entry('mm'), [f32([2, 8], 1), f32([16, 8], 2)]).types);
    const p = compileWasm(low.func, { stored: [undefined, 'bf16'] }).plan;
    expect(p.buffers[p.inputs[1]!]).toMatchObject({ stored: 'bf16', bytes: 16 * 8 * 2 });
    expect(p.buffers[p.inputs[0]!]!.bytes).toBe(2 * 8 * 4);
    // one bound entry, run with f32, then bf16, then f16 weights: each run's own values
    const x = f32([2, 8], 3);
    for (const s of ['bf16', 'f16', undefined] as const) {
      const w = s ? stored(s, [16, 8], words(s, 128, 9)) : f32([16, 8], 9);
      const got = (await prog.run('mm', [x, w], { device: { kind: 'wasm' } })).tensors[0]!;
      const want = (await prog.run('mm', [x, widen(w)], { device: { kind: 'wasm' } })).tensors[0]!;
      expect(bits(got)).toEqual(bits(want));
    }
  });
});

/** A g vector for signlinear: the first row of a stored matrix, still stored. */
function sub(w: Tensor): Tensor {
  return { ...w, shape: [w.shape[1]!], data: (w.data as Uint16Array).slice(0, w.shape[1]!) };
}
