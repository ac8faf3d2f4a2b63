// WebGPU kernels on shapes the conformance programs do not reach: one workgroup per output with a
// tree reduction (long reductions, K ≥ 128 contractions, signlinear over ≥ 256 inputs), batches,
// odd sizes, bool-valued epilogues; against the reference interpreter. SwiftShader in CI (there a
// missing adapter fails instead of skipping).
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/api.ts';
import { alloc, type Tensor } from '../../runtime/core/tensor.ts';
import { mulberry32 } from '../../runtime/core/rng.ts';
import { gpu, gpuNote } from '../helpers/gpu.ts';
import { kernelMode as wgslMode, kernelWgsl as emitWgsl } from '../../compiler/backends/webgpu/codegen.ts';
import { plan as wgpuPlan, schedule } from '../../compiler/pipeline.ts';
import { planWgsl, webgpuPlan } from '../../compiler/backends/webgpu/artifact/target.ts';
import { checkDeviceLimits } from '../../runtime/webgpu/program.ts';
import { UserError } from '../../runtime/core/errors.ts';
import { closeNormwise } from '../helpers/close.ts';

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
fn bsl[M, O, I, K](x: f32[M, I], w: f32[O, I], d: f32[O, K]) -> f32[M, O] = blocksignlinear(x, pack_sign(w), d) + 1.0
fn rows[A, B](x: f32[A, B]) -> f32[A, B] = softmax(x * 3.0, axis: -1) + x * rsqrt(mean(x * x, axis: -1, keep: true) + 1e-5)
fn total[A, B](x: f32[A, B]) -> f32 = sum(x * x)
fn amax[A, B](x: f32[A, B]) -> i32[A] = argmax(x, axis: -1)
`;
const prog = compile(src, { path: 'webgpu.obt' });

describe(`webgpu kernels${gpuNote}`, () => {
  const cases: [string, number[][]][] = [
    [
      'mm',
      [
        [2, 3, 300],
        [2, 7, 300],
        [2, 3, 7],
      ],
    ],
    [
      'mm',
      [
        [1, 1, 1030],
        [1, 9, 1030],
        [1, 1, 9],
      ],
    ],
    [
      'mm',
      [
        [2, 1, 1024],
        [2, 37, 1024],
        [2, 1, 37],
      ],
    ],
    [
      'pos',
      [
        [5, 257],
        [6, 257],
      ],
    ],
    ['sl', [[1, 1000], [9, 1000], [1000], [9]]],
    ['sl', [[3, 300], [5, 300], [300], [5]]],
    ['rows', [[5, 600]]],
    ['total', [[40, 37]]],
    ['amax', [[3, 700]]],
    // tiled: odd M/N/K (partial tiles, zero-padded K steps), batches, bool epilogue, signlinear
    [
      'mm',
      [
        [3, 33, 45],
        [3, 17, 45],
        [3, 33, 17],
      ],
    ],
    [
      'mm',
      [
        [2, 70, 300],
        [2, 40, 300],
        [2, 70, 40],
      ],
    ],
    [
      'mm',
      [
        [1, 16, 1],
        [1, 16, 1],
        [1, 16, 16],
      ],
    ],
    [
      'pos',
      [
        [47, 9],
        [33, 9],
      ],
    ],
    ['sl', [[37, 70], [19, 70], [70], [19]]],
    ['sl', [[300, 64], [172, 64], [64], [172]]],
    ['sl', [[520, 300], [260, 300], [300], [260]]],
    // the decode template: ROWS outputs per workgroup (O not a multiple of it), vec4 x and g
    ['sl', [[3, 512], [13, 512], [512], [13]]],
    ['sl', [[1, 1024], [1001, 1024], [1024], [1001]]],
    // blocksignlinear: one output per invocation, the decode template, tiles
    [
      'bsl',
      [
        [1, 96],
        [5, 96],
        [5, 3],
      ],
    ],
    [
      'bsl',
      [
        [3, 512],
        [13, 512],
        [13, 4],
      ],
    ],
    [
      'bsl',
      [
        [40, 256],
        [19, 256],
        [19, 2],
      ],
    ],
  ];
  for (const [entry, shapes] of cases)
    it.skipIf(!gpu)(`${entry} ${shapes.map((s) => s.join('×')).join(', ')}`, async () => {
      expect(prog.diagnostics.map((d) => d.message)).toEqual([]);
      const args = shapes.map((s, i) => rand(s, 50 + i));
      const ref = prog.runSync(entry, args).tensors[0]!;
      const got = (await prog.run(entry, args, { device: { kind: 'webgpu', gpu: gpu! } })).tensors[0]!;
      const m = closeNormwise(got, ref, 2e-5);
      if (m) expect.fail(m);
    });

  it('long reductions get one workgroup per output, contractions over many rows workgroup tiles', () => {
    const modes = (entry: string, shapes: number[][]) => {
      const low = prog.lower(
        entry,
        prog.argTypes(
          prog.entry(entry),
          shapes.map((s, i) => rand(s, i)),
        ).types,
      );
      return schedule(low.func, { inPlaceKernels: false }).steps.flatMap((s) =>
        s.kind === 'kernel' ? [wgslMode(s.kernel)] : [],
      );
    };
    expect(
      modes('mm', [
        [2, 3, 300],
        [2, 7, 300],
        [2, 3, 7],
      ]),
    ).toContain('workgroup');
    expect(modes('sl', [[1, 1000], [9, 1000], [1000], [9]])).toContain('workgroup');
    expect(modes('sl', [[1, 1024], [1001, 1024], [1024], [1001]])).toContain('workgroup');
    expect(
      modes('bsl', [
        [3, 512],
        [13, 512],
        [13, 4],
      ]),
    ).toContain('workgroup');
    expect(
      modes('bsl', [
        [40, 256],
        [19, 256],
        [19, 2],
      ]),
    ).toContain('tile');
    expect(modes('rows', [[5, 600]])).toContain('workgroup');
    expect(
      modes('mm', [
        [1, 2, 8],
        [1, 3, 8],
        [1, 2, 3],
      ]),
    ).toEqual(['element']);
    expect(
      modes('mm', [
        [3, 33, 45],
        [3, 17, 45],
        [3, 33, 17],
      ]),
    ).toEqual(['tile']);
    expect(modes('sl', [[37, 70], [19, 70], [70], [19]])).toContain('tile');
    // a long K with few output tiles: one workgroup per output spreads it further
    expect(
      modes('mm', [
        [1, 40, 5000],
        [1, 40, 5000],
        [1, 40, 40],
      ]),
    ).toEqual(['workgroup']);
    const low = prog.lower('total', prog.argTypes(prog.entry('total'), [rand([40, 37], 1)]).types);
    const k = schedule(low.func, { inPlaceKernels: false }).steps.find((s) => s.kind === 'kernel');
    expect(k && k.kind === 'kernel' && emitWgsl(k.kernel)).toMatch(/workgroupBarrier\(\)/);
  });
});

describe(`webgpu buffer pool${gpuNote}`, () => {
  it.skipIf(!gpu)('buffers come from size classes and are reused after a program is disposed', async () => {
    const a = gpu!.acquire(1000);
    expect(a.size).toBe(1024);
    gpu!.release([a]);
    expect(gpu!.acquire(700)).toBe(a); // same class (1024): the released buffer
    const { compileWebGpu } = await import('../../compiler/pipeline.ts');
    const args = [rand([5, 600], 3)];
    const low = prog.lower('rows', prog.argTypes(prog.entry('rows'), args).types);
    const ref = prog.runSync('rows', args).tensors[0]!;
    for (let i = 0; i < 3; i++) {
      const p = await compileWebGpu(low.func, gpu!);
      const got = (await p.run(args))[0]!;
      expect(closeNormwise(got, ref, 2e-5)).toBeUndefined();
      p.dispose();
    }
  });
});

describe(`webgpu pipelines${gpuNote}`, () => {
  const code = (tag: string) =>
    `// ${tag}\n@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u) { if (gid.x < arrayLength(&out)) { out[gid.x] = f32(gid.x); } }\n`;
  it.skipIf(!gpu)('concurrent requests for one WGSL text share one compilation', async () => {
    const c = code(`dedup ${Math.random()}`);
    const before = gpu!.pipelinesInFlight;
    const p1 = gpu!.pipelineAsync(c, 1);
    const p2 = gpu!.pipelineAsync(c, 1);
    expect(gpu!.pipelinesInFlight).toBe(before + 1);
    const [a, b] = await Promise.all([p1, p2]);
    expect(a).toBe(b);
    expect(gpu!.pipeline(c, 1)).toBe(a); // cached for the synchronous path too
    expect(await gpu!.pipelineAsync(c, 1)).toBe(a);
  });
  it.skipIf(!gpu)('a WGSL text the device rejects fails with its message and the source', async () => {
    const bad = code('bad').replace('f32(gid.x)', 'f32(gid.x) + undefined_name');
    await expect(gpu!.pipelineAsync(bad, 1)).rejects.toThrow(/could not build a compute pipeline[\s\S]*undefined_name/);
    expect(gpu!.pipelinesInFlight).toBe(0);
    expect(() => gpu!.throwIfFailed('after')).not.toThrow(); // reported once, not again by a later run
  });
});

