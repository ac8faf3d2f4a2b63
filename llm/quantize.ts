// The OneBit pipeline (on the Wasm backend, or the reference interpreter): load the fp teacher, SVID-initialise the 1-bit
// projections of a student (models/onebit_kd.obt), distil on the teacher's own samples in
// fixed-length blocks with AdamW and a cosine schedule, checkpoint atomically (resumable), pack
// the student's signs and save it, then compare perplexities (teacher, SVID-only, trained).
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { KernelPool } from '../runtime/wasm/pool.ts';
import type { GpuDevice } from '../runtime/webgpu/device.ts';
import { compile, type Backend, type HostValue, type Program } from '../compiler/api.ts';
import { CompileError, UserError } from '../compiler/syntax/diag.ts';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { loadModel, type LoadedModel } from './io/load.ts';
import { encodeState, readState, writeAtomic } from './io/state.ts';
import { writePacked } from './io/packed.ts';
import { LlamaRunner } from './runner.ts';
import { fromNested, type Tensor } from '../runtime/core/tensor.ts';
import { Progress } from './progress.ts';
import { formatPpl, perplexity, tokenStream, type PplResult } from './ppl.ts';
import { lineChartSvg } from './plot.ts';
import { mulberry32 } from '../runtime/core/rng.ts';

export const KD_PROGRAM = join(PROJECT_ROOT, 'models/onebit_kd.obt');

export interface QuantizeOptions {
  weights: string;
  tokenizer?: string;
  data: string;
  out: string; // the packed student (.obt1)
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  warmup: number;
  alpha: number;
  clip: number;
  wd: number;
  init: 'nmf' | 'svd' | 'copy';
  ste: 'tanh' | 'clip' | 'identity';
  reference: boolean;
  seed: number;
  checkpointEvery: number;
  resume: boolean;
  evalText?: string;
  evalSeq: number;
  evalWindows?: number;
  fp16: boolean;
  sampleSteps: number;
  /** where the training step, the initialisation and the evaluation run */
  backend: Backend;
  /** wasm: worker threads for big kernels */
  pool?: KernelPool;
  /** webgpu: the device */
  gpu?: GpuDevice;
}

const LAYER = { tanh: 'OneBitTrain', clip: 'OneBitTrainClip', identity: 'OneBitTrainIdentity' } as const;

export interface TrainState {
  step: number;
  ps: HostValue;
  opt: HostValue;
  losses: number[];
  options: Partial<QuantizeOptions>;
}

/** Fixed-length training blocks from the distillation text, in a seeded order. */
export function trainingBlocks(text: string, model: LoadedModel, seq: number, seed: number): number[][] {
  const stream = tokenStream(text, model.tokenizer);
  const n = Math.floor(stream.length / seq);
  if (n < 1) throw new UserError(`the distillation text has ${stream.length} tokens, fewer than one block of ${seq}`);
  const blocks = Array.from({ length: n }, (_, i) => stream.slice(i * seq, (i + 1) * seq));
  const r = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [blocks[i], blocks[j]] = [blocks[j]!, blocks[i]!];
  }
  return blocks;
}

function f32(v: number): Tensor {
  return fromNested(v, 'f32');
}

export interface QuantizeReport {
  losses: number[];
  ppl?: { teacher: PplResult; svid: PplResult; trained: PplResult };
  packedBytes: number;
  teacherBytes: number;
  bitsPerWeight: number;
  seconds: number;
}

export class Quantizer {
  readonly prog: Program;
  private readonly dims: Record<string, number>;

  constructor(
    readonly teacher: LoadedModel,
    readonly o: QuantizeOptions,
    private readonly log: (s: string) => void,
  ) {
    const prog = compile(readFileSync(KD_PROGRAM, 'utf8'), { path: KD_PROGRAM });
    if (!prog.ok) throw new CompileError(prog.diagnostics);
    this.prog = prog;
    this.dims = { H: teacher.config.heads, KV: teacher.config.kvHeads };
  }

  private async run(entry: string, args: HostValue[], layer?: string, donateArgs?: number[]): Promise<unknown> {
    return (
      await this.prog.runAsync(entry, args, {
        dims: this.dims,
        types: layer ? { Lin: layer } : {},
        backend: this.o.backend,
        pool: this.o.pool,
        gpu: this.o.gpu,
        donateArgs,
      })
    ).value;
  }

