// npm run bench -- --backend webgpu [--quick] [--json]: the WebGPU rows, side by side in one run —
// signlinear decode matvec and f32 matvec (GPU time per product and the fraction of the device's
// measured copy bandwidth on the bytes each must read), and a KD training step of stories260K in
// tokens/s next to the PyTorch eager reference (`onebit_torch_ref.py train`, when python3 with
// torch is there; OBT_TORCH_REF names the script, default ../shared/peers/onebit_torch_ref.py).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { compile } from '../compiler/api.ts';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { loadModel } from '../llm/load.ts';
import { fromNested, type Tensor } from '../runtime/core/tensor.ts';
import { mulberry32 } from '../runtime/core/rng.ts';
import { nodeGpuDevice } from '../runtime/env/node_gpu.ts';
import { compileWebGpu } from '../compiler/pipeline.ts';
import { Quantizer, trainingBlocks, type QuantizeOptions } from '../llm/quantize.ts';
import { DEFAULT_KD_DATA } from '../llm/defaults.ts';
import { peerKdOptions } from './peers.ts';

type Report = (c: string, ours: number, peer: string, peerMs: number | null, note?: string) => void;

function fill(n: number, seed: number, words = false): Float32Array | Uint32Array {
  const r = mulberry32(seed);
  if (words) {
    const u = new Uint32Array(n);
    for (let i = 0; i < n; i++) u[i] = (r() * 4294967296) >>> 0;
    return u;
  }
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = r() * 2 - 1;
  return f;
}

export async function benchWebGpu(quick: boolean, report: Report): Promise<void> {
  const gpu = await nodeGpuDevice();
  const bw = await gpu.copyGBs(quick ? 32 : 256, quick ? 3 : 10);
  report(`device copy bandwidth (${gpu.adapterName})`, NaN, 'measured bound', null, `${bw.toFixed(0)} GB/s`);
  const prog = compile(
    `fn sl[M, O, I](x: f32[M, I], s: sign[O, I], g: f32[I], h: f32[O]) -> f32[M, O] = signlinear(x, s, g, h)
fn mv[M, O, I](x: f32[M, I], w: f32[O, I]) -> f32[M, O] = x @ transpose(w)`,
    { path: 'bench.obt' },
  );
  const reps = quick ? 5 : 50;
  for (const N of quick ? [1024, 2048] : [4096, 16384]) {
    const x: Tensor = { dtype: 'f32', shape: [1, N], data: fill(N, 1) };
    const s: Tensor = { dtype: 'sign', shape: [N, N], data: fill((N * N) / 32, 2, true) };
    const g: Tensor = { dtype: 'f32', shape: [N], data: fill(N, 3) };
    const h: Tensor = { dtype: 'f32', shape: [N], data: fill(N, 4) };
    const gpuMs = async (entry: string, args: Tensor[]) => {
      const low = prog.lower(entry, prog.argTypes(prog.entry(entry), args).types);
      const p = await compileWebGpu(low.func, gpu);
      await p.run(args);
      const ms = await p.kernelMs(reps);
      p.dispose();
      return ms;
    };
    const slMs = await gpuMs('sl', [x, s, g, h]);
    const slBytes = (N * N) / 8 + 4 * (3 * N);
    report(
      `signlinear decode matvec ${N}x${N} (webgpu)`,
      slMs,
      'bandwidth bound',
      slBytes / bw / 1e6,
      `${((slBytes / slMs / 1e6 / bw) * 100).toFixed(1)} % of ${bw.toFixed(0)} GB/s`,
    );
    const w: Tensor = { dtype: 'f32', shape: [N, N], data: fill(N * N, 5) };
    const mvMs = await gpuMs('mv', [x, w]);
    const mvBytes = 4 * N * N + 8 * N;
    report(
      `f32 matvec ${N}x${N} (webgpu)`,
      mvMs,
      'bandwidth bound',
      mvBytes / bw / 1e6,
      `${((mvBytes / mvMs / 1e6 / bw) * 100).toFixed(1)} % of ${bw.toFixed(0)} GB/s; signlinear is ${(mvMs / slMs).toFixed(2)}× faster`,
    );
  }
  // one KD training step of stories260K
  const [B, T] = quick ? [2, 64] : [32, 256];
  const teacher = await loadModel(join(PROJECT_ROOT, 'data/stories260K.bin'));
  const o: QuantizeOptions = peerKdOptions(B, T, { kind: 'webgpu', gpu });
  const q = new Quantizer(teacher, o, () => {});
  const st = await q.start();
  const blocks = trainingBlocks((await import('node:fs')).readFileSync(DEFAULT_KD_DATA, 'utf8'), teacher, T, 1);
  const batch = blocks.slice(0, B).map((b) => fromNested(b, 'i32'));
  await q.step(st, batch);
  const ts: number[] = [];
  for (let i = 0; i < (quick ? 2 : 5); i++) {
    const t = performance.now();
    await q.step(st, batch);
    ts.push(performance.now() - t);
  }
  const ms = ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]!;
  const tps = (B * T) / (ms / 1000);
  const torch = torchTokensPerS();
  report(
    `KD training step stories260K ${B}x${T} (webgpu)`,
    ms,
    'PyTorch eager (onebit_torch_ref.py train)',
    torch.tps === null ? null : ((B * T) / torch.tps) * 1000,
    torch.tps === null ? torch.why! : `${tps.toFixed(0)} tokens/s vs ${torch.tps.toFixed(0)}`,
  );
}

function torchTokensPerS(): { tps: number | null; why?: string } {
  const script = process.env.OBT_TORCH_REF ?? join(PROJECT_ROOT, '../shared/peers/onebit_torch_ref.py');
  if (!existsSync(script)) return { tps: null, why: `could not run: ${script} not found` };
  const r = spawnSync('python3', [script, 'train', '--steps', '200', '--lr', '1e-3'], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  const m = /tokens_per_s\D*([\d.]+)/.exec(`${r.stdout}\n${r.stderr}`);
  if (r.status !== 0 || !m)
    return {
      tps: null,
      why: `could not run: ${(r.stderr || r.error?.message || 'no tokens_per_s').trim().split('\n').pop()}`,
    };
  return { tps: Number(m[1]) };
}
