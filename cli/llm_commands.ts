// obtc generate, ppl and quantize: load a checkpoint (default: the shipped stories260K), run
// models/llama.obt (and models/onebit_kd.obt) on the Wasm backend or the reference interpreter.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { UserError } from '../compiler/syntax/diag.ts';
import { loadModel } from '../llm/io/load.ts';
import { LlamaRunner, DEFAULT_MODEL } from '../llm/runner.ts';
import { Sampler } from '../llm/sampler.ts';
import { Progress } from '../llm/progress.ts';
import { formatPpl, perplexity, tokenStream } from '../llm/ppl.ts';
import type { CliIO } from './main.ts';
import { quantize, type QuantizeOptions } from '../llm/quantize.ts';
import type { Backend } from '../compiler/api.ts';
import type { KernelPool } from '../runtime/wasm/pool.ts';
import { NodeThreadPool } from '../runtime/env/node_threads.ts';
import { nodeGpuDevice } from '../runtime/env/node_gpu.ts';

export const DEFAULT_WEIGHTS = join(PROJECT_ROOT, 'data/stories260K.bin');

type Flags = Map<string, string | true>;

function str(flags: Flags, k: string): string | undefined {
  const v = flags.get(k);
  if (v === true) throw new UserError(`--${k} needs a value`);
  return v;
}

function num(flags: Flags, k: string, dflt: number, ok: (x: number) => boolean, what: string): number {
  const v = str(flags, k);
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isFinite(x) || !ok(x)) throw new UserError(`--${k} ${v}: expected ${what}`);
  return x;
}

export function backendOf(flags: Flags, allowed: readonly Backend[] = ['wasm', 'interp', 'webgpu']): Backend {
  const b = str(flags, 'backend') ?? 'wasm';
  if (!(allowed as readonly string[]).includes(b)) throw new UserError(`--backend ${b}: expected ${allowed.join(', ')}`);
  return b as Backend;
}

const pools: KernelPool[] = [];

/** --threads N (default 1): a worker_threads pool for the Wasm backend, closed by closePools(). */
export function poolOf(flags: Flags): KernelPool | undefined {
  const n = num(flags, 'threads', 1, (x) => Number.isInteger(x) && x >= 1 && x <= 256, 'a thread count >= 1');
  if (n === 1) return undefined;
  const p = new NodeThreadPool(n);
  pools.push(p);
  return p;
}

export function closePools(): void {
  for (const p of pools.splice(0)) p.close();
}

async function open(flags: Flags) {
  const m = await loadModel(str(flags, 'weights') ?? DEFAULT_WEIGHTS, str(flags, 'tokenizer'));
  const backend = backendOf(flags);
  const gpu = backend === 'webgpu' ? await nodeGpuDevice() : undefined;
  return { ...m, runner: LlamaRunner.fromFile(m, str(flags, 'model') ?? DEFAULT_MODEL, backend, poolOf(flags), gpu) };
}

