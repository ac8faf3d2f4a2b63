// KD-step rows of `npm run bench -- --kd-scale` at the sizes research uses (issue 35): random-weight
// llama2.c checkpoints of stories15M's, stories42M's and stories110M's shapes (bench/checkpoints.ts),
// one OneBit distillation step of 2 × 256 tokens (the reference recipe: onebit_torch_ref.py's, as
// quantize options: bench/peers.ts peerKdOptions) in obt (Wasm) and in PyTorch eager
// (onebit_torch_ref.py bench with OBT_MODEL / OBT_TOKENIZER), 1 and 2 threads, in one run. Each
// side runs in a fresh process, so its peak resident memory (Linux's VmHWM / ru_maxrss: the whole
// process, model loading included, on both sides) is the step's. Figures: the median step after one
// warm-up step, the median over `reps` processes.
//   npm run bench -- --kd-scale [--shapes stories15M,stories42M] [--reps N]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { writeCheckpoint } from './checkpoints.ts';
import { childArgs, median, procStatusKB } from './child.ts';

type Vs = (c: string, ours: number, peer: string, peerMs: number | null, note?: string) => void;

interface Side {
  stepMs: number;
  peakKB: number;
}

const BATCH = 2;
const SEQ = 256;
const STEPS = 3;

/** The checkpoint of a shape, written once into .obt-cache (random weights, llama2.c format). */
function checkpoint(shape: string): string {
  const dir = join(PROJECT_ROOT, '.obt-cache', 'bench-checkpoints', shape);
  const file = join(dir, 'model.bin');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    writeCheckpoint(shape, 'llama2c', file);
  }
  return file;
}

/** obt's side: this file as a child process (its own peak memory). */
function obtSide(file: string, threads: number): Side {
  const args = childArgs(join(import.meta.dirname, 'kd_scale.ts'), '--child', file, String(threads));
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`obt KD child: exit ${r.status}: ${r.stderr.slice(-1500)}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Side;
}

/** PyTorch eager's side: the peer's bench under a wrapper that prints its peak resident memory. */
function torchSide(file: string, threads: number): Side | string {
  const script = process.env.OBT_TORCH_REF ?? join(PROJECT_ROOT, '../shared/peers/onebit_torch_ref.py');
  // the peer tokenizes its distillation text with a tokenizer of the model's vocabulary (32 000
  // pieces: Llama 2's, beside the peer); the ids do not change the time
  const tokenizer = process.env.OBT_TOKENIZER ?? join(PROJECT_ROOT, '../shared/data/tokenizer.bin');
  if (!existsSync(script) || !existsSync(tokenizer)) return `${script} or ${tokenizer} not found`;
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const argv = [script, 'bench', '--batch', String(BATCH), '--seq', String(SEQ), '--threads', String(threads)];
  const wrapper = [
    'import json, resource, runpy, sys',
    `sys.argv = ${JSON.stringify(argv.concat(['--steps', String(STEPS), '--warmup', '1']))}`,
    `runpy.run_path(${JSON.stringify(script)}, run_name='__main__')`,
    "print(json.dumps({'peak_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))",
  ].join('\n');
  const r = spawnSync(python, ['-c', wrapper], {
    encoding: 'utf8',
    timeout: 1_800_000,
    env: { ...process.env, OPENBLAS_NUM_THREADS: '1', OBT_MODEL: file, OBT_TOKENIZER: tokenizer },
  });
  const lines = `${r.stdout ?? ''}`.split('\n');
  const step = lines.find((l) => l.includes('step_ms_median'));
  const peak = lines.find((l) => l.includes('peak_kb'));
  if (r.status !== 0 || !step || !peak)
    return (r.stderr || r.error?.message || 'no step_ms_median printed').trim().split('\n').pop()!;
  return {
    stepMs: (JSON.parse(step) as { step_ms_median: number }).step_ms_median,
    peakKB: (JSON.parse(peak) as { peak_kb: number }).peak_kb,
  };
}

export function kdScaleRows(vs: Vs, shapes: string[], reps: number): void {
  const gb = (kb: number) => `${(kb / 1048576).toFixed(2)} GB`;
  const tps = (ms: number) => `${(((BATCH * SEQ) / ms) * 1000).toFixed(0)} tokens/s`;
  for (const shape of shapes) {
    const file = checkpoint(shape);
    const oneThread: number[] = [];
    for (const threads of [1, 2]) {
      const ours = Array.from({ length: reps }, () => obtSide(file, threads));
      const peer = Array.from({ length: reps }, () => torchSide(file, threads));
      const ms = median(ours.map((s) => s.stepMs));
      const peak = median(ours.map((s) => s.peakKB));
      oneThread.push(ms);
      const bad = peer.find((p): p is string => typeof p === 'string');
      const ok = peer.filter((p): p is Side => typeof p !== 'string');
      const pms = ok.length ? median(ok.map((s) => s.stepMs)) : null;
      const ppeak = ok.length ? median(ok.map((s) => s.peakKB)) : NaN;
      const runs = `runs ${ours.map((s) => s.stepMs.toFixed(0)).join(', ')} vs ${ok.map((s) => s.stepMs.toFixed(0)).join(', ')} ms`;
      vs(
        `KD step ${shape} shape ${BATCH}x${SEQ} (${threads} thread${threads > 1 ? 's' : ''})`,
        ms,
        `PyTorch eager, ${threads} thread${threads > 1 ? 's' : ''} (onebit_torch_ref.py bench)`,
        pms,
        bad && !ok.length
          ? `peer: ${bad}`
          : `${tps(ms)} vs ${tps(pms!)}; peak resident ${gb(peak)} vs ${gb(ppeak)} (${(peak / ppeak).toFixed(2)}×, target ≤ 1.2×); ${runs}`,
      );
    }
    vs(`KD step ${shape} shape: 2 threads`, oneThread[1]!, 'ours, 1 thread', oneThread[0]!, 'target ratio 1.7');
  }
}

if (process.argv[2] === '--child') {
  const { loadModel } = await import('../llm/load.ts');
  const { Quantizer } = await import('../llm/quantize.ts');
  const { fromNested } = await import('../runtime/core/tensor.ts');
  const { mulberry32 } = await import('../runtime/core/rng.ts');
  const { NodeThreadPool } = await import('../runtime/env/node_threads.ts');
  const { peerKdOptions } = await import('./peers.ts');
  const threads = Number(process.argv[4]);
  const pool = threads > 1 ? new NodeThreadPool(threads) : undefined;
  const teacher = await loadModel(process.argv[3]!);
  const q = new Quantizer(teacher, peerKdOptions(BATCH, SEQ, { kind: 'wasm', ...(pool ? { pool } : {}) }), () => {});
  const st = await q.start();
  // random windows of the vocabulary (the ids do not change the time)
  const rnd = mulberry32(7);
  const batch = () =>
    Array.from({ length: BATCH }, () =>
      fromNested(
        Array.from({ length: SEQ }, () => Math.floor(rnd() * teacher.config.vocab)),
        'i32',
      ),
    );
  const times: number[] = [];
  for (let i = 0; i <= STEPS; i++) {
    const b = batch();
    const t = performance.now();
    await q.step(st, b);
    if (i > 0) times.push(performance.now() - t); // the first step compiles its kernels
  }
  pool?.close();
  const r: Side = { stepMs: median(times), peakKB: procStatusKB('VmHWM') };
  process.stdout.write(JSON.stringify(r) + '\n');
}
