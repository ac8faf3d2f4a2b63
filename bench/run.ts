// npm run bench [-- --json] [--quick] [--backend webgpu | --startup | --load | --lowbit |
// --kd-scale]: medians of repeated runs, measured in one process, with the ratio to a named peer
// (ratio = peer_ms / ours_ms: above 1 means obt is faster). Peers that cannot be loaded are
// reported as such, never estimated. --json prints one JSON object per line:
// {"case", "ours_ms", "peer", "peer_ms", "ratio"} (+ "note").
import { join } from 'node:path';
import { compile, device, type Program } from '../compiler/api.ts';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { loadModel, type LoadedModel } from '../llm/load.ts';
import { ModelRunner } from '../llm/runner.ts';
import { greedy } from '../llm/eval.ts';
import { alloc, fromNested, packSigns, type Tensor } from '../runtime/core/tensor.ts';
import { mulberry32 } from '../runtime/core/rng.ts';
import { compileWasm } from '../compiler/pipeline.ts';
import { SIGN_METHODS, signMethod } from '../compiler/templates/signlinear/wasm.ts';
import { NodeThreadPool } from '../runtime/env/node_threads.ts';
import type { KernelPool } from '../runtime/wasm/pool.ts';
import { Quantizer, trainingBlocks } from '../llm/quantize.ts';
import { DEFAULT_KD_DATA } from '../llm/defaults.ts';
import { jaxMatmul, peerKdOptions, tfjsMatmul, torchKdStep } from './peers.ts';
import { wllamaDecode } from './wllama.ts';
import { loadRows } from './load.ts';
import { lowBitRows } from './lowbit.ts';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');