export async function generateCmd(flags: Flags, io: CliIO): Promise<number> {
  const steps = num(flags, 'steps', 256, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  const temperature = num(flags, 'temperature', 1.0, (x) => x >= 0, 'a temperature >= 0');
  const topp = num(flags, 'top-p', 0.9, (x) => x >= 0 && x <= 1, 'a probability in [0, 1]');
  const seed = num(flags, 'seed', Date.now() % 2 ** 31, Number.isInteger, 'an integer');
  const { config, tokenizer, runner } = await open(flags);
  const max = Math.min(steps, config.seqLen);
  const prompt = tokenizer.encode(str(flags, 'prompt') ?? '', { bos: true });
  if (prompt.length > max) throw new UserError(`the prompt is ${prompt.length} tokens, more than --steps ${max}`);
  const sampler = new Sampler(temperature, topp, seed);
  const dec = runner.decoderAsync(max);
  const idsOnly = flags.has('ids');
  const ids: number[] = [];
  let token = prompt[0]!;
  let t0 = 0;
  let out = '';
  const td = new TextDecoder();
  for (let pos = 0; pos < max; pos++) {
    if (pos === 1) t0 = performance.now();
    const logits = await dec.step(token, pos);
    const next = pos + 1 < prompt.length ? prompt[pos + 1]! : sampler.sample(logits, config.vocab);
    if (pos + 1 >= prompt.length && (next === tokenizer.data.bos || next === tokenizer.data.eos)) break;
    ids.push(next);
    if (!idsOnly) {
      const piece = td.decode(tokenizer.pieceAfter(token, next), { stream: true });
      out += piece;
      io.out(piece);
    }
    token = next;
  }
  if (idsOnly) io.out(ids.join(' ') + '\n');
  else io.out(td.decode() + '\n');
  const secs = (performance.now() - t0) / 1000;
  if (ids.length > 1) io.err(`achieved tok/s: ${((ids.length - 1) / secs).toFixed(2)} (${ids.length} tokens, ${runner.backend === 'wasm' ? `wasm backend, ${runner.pool?.threads ?? 1} thread(s)` : runner.backend === 'webgpu' ? `webgpu: ${runner.gpu!.adapterName}` : 'reference interpreter'})\n`);
  void out;
  return 0;
}

export async function pplCmd(flags: Flags, io: CliIO): Promise<number> {
  const textFile = str(flags, 'text');
  if (!textFile) throw new UserError('ppl needs --text FILE');
  const seq = num(flags, 'seq', 256, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  let text: string;
  try {
    text = readFileSync(textFile, 'utf8');
  } catch {
    throw new UserError(`cannot read ${textFile}`);
  }
  const { config, tokenizer, runner } = await open(flags);
  if (seq > config.seqLen) io.err(`note: --seq ${seq} is longer than the model's training context ${config.seqLen}\n`);
  const stream = tokenStream(text, tokenizer);
  const windows = stream.length >= seq + 1 ? Math.floor((stream.length - seq - 1) / seq) + 1 : 0;
  if (!windows) throw new UserError(`${textFile} has ${stream.length} tokens, fewer than one window of ${seq + 1}`);
  const t0 = performance.now();
  const r = await perplexity(stream, seq, config.vocab, (ids) => runner.logitsAsync(ids), new Progress('ppl', windows, { write: (s: string) => io.err(s), isTTY: process.stderr.isTTY }));
  io.err(`${r.targets} targets in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  io.out(formatPpl(r) + '\n');
  return 0;
}

export const DEFAULT_KD_DATA = join(PROJECT_ROOT, 'data/kd_teacher_samples_t1_seed1234.txt');
export const DEFAULT_EVAL = join(PROJECT_ROOT, 'data/tinystories_valid_eval.txt');

function choice<T extends string>(flags: Flags, k: string, dflt: T, options: readonly T[]): T {
  const v = str(flags, k);
  if (v === undefined) return dflt;
  if (!options.includes(v as T)) throw new UserError(`--${k} ${v}: expected one of ${options.join(', ')}`);
  return v as T;
}

export async function quantizeCmd(flags: Flags, io: CliIO): Promise<number> {
  const pos = (k: string, d: number) => num(flags, k, d, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  const nonneg = (k: string, d: number) => num(flags, k, d, (x) => x >= 0, 'a number >= 0');
  const steps = pos('steps', 300);
  const o: QuantizeOptions = {
    weights: str(flags, 'weights') ?? DEFAULT_WEIGHTS,
    tokenizer: str(flags, 'tokenizer'),
    data: str(flags, 'data') ?? DEFAULT_KD_DATA,
    out: str(flags, 'out') ?? 'student.obt1',
    steps,
    batch: pos('batch', 4),
    seq: pos('seq', 128),
    lr: num(flags, 'lr', 1e-3, (x) => x > 0, 'a positive learning rate'),
    warmup: nonneg('warmup', Math.min(30, Math.floor(steps / 10))),
    alpha: nonneg('alpha', 1.0),
    clip: num(flags, 'clip', 1.0, (x) => x > 0, 'a positive norm'),
    wd: nonneg('wd', 0.01),
    init: choice(flags, 'init', 'nmf', ['nmf', 'svd', 'copy'] as const),
    ste: choice(flags, 'ste', 'tanh', ['tanh', 'clip', 'identity'] as const),
    reference: flags.has('reference-scaling'),
    seed: num(flags, 'seed', 1234, Number.isInteger, 'an integer'),
    checkpointEvery: num(flags, 'checkpoint-every', 25, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0'),
    resume: flags.has('resume'),
    evalText: flags.has('no-eval') ? undefined : (str(flags, 'eval-text') ?? DEFAULT_EVAL),
    evalSeq: pos('eval-seq', 256),
    evalWindows: flags.has('eval-windows') ? pos('eval-windows', 1) : undefined,
    fp16: flags.has('fp16'),
    sampleSteps: num(flags, 'sample-steps', 100, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0'),
    backend: backendOf(flags),
    pool: poolOf(flags),
  };
  if (o.backend === 'webgpu') o.gpu = await nodeGpuDevice();
  const r = await quantize(o, (s) => io.err(s), (s) => io.out(s));
  if (r.ppl) {
    const { teacher, svid, trained } = r.ppl;
    io.out(`\nteacher ppl ${teacher.ppl.toFixed(4)} | SVID-only 1-bit ppl ${svid.ppl.toFixed(4)} | trained 1-bit ppl ${trained.ppl.toFixed(4)}\n`);
  }
  io.out(`compression: ${(r.teacherBytes / r.packedBytes).toFixed(2)}x smaller file (${r.teacherBytes} -> ${r.packedBytes} bytes), ${r.bitsPerWeight.toFixed(3)} bits per projection weight; ${r.seconds.toFixed(0)} s\n`);
  return 0;
}
