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

/** Random finite data of a format, values about ±3: bf16 / f16 bit patterns of normal numbers, or
 *  Q8_0 blocks (an f16 scale about 1/40, 32 random int8). */
function words(s: Stored, n: number, seed: number): Uint16Array | Uint8Array {
  const r = mulberry32(seed);
  if (s === 'q8_0') {
    const b = new Uint8Array((n / 32) * 34);
    for (let o = 0; o < b.length; o += 34) {
      b[o] = Math.floor(r() * 256); // the scale's low mantissa bits
      b[o + 1] = 0x28 | (r() < 0.2 ? 0x80 : 0); // 2^-5 · (1 + m), a fifth of them negative
      for (let j = 0; j < 32; j++) b[o + 2 + j] = Math.floor(r() * 256);
    }
    return b;
  }
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

const stored = (s: Stored, shape: number[], data: Uint16Array | Uint8Array): Tensor => ({
  dtype: 'f32',
  shape,
  data,
  stored: s,
});
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

/** Each entry with the shape of its stored operand: Q8_0's hold whole blocks (a multiple of 32
 *  elements); its dot rows are whole blocks long, but for one (K = 40: that operand is widened). */
function cases(s: Stored): [string, (w: Tensor) => Tensor[], number[]][] {
  const q = s === 'q8_0';
  const x = (m: number, seed: number) => (w: Tensor) => [f32([m, w.shape[1]!], seed), w];
  return [
    ['mm', x(5, 1), q ? [64, 64] : [64, 36]], // k: steps of 4, and (bf16, f16) a scalar tail
    ['mm', x(33, 2), [130, 128]], // blocks of B, split rows
    ['mm', x(1, 3), q ? [7, 32] : [7, 5]],
    ...(q ? [['mm', x(3, 4), [32, 40]] as [string, (w: Tensor) => Tensor[], number[]]] : []),
    ['gather', (w) => [w, fromNested([3, 0, 9, 3], 'i32')], q ? [10, 32] : [10, 12]],
    ['ew', (w) => [w, f32([w.shape[1]!], 4)], q ? [9, 32] : [9, 11]],
    ['red', (w) => [w], q ? [6, 64] : [6, 37]],
    ['col', (w) => [w], q ? [32, 6] : [37, 6]],
    ['tr', (w) => [w], q ? [8, 32] : [8, 12]],
    // signlinear reads its g itself: a stored g is widened
    ['sl', (w) => [f32([3, w.shape[0]!], 5), f32([2, w.shape[0]!], 6), w, f32([2], 7)], q ? [64] : [40]],
    ['same', (w) => [w], q ? [32] : [19]],
  ];
}

describe('stored-precision inputs on Wasm and WebGPU', () => {
  for (const s of ['bf16', 'f16', 'q8_0'] as const)
    for (const [name, dev] of devices)
      it.skipIf(!dev)(
        `${s}, ${name}: every kernel kind equals the run with the widened values, bit for bit${s === 'q8_0' && dev?.kind === 'webgpu' ? ' (uploaded widened)' : ''}`,
        async () => {
          for (const [entry, args, shape] of cases(s)) {
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
            if (!(g[i] === want[i] || (Number.isNaN(g[i]) && Number.isNaN(want[i]))))
              expect.fail(`${dev.kind} ${s} word 0x${i.toString(16)}: ${g[i]} vs ${want[i]}`);
        }
      }
  });

  it('converts every Q8_0 int8 under scales of every kind (±0, subnormal, normal, largest, ±inf, NaN) as the reference does', async () => {
    const scales = [0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0xbc00, 0x2e66, 0x7bff, 0x7c00, 0xfc00, 0x7e00];
    const b = new Uint8Array(scales.length * 8 * 34); // 8 blocks a scale: the 256 int8 values
    scales.forEach((d, k) => {
      for (let blk = 0; blk < 8; blk++) {
        const o = (k * 8 + blk) * 34;
        b[o] = d & 0xff;
        b[o + 1] = d >> 8;
        for (let j = 0; j < 32; j++) b[o + 2 + j] = blk * 32 + j;
      }
    });
    const n = scales.length * 256;
    const w = stored('q8_0', [1, n], b);
    const [got] = (await prog.run('ew', [w, f32([n], 8)], { device: { kind: 'wasm' } })).tensors;
    const want = storedToFloats('q8_0', b);
    const g = got!.data as Float32Array;
    for (let i = 0; i < n; i++)
      if (!(g[i] === want[i] || (Number.isNaN(g[i]) && Number.isNaN(want[i]))))
        expect.fail(
          `scale 0x${scales[Math.floor(i / 256)]!.toString(16)}, int8 ${((i % 256) << 24) >> 24}: ${g[i]} vs ${want[i]}`,
        );
  });

  it('holds a stored input in 2 bytes an element (Q8_0: 34 bytes a block); a program is compiled for the inputs’ storage', async () => {
    const low = prog.lower('mm', prog.argTypes(prog.entry('mm'), [f32([2, 8], 1), f32([16, 8], 2)]).types);
    const p = compileWasm(low.func, { stored: [undefined, 'bf16'] }).plan;
    expect(p.buffers[p.inputs[1]!]).toMatchObject({ stored: 'bf16', bytes: 16 * 8 * 2 });
    expect(p.buffers[p.inputs[0]!]!.bytes).toBe(2 * 8 * 4);
    // Q8_0 rows a whole number of blocks long (K = 32): 4 blocks of 34 bytes; with K = 8 it is widened
    const low32 = prog.lower('mm', prog.argTypes(prog.entry('mm'), [f32([2, 32], 1), f32([4, 32], 2)]).types);
    const q = compileWasm(low32.func, { stored: [undefined, 'q8_0'] }).plan;
    expect(q.buffers[q.inputs[1]!]).toMatchObject({ stored: 'q8_0', bytes: 144 });
    const q8 = compileWasm(low.func, { stored: [undefined, 'q8_0'] }).plan;
    expect(q8.buffers[q8.inputs[1]!]!.stored).toBeUndefined();
    // one entry, run with f32, then bf16, f16 and Q8_0 weights: each run's own values
    const x = f32([2, 32], 3);
    for (const s of ['bf16', 'f16', 'q8_0', undefined] as const) {
      const w = s ? stored(s, [16, 32], words(s, 512, 9)) : f32([16, 32], 9);
      const got = (await prog.run('mm', [x, w], { device: { kind: 'wasm' } })).tensors[0]!;
      const want = (await prog.run('mm', [x, widen(w)], { device: { kind: 'wasm' } })).tensors[0]!;
      expect(bits(got)).toEqual(bits(want));
    }
  });
});