interface Row {
  case: string;
  ours_ms: number;
  peer: string;
  peer_ms: number | null;
  ratio: number | null;
  note?: string;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(f: () => void, reps: number, warm = 2): number {
  for (let i = 0; i < warm; i++) f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    f();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

async function timeAsync(f: () => unknown, reps: number, warm = 2): Promise<number> {
  for (let i = 0; i < warm; i++) await f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await f();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

function rand(shape: number[], seed: number): Tensor {
  const t = alloc('f32', shape);
  const r = mulberry32(seed);
  for (let i = 0; i < t.data.length; i++) t.data[i] = r() * 2 - 1;
  return t;
}

const rows: Row[] = [];
function report(r: Row): void {
  rows.push(r);
  if (json) process.stdout.write(JSON.stringify(r) + '\n');
  else {
    const peer =
      r.peer_ms === null
        ? `${r.peer}: ${r.note ?? 'n/a'}`
        : `${r.peer} ${r.peer_ms.toFixed(3)} ms, ratio ${r.ratio!.toFixed(2)}×`;
    process.stdout.write(
      `${r.case.padEnd(50)} ours ${r.ours_ms.toFixed(3).padStart(9)} ms   ${peer}${r.note && r.peer_ms !== null ? `  (${r.note})` : ''}\n`,
    );
  }
}
const vs = (c: string, ours: number, peer: string, peerMs: number | null, note?: string) =>
  report({
    case: c,
    ours_ms: ours,
    peer,
    peer_ms: peerMs,
    ratio: peerMs === null ? null : peerMs / ours,
    ...(note ? { note } : {}),
  });

/** A peer's median ms, or null with the reason it could not run. */
async function peer(f: () => Promise<number>): Promise<{ ms: number | null; why?: string }> {
  try {
    return { ms: await f() };
  } catch (e) {
    return { ms: null, why: `could not run: ${(e as Error).message.split('\n')[0]}` };
  }
}

function program(src: string): Program {
  const p = compile(src, { path: 'bench.obt' });
  if (!p.ok) throw new Error(p.diagnostics.map((d) => d.message).join('\n'));
  return p;
}

function runner(p: Program, entry: string, args: Tensor[], pool?: KernelPool): () => Tensor[] {
  const low = p.lower(entry, p.argTypes(p.entry(entry), args).types);
  const w = p.wasm(low, { pool });
  return () => w.run(args);
}

if (process.argv.includes('--backend') && process.argv[process.argv.indexOf('--backend') + 1] === 'webgpu') {
  const { benchWebGpu } = await import('./webgpu.ts');
  await benchWebGpu(quick, vs);
  process.exit(0);
}

if (process.argv.includes('--startup')) {
  await startupRows(quick ? 3 : 7);
  process.exit(0);
}

if (process.argv.includes('--load')) {
  await loadRows(vs, quick ? 1 : 5);
  process.exit(0);
}

if (process.argv.includes('--kd-scale')) {
  const { kdScaleRows } = await import('./kd_scale.ts');
  const arg = (k: string) => (process.argv.includes(k) ? process.argv[process.argv.indexOf(k) + 1] : undefined);
  const shapes = arg('--shapes')?.split(',') ?? (quick ? ['stories15M'] : ['stories15M', 'stories42M', 'stories110M']);
  kdScaleRows(vs, shapes, Number(arg('--reps') ?? (quick ? 1 : 3)));
  process.exit(0);
}

if (process.argv.includes('--lowbit')) {
  const pool = new NodeThreadPool(2);
  await lowBitRows(
    vs,
    [
      ['1 thread', undefined],
      ['2 threads', pool],
    ],
    quick ? 1 : 3,
    quick ? 8 : 32,
    quick ? ['llama7B-block'] : undefined,
  );
  pool.close();
  process.exit(0);
}

const pool2 = new NodeThreadPool(2);
const threads: [string, KernelPool | undefined][] = [
  ['1 thread', undefined],
  ['2 threads', pool2],
];
const N = quick ? 1024 : 4096;
const reps = quick ? 5 : 15;
const p = program(`
fn sl[M, O, I](x: f32[M, I], s: sign[O, I], g: f32[I], h: f32[O]) -> f32[M, O] = signlinear(x, s, g, h)
fn mm[M, O, I](x: f32[M, I], w: f32[O, I]) -> f32[M, O] = x @ transpose(w)
`);
const w = rand([N, N], 1);
const s = packSigns(w.data, [N, N]);
const g = rand([N], 2);
const h = rand([N], 3);
const gw = (ms: number, M: number) => `${((N * N * M) / ms / 1e6).toFixed(2)} G weights/s`;
const dflt = signMethod();

// ---- signlinear vs f32: decode matvec and 64-row prefill -------------------------------------
for (const M of [1, 64]) {
  const x = rand([M, N], 4);
  const what = M === 1 ? `matvec ${N}x${N}` : `prefill ${M}x${N}x${N}`;
  const r = M === 1 ? reps : 3;
  const jax = await peer(() => jaxMatmul(x.data as Float32Array, w.data as Float32Array, M, N, N, timeAsync, r));
  const tfjs =
    M === 1
      ? await peer(() => tfjsMatmul(x.data as Float32Array, w.data as Float32Array, M, N, N, timeAsync, r))
      : undefined;
  for (const [tn, pool] of threads) {
    const tMm = time(runner(p, 'mm', [x, w], pool), r);
    const bySign: Record<string, number> = {};
    for (const method of SIGN_METHODS) {
      process.env.OBT_SIGNLINEAR = method;
      bySign[method] = time(runner(p, 'sl', [x, s, g, h], pool), r);
    }
    delete process.env.OBT_SIGNLINEAR;
    const tSl = bySign[dflt]!;
    for (const method of SIGN_METHODS)
      if (method !== dflt)
        vs(
          `signlinear ${what} (${method} kernel, ${tn})`,
          bySign[method]!,
          `default (${dflt}) kernel`,
          tSl,
          gw(bySign[method]!, M),
        );
    vs(`signlinear ${what} (${tn})`, tSl, `ours f32 (${tn})`, tMm, gw(tSl, M));
    vs(`signlinear ${what} (${tn})`, tSl, '@jax-js/jax f32 (wasm, 1 thread)', jax.ms, jax.why ?? gw(tSl, M));
    if (tfjs)
      vs(
        `signlinear ${what} (${tn})`,
        tSl,
        '@tensorflow/tfjs-backend-wasm f32 (1 thread)',
        tfjs.ms,
        tfjs.why ?? gw(tSl, M),
      );
    if (M === 1)
      vs(
        `f32 matvec ${N}x${N} (${tn})`,
        tMm,
        `memory bound (${tn === '1 thread' ? 21 : 29} GB/s)`,
        (N * N * 4) / (tn === '1 thread' ? 21e6 : 29e6),
        `${((N * N * 4) / tMm / 1e6).toFixed(1)} GB/s`,
      );
    else vs(`f32 matmul ${what} (${tn})`, tMm, '@jax-js/jax f32 (wasm, 1 thread)', jax.ms);
  }
}

// ---- stories260K greedy decode: fp teacher and the packed 1-bit student, vs wllama ------------
const teacher = await loadModel(join(PROJECT_ROOT, 'data/stories260K.bin'));
const decodeMs = async (
  m: Pick<LoadedModel, 'arch' | 'config' | 'value' | 'layer' | 'method'>,
  backend: 'wasm' | 'interp',
  steps: number,
) => {
  const r = ModelRunner.fromFile(m, device(backend));
  // greedy from token 1; the first step (lowering, compiling) is not timed
  return median((await greedy(r.decoder(steps), 1, steps)).ms.slice(1));
};
const kdOpts = peerKdOptions(8, 256, { kind: 'wasm' });
const student = new Quantizer(teacher, kdOpts, () => {});
const packed = await student.export(await student.initialTrainable());
const wl = await peer(() => wllamaDecode(join(PROJECT_ROOT, 'data/stories260K.gguf'), 256));
const dT = await decodeMs(teacher, 'wasm', 256);
const dS = await decodeMs(
  {
    arch: teacher.arch,
    config: teacher.config,
    value: packed,
    layer: `method.${student.method.infer}`,
    method: student.method,
  },
  'wasm',
  256,
);
const dI = await decodeMs(teacher, 'interp', quick ? 32 : 64);
const tps = (ms: number) => `${(1000 / ms).toFixed(0)} tokens/s`;
vs(
  'stories260K decode step, fp teacher (1 thread)',
  dT,
  '@wllama/wllama (compat build) on the same .gguf',
  wl.ms,
  wl.why ?? tps(dT),
);
vs(
  'stories260K decode step, packed 1-bit student (1 thread)',
  dS,
  '@wllama/wllama (compat build) fp teacher',
  wl.ms,
  wl.why ?? tps(dS),
);
vs('stories260K decode step, fp teacher (1 thread)', dT, 'reference interpreter', dI, tps(dT));

// ---- one KD training step of stories260K (batch 8 x 256), against PyTorch eager -----------------
const blocks = trainingBlocks((await import('node:fs')).readFileSync(DEFAULT_KD_DATA, 'utf8'), teacher, 256, 1);
const batch = blocks.slice(0, 8).map((b) => fromNested(b, 'i32'));
const tokS = (ms: number) => `${(((8 * 256) / ms) * 1000).toFixed(0)} tokens/s`;
const kdMs: number[] = [];
for (const [tn, pool] of threads) {
  const q = new Quantizer(teacher, { ...kdOpts, device: { kind: 'wasm', pool } }, () => {});
  const st = await q.start();
  // the median of 11 steps after 2 warm-ups: single steps move by ±10 % on a shared 2-core machine
  const ms = await timeAsync(() => q.step(st, batch), quick ? 2 : 11, 2);
  kdMs.push(ms);
  const nt = pool ? pool.threads : 1;
  const torch = await peer(() => torchKdStep(8, 256, nt));
  vs(
    `KD step stories260K 8x256 (${tn})`,
    ms,
    `PyTorch eager, ${nt} thread${nt > 1 ? 's' : ''} (onebit_torch_ref.py bench)`,
    torch.ms,
    torch.why ?? `${tokS(ms)} vs ${tokS(torch.ms!)}; target ratio 1.5`,
  );
}
vs('KD step stories260K 8x256: 2 threads', kdMs[1]!, 'ours, 1 thread', kdMs[0]!, 'target ratio 1.7');

// ---- obtc quantize's whole loop: tokens/s over 50 steps after the first -----------------------
for (const [tn, pool] of threads) {
  const steps = quick ? 6 : 51;
  const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'obt-bench-'));
  const stamps: number[] = [];
  const q = new Quantizer(
    teacher,
    {
      ...kdOpts,
      device: { kind: 'wasm', pool },
      steps,
      out: join(dir, 'student.obtm'),
      onStep: () => stamps.push(performance.now()),
    },
    () => {},
  );
  await q.train();
  const ms = (stamps[stamps.length - 1]! - stamps[0]!) / (stamps.length - 1);
  (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
  const nt = pool ? pool.threads : 1;
  const torch = await peer(() => torchKdStep(8, 256, nt));
  vs(
    `obtc quantize loop 8x256, ${stamps.length - 1} steps after the first (${tn})`,
    ms,
    `PyTorch eager KD step, ${nt} thread${nt > 1 ? 's' : ''}`,
    torch.ms,
    torch.why ?? tokS(ms),
  );
}

// ---- compile time of the decode entry: cold (no kernel cache) and warm (disk cache) ----------
const low = ModelRunner.fromFile(teacher, { kind: 'interp' }).decodeEntry(256).low;
process.env.OBT_CACHE_DIR = join(PROJECT_ROOT, '.obt-cache', `bench-${process.pid}`);
const { __resetKernelMemo } = await import('../compiler/backends/wasm/codegen.ts');
__resetKernelMemo();
const t0 = performance.now();
compileWasm(low.func);
const cold = performance.now() - t0;
__resetKernelMemo();
const t1 = performance.now();
compileWasm(low.func);
const warm = performance.now() - t1;
vs('compile stories260K decode: cold', cold, 'target warm < 300 ms', null, 'fuse + plan + binaryen O2 per kernel');
vs('compile stories260K decode: warm (disk cache)', warm, 'target', 300);
const { rmSync } = await import('node:fs');
rmSync(process.env.OBT_CACHE_DIR, { recursive: true, force: true });
// ---- Q1_0 / TQ2_0 decode against llama.cpp on the same GGUF (bench/lowbit.ts) -----------------
await lowBitRows(vs, threads, quick ? 1 : 3, quick ? 8 : 32, quick ? ['llama7B-block'] : undefined);
pool2.close();

// ---- loading a checkpoint of stories110M's shape: time and peak resident memory (bench/load.ts) ----
await loadRows(vs, quick ? 1 : 5);

// ---- obtc's start-up, as the installed package runs it (compiled dist/, no TypeScript loader) ----
await startupRows(quick ? 3 : 7);

/** Wall time of `obtc ...` in a fresh process, the median of reps runs after one warm-up (the
 *  kernel cache, in a folder of its own, is filled by it); Node's own start-up beside them. */
async function startupRows(reps: number): Promise<void> {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const build = spawnSync(process.execPath, [join(PROJECT_ROOT, 'scripts/build.js')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed: ${build.stderr}`);
  const cache = mkdtempSync(join(tmpdir(), 'obt-bench-cache-'));
  const env = {
    ...process.env,
    OBT_DIST: '1',
    XDG_CACHE_HOME: cache,
    OBT_CACHE_DIR: undefined,
    OBT_PROFILE: undefined,
  };
  const wall = (args: string[]) => {
    const ts: number[] = [];
    for (let i = 0; i <= reps; i++) {
      const t = performance.now();
      const r = spawnSync(process.execPath, args, { cwd: PROJECT_ROOT, env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
      if (i > 0) ts.push(performance.now() - t);
    }
    return median(ts);
  };
  const node = wall(['-e', '0']);
  const note = `node -e 0 takes ${node.toFixed(0)} ms here`;
  const obtc = (...a: string[]) => wall([join(PROJECT_ROOT, 'bin/obtc.js'), ...a]);
  vs('start-up: obtc --help', obtc('--help'), 'target', 300, note);
  vs('start-up: obtc check models/llama.obt', obtc('check', 'models/llama.obt'), 'target', 1500, note);
  vs(
    'start-up: obtc generate --steps 20, warm cache',
    obtc('generate', '--steps', '20', '--seed', '1'),
    'target',
    1500,
    note,
  );
  rmSync(cache, { recursive: true, force: true });
}