describe(`webgpu donation through Program.runAsync${gpuNote}`, () => {
  const step = compile(
    `
pub fn step[N](w: f32[N], m: f32[N], g: f32[N]) -> (f32[N], f32[N], f32) {
  let m2 = m * 0.9 + g * 0.1
  let w2 = w - m2 * 0.5
  (w2, m2, sum(w2 * w2))
}`,
    { path: 'donate.obt' },
  );
  it.skipIf(!gpu)(
    'donated parameters are updated in place and, passed back, are not uploaded again; values equal the interpreter',
    async () => {
      expect(step.diagnostics.map((d) => d.message)).toEqual([]);
      const N = 300;
      const g = rand([N], 7);
      let ref: Tensor[] = [rand([N], 5), rand([N], 6)];
      let cur = ref;
      const q = gpu!.device.queue;
      const write = q.writeBuffer.bind(q);
      const uploads: number[] = [];
      q.writeBuffer = ((buf: GPUBuffer, off: number, data: ArrayBuffer, ...rest: never[]) => {
        uploads.push(data.byteLength);
        return write(buf, off, data, ...rest);
      }) as typeof q.writeBuffer;
      try {
        for (let i = 0; i < 3; i++) {
          uploads.length = 0;
          const got = (
            await step.run('step', [cur[0]!, cur[1]!, g], { device: { kind: 'webgpu', gpu: gpu! }, donateArgs: [0, 1] })
          ).tensors;
          const want = step.runSync('step', [ref[0]!, ref[1]!, g]).tensors;
          for (let j = 0; j < 3; j++) expect(closeNormwise(got[j]!, want[j]!, 1e-5)).toBeUndefined();
          // the first run uploads w, m and g; later ones nothing (g is the same tensor, w and m are the
          // results, left on the GPU in the donated buffers)
          expect(uploads).toEqual(i === 0 ? [N * 4, N * 4, N * 4] : []);
          cur = got;
          ref = want;
        }
      } finally {
        q.writeBuffer = write;
      }
      // the donated plan ends by copying w2 and m2 on the device into w's and m's buffers
      const low = step.lower('step', step.argTypes(step.entry('step'), [cur[0]!, cur[1]!, g]).types);
      const copies = async (donate?: number[]) =>
        (await step.webgpu(low, gpu!, { donate, readDonated: true })).plan.steps.filter((s) => s.op === 'copy');
      expect(await copies([0, 1])).toHaveLength(2);
      expect(await copies()).toHaveLength(0);
    },
  );
});

