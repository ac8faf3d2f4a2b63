// obtc train: a language model trained from a random initialisation on a text (nanoGPT's recipe:
// the first 90 % of the text trains, the last 10 % validates; random windows of block-size tokens,
// batch-size of them a step; AdamW with warm-up and cosine decay; the training and validation loss
// estimated every eval-interval steps on a fixed sample of eval-iters batches of each split). The
// layers train in full precision, in a method's training form from step 0, or from --quantize-from
// (ParetoQ's schedule: full precision first, the method's init of the layers at that step, fresh
// optimiser moments). Checkpoints are atomic and a resumed run equals an uninterrupted one bit for
// bit (every batch is a function of the seed and the step). The result is an obt model file that
// generate, ppl, serve, quantize (as a teacher) and export read. The program is
// llm/pretrain_program.ts (models/train.obt).
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Interrupted, UserError } from '../compiler/syntax/diag.ts';
import { mulberry32 } from '../runtime/core/rng.ts';
import type { Tensor } from '../runtime/core/tensor.ts';
import { firstNonFinite } from '../runtime/core/tree.ts';
import { linearLayers, paramCount } from './io/arch.ts';
import { validateConfig, type LlamaConfig } from './io/model.ts';
import { writeModelFile } from './io/modelfile.ts';
import { ARCHES, archNamed, type Arch } from './io/names.ts';
import { crc32, encodeState, readState, writeAtomic } from './io/state.ts';
import { removeStaleTemps } from './io/stale.ts';
import { Tokenizer, charTokenizer } from './io/tokenizer.ts';
import { loadTokenizer } from './load.ts';
import { archFromObtFile, isObtPath } from './arch_file.ts';
import { resolveMethod } from './method.ts';
import { lineChartSvg } from './plot.ts';
import { Progress } from './progress.ts';
import { TrainProgram, type Hyper, type State } from './pretrain_program.ts';
import { TRAIN_RESUME_OPTIONS, trainFlagOf, type TrainOptions } from './train_options.ts';

/** One evaluation: the mean loss of the fixed sample of each split. */
export interface EvalPoint {
  step: number;
  train: number;
  val: number;
}

export interface TrainReport {
  out: string;
  params: number;
  /** the training loss of every step */
  losses: number[];
  evals: EvalPoint[];
  /** training tokens per second (the steps alone: no evaluation, compilation or writing) */
  tokensPerS: number;
  seconds: number;
  bytes: number;
}

/** What a checkpoint holds. */
interface Checkpoint extends State {
  step: number;
  quantized: boolean;
  losses: number[];
  evals: EvalPoint[];
  options: Record<string, number | string | null>;
}

/** The text split as nanoGPT's prepare.py splits it (by characters: the first 90 % trains), each
 *  part tokenized. */
export function splitText(text: string, tk: Tokenizer): { train: Int32Array; val: Int32Array } {
  const chars = [...text];
  const cut = Math.floor(chars.length * 0.9);
  const enc = (s: string) => Int32Array.from(tk.encode(s, { bos: false }));
  return { train: enc(chars.slice(0, cut).join('')), val: enc(chars.slice(cut).join('')) };
}

/** B random windows of T + 1 tokens of `ids` (nanoGPT's get_batch) from a generator: inputs and
 *  the next tokens, as i32 [B, T]. */
function batch(ids: Int32Array, rnd: () => number, B: number, T: number): { x: Tensor; y: Tensor } {
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const i = Math.floor(rnd() * (ids.length - T));
    x.set(ids.subarray(i, i + T), b * T);
    y.set(ids.subarray(i + 1, i + T + 1), b * T);
  }
  return { x: { dtype: 'i32', shape: [B, T], data: x }, y: { dtype: 'i32', shape: [B, T], data: y } };
}

/** Step it's batch: a generator seeded by the seed and the step only, so a resumed run draws what
 *  an uninterrupted one does. */
const stepBatch = (ids: Int32Array, seed: number, it: number, B: number, T: number) =>
  batch(ids, mulberry32((Math.imul(seed, 0x9e3779b1) ^ Math.imul(it + 1, 0x85ebca77)) >>> 0), B, T);