  /** The SVID-initialised projections (training form for the chosen estimator). */
  async initial(): Promise<HostValue> {
    const t = this.teacher.value as HostValue;
    const base =
      this.o.init === 'nmf'
        ? await this.run('init_nmf', [t, fromNested(this.o.seed, 'i32')])
        : this.o.init === 'svd'
          ? await this.run('init_svd', [t])
          : await this.run('init_copy', [t]);
    if (this.o.ste === 'clip') return (await this.run('as_ste_clip', [base as HostValue])) as HostValue;
    if (this.o.ste === 'identity') return (await this.run('as_ste_identity', [base as HostValue])) as HostValue;
    return base as HostValue;
  }

  async pack(ps: HostValue): Promise<Record<string, unknown>> {
    return (await this.run('pack_student', [this.teacher.value as HostValue, ps], LAYER[this.o.ste])) as Record<
      string,
      unknown
    >;
  }

  private checkpointPath(): string {
    return `${this.o.out}.ckpt`;
  }

  private saveCheckpoint(s: TrainState): void {
    writeAtomic(this.checkpointPath(), encodeState(s));
  }

  /** The initial training state (SVID-initialised projections, fresh AdamW moments). */
  async start(): Promise<TrainState> {
    const o = this.o;
    const ps = await this.initial();
    const opt = (await this.run('init_opt', [ps], LAYER[o.ste])) as HostValue;
    return {
      step: 0,
      ps,
      opt,
      losses: [],
      options: { seed: o.seed, batch: o.batch, seq: o.seq, init: o.init, ste: o.ste, steps: o.steps },
    };
  }

  /** One KD step (forward, backward, clipping, AdamW) on a batch of token blocks: updates st.ps and st.opt. */
  async step(st: TrainState, batch: Tensor[]): Promise<{ loss: number; gnorm: number; lr: number }> {
    const o = this.o;
    const r = (await this.run(
      'train_step',
      [
        this.teacher.value as HostValue,
        st.ps,
        st.opt,
        batch,
        f32(st.step),
        f32(o.lr),
        f32(o.warmup),
        f32(o.steps),
        f32(o.alpha),
        f32(o.clip),
        f32(o.wd),
        fromNested(o.reference ? 1 : 0, 'bool'),
      ],
      LAYER[o.ste],
      [1, 2], // the projections and the AdamW state are donated: updated in place, resident across steps
    )) as [HostValue, HostValue, Tensor, Tensor, Tensor];
    const [ps, opt, loss, gnorm, lr] = r;
    st.ps = ps;
    st.opt = opt;
    return { loss: loss.data[0]!, gnorm: gnorm.data[0]!, lr: lr.data[0]! };
  }

  /** Runs the distillation; returns the final state. */
  async train(): Promise<TrainState> {
    const o = this.o;
    const blocks = trainingBlocks(readFileSync(o.data, 'utf8'), this.teacher, o.seq, o.seed);
    let st: TrainState;
    if (o.resume && existsSync(this.checkpointPath())) {
      st = readState(this.checkpointPath()) as TrainState;
      for (const k of ['seed', 'batch', 'seq', 'init', 'ste', 'steps'] as const)
        if (st.options[k] !== undefined && st.options[k] !== o[k])
          throw new UserError(
            `--resume: the checkpoint was made with --${k} ${String(st.options[k])}, not ${String(o[k])}`,
          );
      this.log(`resuming from ${this.checkpointPath()} at step ${st.step}\n`);
    } else st = await this.start();
    const bar = new Progress('distil', o.steps, { write: (s: string) => this.log(s), isTTY: process.stderr.isTTY });
    bar.update(st.step);
    while (st.step < o.steps) {
      const batch = Array.from({ length: o.batch }, (_, j) =>
        fromNested(blocks[(st.step * o.batch + j) % blocks.length]!, 'i32'),
      );
      const { loss, gnorm, lr } = await this.step(st, batch);
      st = { ...st, step: st.step + 1, losses: [...st.losses, loss] };
      bar.update(st.step, `loss ${loss.toFixed(4)} |g| ${gnorm.toFixed(2)} lr ${lr.toExponential(2)}`);
      if (o.checkpointEvery > 0 && (st.step % o.checkpointEvery === 0 || st.step === o.steps)) this.saveCheckpoint(st);
      appendFileSync(`${o.out}.loss.csv`, `${st.step},${loss},${gnorm},${lr}\n`);
    }
    return st;
  }
}

function countLinearWeights(c: LoadedModel['config']): number {
  const hd = c.dim / c.heads;
  return c.layers * (2 * c.dim * c.dim + 2 * c.dim * c.kvHeads * hd + 3 * c.dim * c.hidden);
}