describe('webgpu device limits (checked without a GPU)', () => {
  // a plan whose output buffer is 4 MiB, against a device that binds at most 1 MiB
  const prog = compile('fn outer(a: f32[1024, 1], b: f32[1, 1024]) -> f32[1024, 1024] = a @ b\n', { path: 'lim.obt' });
  const args = [alloc('f32', [1024, 1]), alloc('f32', [1, 1024])];
  const low = prog.lower('outer', prog.argTypes(prog.entry('outer'), args).types);
  const plan = wgpuPlan(low.func, { ...webgpuPlan(8) });
  const wgsl = planWgsl(plan);
  const limits = (o: Partial<GPUSupportedLimits>) =>
    ({
      maxBufferSize: 2 ** 30,
      maxStorageBufferBindingSize: 2 ** 30,
      maxComputeWorkgroupsPerDimension: 65535,
      ...o,
    }) as GPUSupportedLimits;
  it('a buffer over maxStorageBufferBindingSize is refused before anything is allocated', () => {
    expect(() => checkDeviceLimits(plan, limits({ maxStorageBufferBindingSize: 2 ** 20 }), wgsl)).toThrow(
      /webgpu: a f32\[1024, 1024\] tensor needs a 4\.0 MiB buffer; this device binds at most 1\.0 MiB/,
    );
    expect(() => checkDeviceLimits(plan, limits({ maxBufferSize: 2 ** 21 }), wgsl)).toThrow(UserError);
  });
  it('a dispatch over maxComputeWorkgroupsPerDimension is refused', () => {
    expect(() => checkDeviceLimits(plan, limits({ maxComputeWorkgroupsPerDimension: 1 }), wgsl)).toThrow(
      /needs \d+ workgroups, more than this device dispatches \(1 per dimension\)/,
    );
  });
  it('within the limits it passes', () => expect(() => checkDeviceLimits(plan, limits({}), wgsl)).not.toThrow());
});