/** The architecture's config from the size flags (the MLP's width by the architecture's custom). */
export function trainConfig(o: TrainOptions, vocab: number, act: string): LlamaConfig {
  const hidden = o.nHidden ?? (act === 'gelu' ? 4 * o.nEmbd : 32 * Math.ceil((8 * o.nEmbd) / 3 / 32));
  const c: LlamaConfig = {
    dim: o.nEmbd,
    hidden,
    layers: o.nLayer,
    heads: o.nHead,
    kvHeads: o.nHead,
    vocab,
    seqLen: o.blockSize,
    eps: 1e-5,
    ropeTheta: 10000,
  };
  validateConfig('--n-embd/--n-head/--n-layer', c);
  return c;
}

export async function trainModel(o: TrainOptions, log: (s: string) => void): Promise<TrainReport> {
  const t0 = performance.now();
  const named = isObtPath(o.model) ? archFromObtFile(o.model) : archNamed(o.model);
  if (!named)
    throw new UserError(
      `--model ${o.model}: expected one of ${[...ARCHES.keys()].join(', ')}, or an architecture's .obt file`,
    );
  const arch = o.bias ? archWithBias(named) : named;
  if (!existsSync(o.text)) throw new UserError(`--text ${o.text}: no such file`);
  const text = readFileSync(o.text, 'utf8');
  const tk = new Tokenizer(o.tokenizer === 'char' ? charTokenizer(text, o.text) : loadTokenizer(o.tokenizer));
  const { train, val } = splitText(text, tk);
  const T = o.blockSize;
  const B = o.batchSize;
  for (const [name, ids] of [
    ['training', train],
    ['validation', val],
  ] as const)
    if (ids.length < T + 2)
      throw new UserError(`--text ${o.text}: its ${name} part has ${ids.length} tokens, too few for --block-size ${T}`);
  const config = trainConfig(o, tk.vocabSize, arch.act);
  const method = o.method === undefined ? undefined : resolveMethod(o.method);
  if (method === undefined && o.quantizeFrom > 0) throw new UserError('--quantize-from needs --method');
  if (o.quantizeFrom > o.maxIters)
    throw new UserError(`--quantize-from ${o.quantizeFrom} is after the last step (--max-iters ${o.maxIters})`);
  const quantizeAt = method ? o.quantizeFrom : Infinity;
  const h: Hyper = {
    learning_rate: o.learningRate,
    min_lr: o.minLr,
    warmup_iters: o.warmupIters,
    lr_decay_iters: o.lrDecayIters ?? o.maxIters,
    beta1: o.beta1,
    beta2: o.beta2,
    weight_decay: o.weightDecay,
    grad_clip: o.gradClip,
  };
  const prog = new TrainProgram(arch, config, method, o.device);
  const params = paramCount(arch, config, false);
  log(
    `${arch.name} (${arch.model}): ${o.nLayer} layers, ${o.nHead} heads, ${o.nEmbd} channels, MLP ${config.hidden}, context ${T}, vocabulary ${config.vocab}${tk.data.char ? ' (characters)' : ''}: ${params} parameters; ${method ? `layers ${method.name} (${method.train})${o.quantizeFrom ? ` from step ${o.quantizeFrom}` : ''}` : 'full precision'}; ${o.maxIters} steps of ${B} × ${T} tokens; ${train.length} training / ${val.length} validation tokens\n`,
  );

  mkdirSync(dirname(o.out) || '.', { recursive: true });
  const ckFile = `${o.out}.ckpt`;
  for (const f of [ckFile, o.out])
    for (const p of removeStaleTemps(f)) log(`removed ${p}, left by a run that was killed while writing\n`);
  const identity: Checkpoint['options'] = {
    ...Object.fromEntries(TRAIN_RESUME_OPTIONS.map((k) => [k, (o[k] as number | string | undefined) ?? null])),
    textCrc: crc32(new TextEncoder().encode(text)),
    ...(method ? { methodCrc: crc32(new TextEncoder().encode(method.source)) } : {}),
    ...(arch.source !== undefined ? { archCrc: crc32(new TextEncoder().encode(arch.source)) } : {}),
  };
  let st: Checkpoint;
  if (o.resume && existsSync(ckFile)) {
    st = resumed(ckFile, identity, o.maxIters);
    log(`resuming from ${ckFile} at step ${st.step}\n`);
  } else {
    if (o.resume) log(`--resume: no checkpoint ${ckFile}; starting afresh\n`);
    let p = await prog.init(o.seed);
    const q = quantizeAt === 0;
    if (q) p = await prog.quantized(p, o.seed);
    st = { ...(await prog.start(p, q)), step: 0, quantized: q, losses: [], evals: [], options: identity };
    for (const f of ['loss', 'val']) writeFileSync(`${o.out}.${f}.csv`, '');
  }
  // the fixed evaluation sample: eval-iters batches of each split
  const evalRnd = mulberry32((o.seed ^ 0x5bd1e995) >>> 0);
  const sample = (ids: Int32Array) => Array.from({ length: o.evalIters }, () => batch(ids, evalRnd, B, T));
  const evalSample = { train: sample(train), val: sample(val) };
  const estimate = async (): Promise<EvalPoint> => {
    const mean = async (bs: { x: Tensor; y: Tensor }[]) => {
      let s = 0;
      for (const b of bs) s += await prog.loss(st.params, st.quantized, b.x, b.y, h);
      return s / bs.length;
    };
    return { step: st.step, train: await mean(evalSample.train), val: await mean(evalSample.val) };
  };
  const evaluate = async () => {
    if (st.evals.some((e) => e.step === st.step)) return;
    const e = await estimate();
    st.evals.push(e);
    appendFileSync(`${o.out}.val.csv`, `${e.step},${e.train},${e.val}\n`);
    log(`\nstep ${e.step}: train loss ${e.train.toFixed(4)}, val loss ${e.val.toFixed(4)}\n`);
  };

  const bar = new Progress('train', o.maxIters, { write: log, isTTY: process.stderr.isTTY });
  let interrupted = false;
  const onInt = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
  };
  process.on('SIGINT', onInt);
  let stepSeconds = 0;
  let stepsTimed = 0;
  // the first step of a run, and the first after --quantize-from, compile their kernels: not timed
  let compiling = true;
  try {
    while (st.step < o.maxIters) {
      if (st.step % o.evalInterval === 0) await evaluate();
      if (!st.quantized && st.step >= quantizeAt) {
        const p = await prog.quantized(st.params, o.seed);
        st = { ...st, ...(await prog.start(p, true)), quantized: true };
        compiling = true;
        log(`\nstep ${st.step}: the layers in ${method!.name}'s training form from here (fresh AdamW moments)\n`);
      }
      const { x, y } = stepBatch(train, o.seed, st.step, B, T);
      const ts = performance.now();
      const r = await prog.step(st, st.quantized, x, y, st.step, h);
      if (!compiling) {
        stepSeconds += (performance.now() - ts) / 1000;
        stepsTimed++;
      }
      compiling = false;
      if (!Number.isFinite(r.loss) || !Number.isFinite(r.gnorm)) {
        const nf = firstNonFinite(r.state.params);
        throw new UserError(
          `training diverged at step ${st.step + 1}: loss ${r.loss}, gradient norm ${r.gnorm}${nf ? `; the first non-finite parameter is ${nf.path}[${nf.index}]` : ''}`,
          undefined,
          `a smaller --learning-rate (now ${o.learningRate}) or --grad-clip usually avoids it`,
        );
      }
      st = { ...st, ...r.state, step: st.step + 1 };
      st.losses.push(r.loss);
      appendFileSync(`${o.out}.loss.csv`, `${st.step},${r.loss},${r.gnorm},${r.lr}\n`);
      bar.update(st.step, `loss ${r.loss.toFixed(4)} lr ${r.lr.toExponential(2)}`);
      await new Promise((res) => setImmediate(res)); // lets a pending Ctrl-C in
      const stop = interrupted || st.step === o.stopAfter;
      if (o.checkpointEvery > 0 && (st.step % o.checkpointEvery === 0 || stop)) writeAtomic(ckFile, encodeState(st));
      if (stop && st.step < o.maxIters)
        throw new Interrupted(
          `interrupted at step ${st.step} of ${o.maxIters}` +
            (o.checkpointEvery > 0 ? `; checkpoint ${ckFile} (--resume continues from it)` : ''),
        );
    }
    await evaluate();
  } finally {
    process.off('SIGINT', onInt);
  }
  if (o.checkpointEvery > 0) writeAtomic(ckFile, encodeState(st));

  const value = await prog.exported(st.params, st.quantized);
  const saved = writeModelFile(o.out, {
    arch,
    config,
    tokenizer: tk.data,
    value,
    layer: st.quantized ? method!.infer : 'Dense',
    ...(st.quantized
      ? { method: { name: method!.name, source: method!.source, train: method!.train, infer: method!.infer } }
      : {}),
    linear: linearLayers(arch, config),
    params,
    fp16: o.fp16,
  });
  writeFileSync(
    `${o.out}.loss.svg`,
    lineChartSvg(
      `${arch.name} on ${o.text.replace(/^.*\//, '')}${method ? ` (${method.name})` : ''}`,
      [
        { name: 'training loss (step)', color: '#c0392b', points: st.losses.map((l, i) => [i + 1, l]) },
        { name: 'train (estimate)', color: '#7d3c98', points: st.evals.map((e) => [e.step, e.train]) },
        { name: 'validation', color: '#2471a3', points: st.evals.map((e) => [e.step, e.val]) },
      ],
      'step',
      'cross-entropy (nats)',
    ),
  );
  return {
    out: o.out,
    params,
    losses: st.losses,
    evals: st.evals,
    tokensPerS: stepsTimed ? (stepsTimed * B * T) / stepSeconds : NaN,
    seconds: (performance.now() - t0) / 1000,
    bytes: saved.bytes,
  };
}