/** The whole pipeline as `obtc quantize` runs it. */
export async function quantize(
  o: QuantizeOptions,
  log: (s: string) => void,
  out: (s: string) => void,
): Promise<QuantizeReport> {
  const t0 = performance.now();
  const teacher = await loadModel(o.weights, o.tokenizer);
  if (teacher.layer !== 'dense')
    throw new UserError(`${o.weights} is already a 1-bit model; quantize needs an fp teacher`);
  mkdirSync(dirname(o.out) || '.', { recursive: true });
  if (!o.resume && existsSync(`${o.out}.loss.csv`)) writeFileSync(`${o.out}.loss.csv`, '');
  const q = new Quantizer(teacher, o, log);
  const c = teacher.config;
  log(
    `teacher ${o.weights}: dim ${c.dim}, ${c.layers} layers, ${countLinearWeights(c)} projection weights; student ${LAYER[o.ste]} (init ${o.init}); ${o.backend === 'wasm' ? 'Wasm backend' : 'reference interpreter'}\n`,
  );
  const st = await q.train();
  const packed = await q.pack(st.ps);
  const packedBytes = writePacked(o.out, c, teacher.tokenizer.data, packed, teacher.checkpoint!.sharedHead, o.fp16);
  // the loss curve
  const svg = lineChartSvg(
    `OneBit distillation of ${o.weights.replace(/^.*\//, '')}`,
    [{ name: 'KD loss', color: '#c0392b', points: st.losses.map((l, i) => [i + 1, l]) }],
    'step',
    'loss',
  );
  writeFileSync(`${o.out}.loss.svg`, svg);
  const nW = countLinearWeights(c);
  const hd = c.dim / c.heads;
  const vecFloats =
    c.layers * (2 * (c.dim + c.dim) + 2 * (c.dim + c.kvHeads * hd) + 2 * (c.dim + c.hidden) + (c.hidden + c.dim));
  const bitsPerWeight = (nW + vecFloats * (o.fp16 ? 16 : 32)) / nW;
  const report: QuantizeReport = {
    losses: st.losses,
    packedBytes,
    teacherBytes: teacher.bytes,
    bitsPerWeight,
    seconds: 0,
  };
  out(
    `kd loss: first ${st.losses[0]?.toFixed(4) ?? '-'}  last ${st.losses[st.losses.length - 1]?.toFixed(4) ?? '-'}  (${st.losses.length} steps; curve in ${o.out}.loss.svg)\n`,
  );
  out(
    `packed student: ${o.out} (${packedBytes} bytes; teacher ${teacher.bytes} bytes; projections at ${bitsPerWeight.toFixed(3)} bits/weight incl. g and h)\n`,
  );
  if (o.evalText) {
    const text = readFileSync(o.evalText, 'utf8');
    const stream = tokenStream(text, teacher.tokenizer);
    const win = o.evalWindows;
    const evalStream = win ? stream.slice(0, win * o.evalSeq + 1) : stream;
    const evalOne = async (name: string, r: LlamaRunner) => {
      const windows = Math.floor((evalStream.length - o.evalSeq - 1) / o.evalSeq) + 1;
      const res = await perplexity(
        evalStream,
        o.evalSeq,
        c.vocab,
        (ids) => r.logitsAsync(ids),
        new Progress(`ppl ${name}`, windows, { write: log, isTTY: process.stderr.isTTY }),
      );
      out(`${name.padEnd(8)} ${formatPpl(res)}\n`);
      return res;
    };
    const teacherR = LlamaRunner.fromFile(teacher, undefined, o.backend, o.pool, o.gpu);
    const svidR = LlamaRunner.fromFile(
      { config: c, value: await q.pack(await q.initial()), layer: 'onebit' },
      undefined,
      o.backend,
      o.pool,
      o.gpu,
    );
    const trainedR = LlamaRunner.fromFile(
      { config: c, value: packed, layer: 'onebit' },
      undefined,
      o.backend,
      o.pool,
      o.gpu,
    );
    report.ppl = {
      teacher: await evalOne('teacher', teacherR),
      svid: await evalOne('svid', svidR),
      trained: await evalOne('student', trainedR),
    };
    if (o.sampleSteps > 0) {
      for (const [name, r] of [
        ['teacher', teacherR],
        ['student', trainedR],
      ] as const) {
        const dec = r.decoderAsync(o.sampleSteps);
        const ids = [teacher.tokenizer.data.bos];
        for (let pos = 0; pos < o.sampleSteps; pos++) {
          const l = await dec.step(ids[ids.length - 1]!, pos);
          let best = 0;
          for (let j = 1; j < c.vocab; j++) if (l[j]! > l[best]!) best = j;
          if (best === teacher.tokenizer.data.bos || best === teacher.tokenizer.data.eos) break;
          ids.push(best);
        }
        out(`\n${name} (greedy): ${teacher.tokenizer.decode(ids)}\n`);
      }
    }
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
