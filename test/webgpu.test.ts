// WebGPU kernels on shapes the conformance programs do not reach: one workgroup per output with a
// tree reduction (long reductions, K ≥ 128 contractions, signlinear over ≥ 256 inputs), batches,
// odd sizes, bool-valued epilogues; against the reference interpreter. SwiftShader in CI (there a
// missing adapter fails instead of skipping).
import { describe, expect, it } from 'vitest';
import { compile } from '../compiler/api.ts';
import { alloc, type Tensor } from '../runtime/tensor.ts';
import { mulberry32 } from '../runtime/rng.ts';
import { gpu, gpuNote } from './helpers/gpu.ts';
import { emitWgsl, wgslMode } from '../compiler/emit/wgsl/kernel.ts';
import { fuse } from '../compiler/fuse/fuse.ts';
import { closeNormwise } from './helpers/close.ts';


function rand(shape: number[], seed: number): Tensor {
  const t = alloc('f32', shape);
  const r = mulberry32(seed);
  for (let i = 0; i < t.data.length; i++) t.data[i] = r() * 2 - 1;
  return t;
}

const src = `
import nn
fn mm[B, M, N, K](a: f32[B, M, K], b: f32[B, N, K], c: f32[B, M, N]) -> f32[B, M, N] = tanh(einsum("bmk,bnk->bmn", a, b) + c)
fn pos[M, N, K](a: f32[M, K], b: f32[N, K]) -> bool[M, N] = a @ transpose(b) > 0.0
fn sl[M, O, I](x: f32[M, I], w: f32[O, I], g: f32[I], h: f32[O]) -> f32[M, O] = layernorm0(signlinear(x, pack_sign(w), g, h)) + 1.0
fn rows[A, B](x: f32[A, B]) -> f32[A, B] = softmax(x * 3.0, axis: -1) + x * rsqrt(mean(x * x, axis: -1, keep: true) + 1e-5)
fn total[A, B](x: f32[A, B]) -> f32 = sum(x * x)
fn amax[A, B](x: f32[A, B]) -> i32[A] = argmax(x, axis: -1)
`;
const prog = compile(src, { path: 'webgpu.obt' });

describe(`webgpu kernels${gpuNote}`, () => {
  const cases: [string, number[][]][] = [
    ['mm', [[2, 3, 300], [2, 7, 300], [2, 3, 7]]],
    ['mm', [[1, 1, 1030], [1, 9, 1030], [1, 1, 9]]],
    ['pos', [[5, 257], [6, 257]]],
    ['sl', [[1, 1000], [9, 1000], [1000], [9]]],
    ['sl', [[3, 300], [5, 300], [300], [5]]],
    ['rows', [[5, 600]]],
    ['total', [[40, 37]]],
    ['amax', [[3, 700]]],
  ];
  for (const [entry, shapes] of cases)
    it.skipIf(!gpu)(`${entry} ${shapes.map((s) => s.join('×')).join(', ')}`, async () => {
      expect(prog.diagnostics.map((d) => d.message)).toEqual([]);
      const args = shapes.map((s, i) => rand(s, 50 + i));
      const ref = prog.run(entry, args).tensors[0]!;
      const got = (await prog.runAsync(entry, args, { backend: 'webgpu', gpu })).tensors[0]!;
      const m = closeNormwise(got, ref, 2e-5);
      if (m) expect.fail(m);
    });

  it('long reductions and contractions get one workgroup per output', () => {
    const modes = (entry: string, shapes: number[][]) => {
      const low = prog.lower(entry, prog.argTypes(prog.entry(entry), shapes.map((s, i) => rand(s, i))).types);
      return fuse(low.func).steps.flatMap((s) => (s.kind === 'kernel' ? [wgslMode(s.kernel)] : []));
    };
    expect(modes('mm', [[2, 3, 300], [2, 7, 300], [2, 3, 7]])).toContain('workgroup');
    expect(modes('sl', [[1, 1000], [9, 1000], [1000], [9]])).toContain('workgroup');
    expect(modes('rows', [[5, 600]])).toContain('workgroup');
    expect(modes('mm', [[1, 2, 8], [1, 3, 8], [1, 2, 3]])).toEqual(['element']);
    const low = prog.lower('total', prog.argTypes(prog.entry('total'), [rand([40, 37], 1)]).types);
    const k = fuse(low.func).steps.find((s) => s.kind === 'kernel');
    expect(k && k.kind === 'kernel' && emitWgsl(k.kernel)).toMatch(/workgroupBarrier\(\)/);
  });
});

describe(`webgpu buffer pool${gpuNote}`, () => {
  it.skipIf(!gpu)('buffers come from size classes and are reused after a program is disposed', async () => {
    const a = gpu!.acquire(1000);
    expect(a.size).toBe(1024);
    gpu!.release([a]);
    expect(gpu!.acquire(700)).toBe(a); // same class (1024): the released buffer
    const { compileWebGpu } = await import('../runtime/webgpu/exec.ts');
    const args = [rand([5, 600], 3)];
    const low = prog.lower('rows', prog.argTypes(prog.entry('rows'), args).types);
    const ref = prog.run('rows', args).tensors[0]!;
    for (let i = 0; i < 3; i++) {
      const p = compileWebGpu(low.func, gpu!);
      const got = (await p.run(args))[0]!;
      expect(closeNormwise(got, ref, 2e-5)).toBeUndefined();
      p.dispose();
    }
  });
});