/** The architecture with nanoGPT's bias=True (its name map's withBias; one that has biases already
 *  is itself). */
function archWithBias(a: Arch): Arch {
  if (a.withBias === undefined) {
    if ([...ARCHES.values()].some((b) => b.withBias === a.name)) return a;
    throw new UserError(
      `--bias: ${a.name} has no variant with biases`,
      undefined,
      `--bias is nanoGPT's bias=True for --model gpt; ${[...ARCHES.values()]
        .filter((b) => b.withBias)
        .map((b) => `${b.name} → ${b.withBias}`)
        .join(', ')}`,
    );
  }
  const b = archNamed(a.withBias);
  if (!b) throw new Error(`llm/io/names/${a.name}.json: withBias names ${a.withBias}, which is not an architecture`);
  return b;
}

/** A checkpoint, checked against this run's options before it is resumed. */
function resumed(file: string, want: Checkpoint['options'], maxIters: number): Checkpoint {
  const st = readState(file) as Checkpoint | null;
  const bad = (what: string): never => {
    throw new UserError(`--resume: ${file}: ${what}`);
  };
  if (!st || typeof st !== 'object' || !st.options) bad('not a training checkpoint of obtc train');
  if (!Number.isInteger(st!.step) || st!.step < 0 || st!.step > maxIters)
    bad(`step ${String(st!.step)}: expected an integer in 0..${maxIters}`);
  for (const [k, v] of Object.entries(want))
    if (st!.options[k] !== v) {
      const flag =
        k === 'textCrc' ? 'text' : k === 'methodCrc' ? 'method' : k === 'archCrc' ? 'model' : trainFlagOf(k as never);
      bad(
        k.endsWith('Crc')
          ? `the checkpoint was made with another --${flag} (its contents differ)`
          : `the checkpoint was made with --${flag} ${String(st!.options[k])}, not ${String(v)}`,
      );
    }
  return st as Checkpoint;
}
