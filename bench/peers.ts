// Peer libraries measured side by side with obt in `npm run bench` (devDependencies; a peer that
// cannot be loaded is reported as such, never estimated). Each returns the median milliseconds of
// one f32 product including the read-back of its (small) result, with the peer's inputs resident.
import { createRequire } from 'node:module';
import { defaultQuantizeOptions, type QuantizeOptions } from '../llm/quantize.ts';
import { dirname } from 'node:path';

export type Timer = (f: () => unknown, reps: number) => Promise<number>;

/** @jax-js/jax on its Wasm backend (single-threaded on Node): y = x @ Wᵀ for x [M, K], W [N, K]. */
export async function jaxMatmul(
  x: Float32Array,
  w: Float32Array,
  M: number,
  N: number,
  K: number,
  time: Timer,
  reps: number,
): Promise<number> {
  const jax = await import('@jax-js/jax');
  await jax.init('wasm');
  const np = jax.numpy;
  const W = np.array(w, { shape: [N, K] });
  const X = np.array(x, { shape: [M, K] });
  const Wt = np.array(transpose(w, N, K), { shape: [K, N] });
  // both layouts; the peer gets the faster one
  const f1 = jax.jit((a: typeof X, b: typeof W) => np.matmul(a, b.transpose()));
  const f2 = jax.jit((a: typeof X, b: typeof Wt) => np.matmul(a, b));
  const t1 = await time(async () => (await f1(X.ref, W.ref).data())[0], reps);
  const t2 = await time(async () => (await f2(X.ref, Wt.ref).data())[0], reps);
  return Math.min(t1, t2);
}

/** @tensorflow/tfjs-backend-wasm (XNNPACK, single-threaded on Node): tf.matMul(x, W, false, true). */
export async function tfjsMatmul(
  x: Float32Array,
  w: Float32Array,
  M: number,
  N: number,
  K: number,
  time: Timer,
  reps: number,
): Promise<number> {
  const tf = await import('@tensorflow/tfjs-core');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const req = createRequire(import.meta.url);
  wasm.setWasmPaths(dirname(req.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
  await tf.setBackend('wasm');
  await tf.ready();
  const W = tf.tensor2d(w, [N, K]);
  const X = tf.tensor2d(x, [M, K]);
  const ms = await time(() => {
    const y = tf.matMul(X, W, false, true);
    const d = y.dataSync();
    y.dispose();
    return d[0];
  }, reps);
  W.dispose();
  X.dispose();
  return ms;
}

function transpose(w: Float32Array, N: number, K: number): Float32Array {
  const t = new Float32Array(N * K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) t[k * N + n] = w[n * K + k]!;
  return t;
}

/**
 * PyTorch eager on this machine: the OneBit KD step of the reference recipe
 * (`onebit_torch_ref.py bench --batch B --seq T --threads N`, OPENBLAS_NUM_THREADS=1), its median
 * step in ms. Needs Debian's python3-torch and libopenblas0-pthread (README: Benchmarks); the
 * script is ../shared/peers/onebit_torch_ref.py unless OBT_TORCH_REF names another.
 */
const torchRuns = new Map<string, Promise<number>>();

export function torchKdStep(batch: number, seq: number, threads: number): Promise<number> {
  // one run per configuration in a bench (several rows compare with it)
  const key = `${batch}x${seq}x${threads}`;
  let r = torchRuns.get(key);
  if (!r) torchRuns.set(key, (r = runTorchKdStep(batch, seq, threads)));
  return r;
}

async function runTorchKdStep(batch: number, seq: number, threads: number): Promise<number> {
  const { spawnSync } = await import('node:child_process');
  const { existsSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { PROJECT_ROOT } = await import('../compiler/resolve/modules.ts');
  const script = process.env.OBT_TORCH_REF ?? join(PROJECT_ROOT, '../shared/peers/onebit_torch_ref.py');
  if (!existsSync(script)) throw new Error(`${script} not found`);
  // Debian's torch lives in the system python
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const r = spawnSync(
    python,
    [script, 'bench', '--batch', String(batch), '--seq', String(seq), '--threads', String(threads)],
    { encoding: 'utf8', timeout: 600_000, env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } },
  );
  const line = `${r.stdout ?? ''}`.split('\n').find((l) => l.includes('step_ms_median'));
  if (r.status !== 0 || !line)
    throw new Error((r.stderr || r.error?.message || 'no step_ms_median printed').trim().split('\n').pop());
  return (JSON.parse(line) as { step_ms_median: number }).step_ms_median;
}

/** The OneBit recipe onebit_torch_ref.py times (a KD step of batch × seq tokens), as quantize
 *  options whatever quantize's defaults are: obt's side of the KD-step comparison. */
export function peerKdOptions(batch: number, seq: number, device: QuantizeOptions['device']): QuantizeOptions {
  return {
    ...defaultQuantizeOptions(),
    alpha: 1,
    temperature: 1,
    embedding: 'frozen',
    clip: 1,
    wd: 0.01,
    fp16: false,
    out: '',
    steps: 100,
    batch,
    seq,
    lr: 1e-3,
    warmup: 10,
    method: 'onebit',
    seed: 1,
    checkpointEvery: 0,
    sampleSteps: 0,
    evalText: undefined,
    device,
  };
}
