// The quantisation pipeline for any method (docs/methods.md; by default onebit_noln_latw10, the
// best found in docs/ablation/), on any backend: load the fp teacher, initialise every linear layer
// of a student with the method's `init` (models/kd.obt), distil on the teacher's own samples in
// fixed-length blocks with AdamW and a cosine schedule, checkpoint atomically (resumable), `export`
// the layers to their inference form and save the model file (method source embedded), then compare
// perplexities (teacher, init only, trained). --steps 0 is post-training quantisation: init and
// export only.
import { activeProfiler } from '../runtime/plan/profile.ts';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compile, type HostValue, type Program } from '../compiler/api.ts';
import type { BoundEntry } from '../compiler/entry.ts';
import { CompileError, Interrupted, UserError } from '../compiler/syntax/diag.ts';
import { terminalText } from '../runtime/core/errors.ts';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { loadModel, type LoadedModel } from './load.ts';
import { encodeState, readState, writeAtomic } from './io/state.ts';
import { writeModelFile, type Bits } from './io/modelfile.ts';
import { archDims, archFile, linearLayers, modelLeaves, modelType, paramCount } from './io/arch.ts';
import { firstNonFinite, treeLeaves } from '../runtime/core/tree.ts';
import { methodCompileOptions, resolveMethod, type Method } from './method.ts';
import type { QuantizeOptions } from './options.ts';
import { removeStaleTemps } from './io/stale.ts';
import { crc32 } from './io/state.ts';
import { ModelRunner } from './runner.ts';
import { fromNested, numel, type Tensor } from '../runtime/core/tensor.ts';
import { Progress } from './progress.ts';
import {
  checkFinitePpl,
  firstWindows,
  formatPpl,
  greedy,
  perplexity,
  tokenStream,
  windowCount,
  type PplResult,
} from './eval.ts';
import { lineChartSvg } from './plot.ts';
import { mulberry32 } from '../runtime/core/rng.ts';
import { Validator, type ValPoint } from './validate.ts';

export const KD_PROGRAM = join(PROJECT_ROOT, 'models/kd.obt');

export { DEFAULT_STEPS, defaultQuantizeOptions, type QuantizeOptions } from './options.ts';

/** A method's identity in checkpoints: its name and a checksum of its source. */
function methodId(m: Method): string {
  return `${m.name}@${crc32(new TextEncoder().encode(m.source)).toString(16)}`;
}

/** What kd.obt's train_step returns (its Stepped). */
interface Stepped {
  state: { params: HostValue; opt: HostValue };
  loss: Tensor;
  gnorm: Tensor;
  lr: Tensor;
}

export interface TrainState {
  step: number;
  /** what is trained: kd.obt's LayersOnly { layers }, or WithEmbedding { layers, emb, head } */
  ps: HostValue;
  opt: HostValue;
  losses: number[];
  /** what a resumed run must agree on (older checkpoints lack some: those are not checked) */
  options: Partial<Record<(typeof RESUME_KEYS)[number], number | string>>;
}

const RESUME_KEYS = [
  'seed',
  'batch',
  'seq',
  'steps',
  'method',
  'lr',
  'warmup',
  'alpha',
  'temperature',
  'embedding',
  'clip',
  'wd',
  'teacher',
] as const;

/** Keeps a loss CSV's rows up to step (rows a killed run wrote after its last checkpoint go). */
function truncateLossCsv(file: string, step: number): void {
  if (!existsSync(file)) return;
  const rows = readFileSync(file, 'utf8')
    .split('\n')
    .filter((r) => r && Number(r.split(',')[0]) <= step);
  writeFileSync(file, rows.map((r) => r + '\n').join(''));
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

export interface QuantizeReport {
  method: string;
  losses: number[];
  /** init: the student right after init (absent for --steps 0, where it is the student) */
  ppl?: { teacher: PplResult; init?: PplResult; trained: PplResult };
  studentBytes: number;
  teacherBytes: number;
  bits: Bits;
  /** trainable parameters (the layers' leaves) */
  trainable: number;
  /** tokens the student was trained on */
  trainTokens: number;
  /** the held-back evaluations during training (--val-every) */
  val: ValPoint[];
  seconds: number;
}

export class Quantizer {
  readonly prog: Program;
  readonly method: Method;
  private readonly dims: Record<string, number>;

  constructor(
    readonly teacher: LoadedModel,
    readonly o: QuantizeOptions,
    private readonly log: (s: string) => void,
  ) {
    this.method = resolveMethod(o.method);
    // kd.obt against the method (`import method`) and the teacher's architecture (`model`)
    const mo = methodCompileOptions(this.method);
    const prog = compile(readFileSync(KD_PROGRAM, 'utf8'), {
      path: KD_PROGRAM,
      ...mo,
      imports: { ...mo.imports, model: archFile(teacher.arch) },
    });
    if (!prog.ok) throw new CompileError(prog.diagnostics);
    this.prog = prog;
    this.dims = archDims(teacher.arch, teacher.config);
  }

  /** kd.obt's type parameters by name: the teacher's model type M and what is trained P, the
   *  student's layers in the method's training form (the struct names are visible in kd.obt's
   *  scope: the architecture's module is bound as `model`, the method's as `method`). */
  private get types(): Record<string, string> {
    const a = this.teacher.arch;
    const studentType = modelType(a, this.method.train);
    let trained = `LayersOnly[${studentType}]`;
    if (this.o.embedding === 'trained') {
      // the embedding's shape from the struct (WithEmbedding[M, V, D]'s emb: f32[V, D])
      const emb = modelLeaves(a, this.teacher.config).leaves.find((l) => l.path === 'emb');
      if (!emb) throw new UserError(`--embedding trained: the ${a.name} model has no emb field to train`);
      trained = `WithEmbedding[${studentType}, ${emb.shape.join(', ')}]`;
    }
    return { M: modelType(a, 'Dense'), P: trained };
  }

  /** Runs a kd.obt entry once, by name. */
  private async call(
    entry: string,
    args: Record<string, HostValue>,
    typed: { M?: boolean; P?: boolean },
  ): Promise<Record<string, unknown>> {
    const all = this.types;
    const types = Object.fromEntries(Object.entries(all).filter(([k]) => typed[k as 'M' | 'P']));
    return this.prog
      .bind(entry, args, {
        dims: this.dims,
        types,
        backend: this.o.backend,
        pool: this.o.pool,
        gpu: this.o.gpu,
      })
      .run();
  }

  /** The student's layers after the method's init (its training form). */
  async initial(): Promise<HostValue> {
    return (await this.call('init_layers', { t: this.teacher.value as HostValue, seed: this.o.seed }, { M: true }))
      .result as HostValue;
  }

  /** What is trained (a kd.obt struct, by name): the layers, or the layers with the embedding and
   *  head (--embedding trained). */
  private get trainable(): string {
    return this.o.embedding === 'trained' ? 'WithEmbedding' : 'LayersOnly';
  }

  /** Whether the teacher's head is its embedding (tied). */
  private get tied(): boolean {
    return this.teacher.checkpoint?.sharedHead ?? false;
  }

  /** The student for inference: the method's export of every layer, the teacher's frozen parts
   *  (or, with --embedding trained, the trained embedding and head). */
  async export(ps: HostValue): Promise<Record<string, unknown>> {
    const t = this.teacher.value as HostValue;
    // a struct result comes back by field: the model value itself
    return this.call('export_student', { t, p: ps, tied: this.tied }, { M: true, P: true });
  }

  private checkpointPath(): string {
    return `${this.o.out}.ckpt`;
  }

  private saveCheckpoint(s: TrainState): void {
    writeAtomic(this.checkpointPath(), encodeState(s));
  }

  /** What is trained after init: the struct's `layers` field is the method's init of the
   *  teacher's layers; every other field (WithEmbedding's emb, head) starts from the teacher's field
   *  of the same name (the fields are the compiler's: kd.obt's struct is their one description). */
  async initialTrainable(): Promise<HostValue> {
    const layers = await this.initial();
    const teacher = this.teacher.value as Record<string, HostValue>;
    return Object.fromEntries(
      this.prog.structFields(this.trainable).map((f) => [f, f === 'layers' ? layers : teacher[f]!]),
    ) as HostValue;
  }

  /** The initial training state (the method's init of every layer, fresh AdamW moments). */
  async start(): Promise<TrainState> {
    const state = (await this.call('start', { p: await this.initialTrainable() }, { P: true })) as {
      params: HostValue;
      opt: HostValue;
    };
    return { step: 0, ps: state.params, opt: state.opt, losses: [], options: this.identity() };
  }

  /** The checkpoint's state, checked against this run: its options, and its layers and optimiser
   *  state leaf by leaf (paths, dtypes, shapes) against a fresh start's, so a CRC-valid but wrong
   *  file is an error naming the first difference instead of a crash in the first step. */
  private async resumed(): Promise<TrainState> {
    const file = this.checkpointPath();
    const raw = readState(file) as Partial<TrainState> | null;
    const bad = (what: string): never => {
      throw new UserError(`--resume: ${file}: ${what}`);
    };
    if (!raw || typeof raw !== 'object') bad('not a training state');
    const st = raw as TrainState;
    if (!Number.isInteger(st.step) || st.step < 0 || st.step > this.o.steps)
      bad(`step ${String(st.step)}: expected an integer in 0..${this.o.steps}`);
    if (!Array.isArray(st.losses) || st.losses.length !== st.step || st.losses.some((l) => typeof l !== 'number'))
      bad(`losses: expected ${st.step} numbers`);
    if (!st.options || typeof st.options !== 'object' || Array.isArray(st.options)) bad('options: missing');
    const want = this.identity();
    // a checkpoint that does not say how it was made cannot be checked against this run
    const unsaid = RESUME_KEYS.filter((k) => st.options[k] === undefined);
    if (unsaid.length && !this.o.force)
      bad(
        `it does not record ${unsaid.map((k) => `--${k}`).join(', ')}, so it cannot be checked against this run (--force resumes it anyway)`,
      );
    for (const k of RESUME_KEYS)
      if (st.options[k] !== undefined && st.options[k] !== want[k])
        throw new UserError(
          `--resume: the checkpoint was made with --${k} ${String(st.options[k])}, not ${String(want[k])}`,
        );
    const fresh = await this.start();
    for (const part of ['ps', 'opt'] as const) {
      const a = treeLeaves(st[part]);
      const b = treeLeaves(fresh[part]);
      const show = (l: { path: string; leaf: Tensor }) => `${l.path} ${l.leaf.dtype}[${l.leaf.shape.join(', ')}]`;
      for (let i = 0; i < Math.max(a.length, b.length); i++) {
        const x = a[i];
        const y = b[i];
        if (
          !x ||
          !y ||
          x.path !== y.path ||
          x.leaf.dtype !== y.leaf.dtype ||
          x.leaf.shape.join() !== y.leaf.shape.join()
        )
          bad(
            `${part === 'ps' ? 'layers' : 'optimiser state'}: expected ${y ? show(y) : 'no more tensors'}, found ${x ? show(x) : 'none'}`,
          );
      }
    }
    return st;
  }

  /** A non-finite loss or gradient norm: stops the run with the step and the first parameter (by
   *  path) holding a non-finite value; the last checkpoint written stays the last good one. */
  private diverged(step: number, loss: number, gnorm: number, ps: HostValue): never {
    const nf = firstNonFinite(ps);
    // layers(student) is a list per block of that block's layers: the k-th of block b is the
    // model's (b·K + k)-th layer (llm/io/arch.ts, from the struct); the other fields of what is
    // trained (emb, head) are named already
    const layerPaths = linearLayers(this.teacher.arch, this.teacher.config).map((l) => l.path);
    const perBlock = layerPaths.length / this.teacher.config.layers;
    const param = (p: string) =>
      p.replace(
        /^layers\[(\d+)\]\[(\d+)\]/,
        (_, b: string, k: string) => layerPaths[Number(b) * perBlock + Number(k)] ?? _,
      );
    const where = nf
      ? `the first non-finite parameter is ${param(nf.path)}[${nf.index}] (${nf.value}) after the update`
      : 'the parameters are still finite (the loss itself overflowed)';
    const ck =
      this.o.checkpointEvery > 0 && existsSync(this.checkpointPath())
        ? `; the last good checkpoint is ${this.checkpointPath()} (--resume continues from it)`
        : '';
    throw new UserError(
      `training diverged at step ${step}: loss ${loss}, gradient norm ${gnorm}; ${where}${ck}`,
      undefined,
      `a smaller --lr (now ${this.o.lr}) or --clip (now ${this.o.clip}) usually avoids it`,
    );
  }

  /** What a checkpoint must agree on to be resumed. */
  private identity(): TrainState['options'] {
    const o = this.o;
    return {
      seed: o.seed,
      batch: o.batch,
      seq: o.seq,
      steps: o.steps,
      method: methodId(this.method),
      lr: o.lr,
      warmup: o.warmup,
      alpha: o.alpha,
      temperature: o.temperature,
      embedding: o.embedding,
      clip: o.clip,
      wd: o.wd,
      teacher: `${this.teacher.bytes} bytes, ${this.teacher.config.dim}×${this.teacher.config.layers}`,
    };
  }

  private stepEntry?: BoundEntry;
  private lastState?: { params: HostValue; opt: HostValue };

  /** One KD step (forward, backward, clipping, AdamW) on a batch of token blocks: updates st.ps and
   *  st.opt. The entry is bound once (the teacher flattened once); the state is donated: updated in
   *  place, resident across steps. */
  async step(st: TrainState, batch: Tensor[]): Promise<{ loss: number; gnorm: number; lr: number }> {
    const o = this.o;
    // the state the last step returned, passed back as it is (the entry knows its leaves already)
    const last = this.lastState;
    const state = last && last.params === st.ps && last.opt === st.opt ? last : { params: st.ps, opt: st.opt };
    const hp = {
      lr: o.lr,
      warmup: o.warmup,
      steps: o.steps,
      alpha: o.alpha,
      temperature: o.temperature,
      reference: o.reference,
      clip: o.clip,
      wd: o.wd,
      tied: this.tied,
    };
    this.stepEntry ??= this.prog.bind(
      'train_step',
      { teacher: this.teacher.value as HostValue, state, batch, step: st.step, hp },
      {
        dims: this.dims,
        types: this.types,
        backend: o.backend,
        pool: o.pool,
        gpu: o.gpu,
        donate: ['state'],
      },
    );
    const r = (await this.stepEntry.run({ state, batch, step: st.step })) as unknown as Stepped;
    st.ps = r.state.params;
    st.opt = r.state.opt;
    this.lastState = r.state;
    return { loss: r.loss.data[0]!, gnorm: r.gnorm.data[0]!, lr: r.lr.data[0]! };
  }

  /** Runs the distillation (evaluating on the held-back slice with a validator); returns the final state. */
  async train(val?: Validator): Promise<TrainState> {
    const o = this.o;
    const blocks = trainingBlocks(readFileSync(o.data, 'utf8'), this.teacher, o.seq, o.seed);
    let st: TrainState;
    // a checkpoint or model write killed midway left its temporary part: removed before this run writes
    for (const f of [this.checkpointPath(), o.out])
      for (const p of removeStaleTemps(f)) this.log(`removed ${p}, left by a run that was killed while writing\n`);
    if (o.resume && existsSync(this.checkpointPath())) {
      st = await this.resumed();
      this.log(`resuming from ${this.checkpointPath()} at step ${st.step}\n`);
      truncateLossCsv(`${o.out}.loss.csv`, st.step);
      truncateLossCsv(`${o.out}.val.csv`, st.step);
    } else st = await this.start();
    const bar = new Progress('distil', o.steps, { write: (s: string) => this.log(s), isTTY: process.stderr.isTTY });
    bar.update(st.step);
    // Ctrl-C: the step under way finishes, its checkpoint is written, and the run stops (a second
    // Ctrl-C stops at once; the last checkpoint is intact either way: writes are atomic renames)
    let interrupted = false;
    const onInt = () => {
      if (interrupted) process.exit(130);
      interrupted = true;
    };
    process.on('SIGINT', onInt);
    try {
      while (st.step < o.steps) {
        const batch = Array.from({ length: o.batch }, (_, j) =>
          fromNested(blocks[(st.step * o.batch + j) % blocks.length]!, 'i32'),
        );
        const prof = activeProfiler();
        const { loss, gnorm, lr } = prof
          ? await prof.phaseAsync('quantize: train_step (whole call)', () => this.step(st, batch))
          : await this.step(st, batch);
        if (prof) prof.steps++;
        if (!Number.isFinite(loss) || !Number.isFinite(gnorm)) this.diverged(st.step + 1, loss, gnorm, st.ps);
        st = { ...st, step: st.step + 1, losses: [...st.losses, loss] };
        bar.update(st.step, `loss ${loss.toFixed(4)} |g| ${gnorm.toFixed(2)} lr ${lr.toExponential(2)}`);
        o.onStep?.(st.step);
        await new Promise((r) => setImmediate(r)); // lets a pending Ctrl-C (a signal event) in
        // the CSV row first: a checkpoint at step k always has rows 1..k beside it
        appendFileSync(`${o.out}.loss.csv`, `${st.step},${loss},${gnorm},${lr}\n`);
        const due = st.step % o.checkpointEvery === 0 || st.step === o.steps;
        if (o.checkpointEvery > 0 && (due || interrupted)) this.saveCheckpoint(st);
        if (val && (st.step % o.valEvery === 0 || st.step === o.steps)) {
          const p = await val.evaluate(st.step, await this.export(st.ps));
          appendFileSync(`${o.out}.val.csv`, `${p.step},${p.ppl},${p.ce}\n`);
          this.log(
            `\nstep ${p.step}: held-back ppl ${p.ppl.toFixed(4)} (best ${val.best!.ppl.toFixed(4)} at ${val.best!.step})\n`,
          );
          if (o.earlyStop > 0 && val.stalled(o.earlyStop) && st.step < o.steps) {
            this.log(`early stop at step ${st.step}: no better held-back perplexity in ${o.earlyStop} evaluations\n`);
            break;
          }
        }
        if (interrupted && st.step < o.steps)
          throw new Interrupted(
            `interrupted at step ${st.step} of ${o.steps}` +
              (o.checkpointEvery > 0
                ? `; checkpoint ${this.checkpointPath()} (--resume continues from it)`
                : ' (no checkpoint: --checkpoint-every 0)'),
          );
      }
    } finally {
      process.off('SIGINT', onInt);
    }
    return st;
  }
}

/** Element count of every tensor in a host tree. */
function leafCount(v: unknown): number {
  return treeLeaves(v).reduce((n, l) => n + numel(l.leaf.shape), 0);
}

/** The whole pipeline as `obtc quantize` runs it. */
export async function quantize(
  o: QuantizeOptions,
  log: (s: string) => void,
  out: (s: string) => void,
): Promise<QuantizeReport> {
  const t0 = performance.now();
  const teacher = await loadModel(o.weights, o.tokenizer);
  if (teacher.layer !== 'Dense')
    throw new UserError(`${o.weights} is already a quantised model (${teacher.layer}); quantize needs an fp teacher`);
  mkdirSync(dirname(o.out) || '.', { recursive: true });
  for (const f of [`${o.out}.loss.csv`, `${o.out}.val.csv`]) if (!o.resume && existsSync(f)) writeFileSync(f, '');
  const q = new Quantizer(teacher, o, log);
  const m = q.method;
  const c = teacher.config;
  const linear = linearLayers(teacher.arch, c);
  const nW = linear.reduce((s, l) => s + l.weights, 0);
  log(
    `teacher ${o.weights}: dim ${c.dim}, ${c.layers} layers, ${nW} linear weights; method ${m.name} (${m.train} → ${m.infer}); ${o.steps ? `${o.steps} distillation steps of ${o.batch} × ${o.seq} tokens (lr ${o.lr}, α ${o.alpha}${o.temperature !== 1 ? `, temperature ${o.temperature}` : ''}, embedding ${o.embedding})` : 'post-training (no distillation)'}; ${o.backend === 'wasm' ? 'Wasm backend' : o.backend === 'webgpu' ? 'WebGPU backend' : 'reference interpreter'}\n`,
  );
  const val =
    o.valEvery > 0 && o.steps > 0
      ? new Validator(
          readFileSync(o.evalText ?? '', 'utf8'),
          teacher,
          m,
          o.evalSeq,
          o.valWindows,
          o.backend,
          o.pool,
          o.gpu,
        )
      : undefined;
  const st = await q.train(val);
  // --early-stop: the student with the best held-back perplexity (it may be the last)
  const best = o.earlyStop > 0 ? val?.best : undefined;
  const student = best && best.step < st.step ? best.student : await q.export(st.ps);
  if (best && best.step < st.step)
    out(`early stopping: the student of step ${best.step} (held-back ppl ${best.ppl.toFixed(4)})\n`);
  const sharedHead = teacher.checkpoint?.sharedHead ?? false;
  const saved = writeModelFile(o.out, {
    arch: teacher.arch,
    config: c,
    tokenizer: teacher.tokenizer.data,
    value: student,
    layer: m.infer,
    method: { name: m.name, source: m.source, train: m.train, infer: m.infer },
    linear,
    params: paramCount(teacher.arch, c, sharedHead),
    fp16: o.fp16,
  });
  if (st.losses.length) {
    const svg = lineChartSvg(
      `${m.name} distillation of ${o.weights.replace(/^.*\//, '')}`,
      [
        { name: 'KD loss', color: '#c0392b', points: st.losses.map((l, i) => [i + 1, l]) },
        ...(val?.points.length
          ? [
              {
                name: 'held-back CE (nats)',
                color: '#2471a3',
                points: val.points.map((p): [number, number] => [p.step, p.ce]),
              },
            ]
          : []),
      ],
      'step',
      'loss',
    );
    writeFileSync(`${o.out}.loss.svg`, svg);
    out(
      `kd loss: first ${st.losses[0]!.toFixed(4)}  last ${st.losses[st.losses.length - 1]!.toFixed(4)}  (${st.losses.length} steps; curve in ${o.out}.loss.svg)\n`,
    );
  }
  const b = saved.bits;
  out(
    `student: ${o.out} (${saved.bytes} bytes; teacher ${teacher.bytes} bytes; ${m.infer} layers at ${b.linear.toFixed(3)} bits/weight, whole model ${b.model.toFixed(3)}, file ${b.file.toFixed(3)})\n`,
  );
  const report: QuantizeReport = {
    method: m.name,
    losses: st.losses,
    studentBytes: saved.bytes,
    teacherBytes: teacher.bytes,
    bits: b,
    // a tied model's head entry is the embedding's twin and gets no gradient: not counted
    trainable:
      leafCount(st.ps) - (o.embedding === 'trained' && (teacher.checkpoint?.sharedHead ?? false) ? c.vocab * c.dim : 0),
    trainTokens: st.step * o.batch * o.seq,
    val: val?.points ?? [],
    seconds: 0,
  };
  if (o.evalText) {
    const text = readFileSync(o.evalText, 'utf8');
    const stream = tokenStream(text, teacher.tokenizer);
    const evalStream = firstWindows(stream, o.evalSeq, o.evalWindows);
    const evalOne = async (name: string, r: ModelRunner) => {
      const res = await perplexity(
        evalStream,
        o.evalSeq,
        (ids, targets) => r.nllAsync(ids, targets),
        new Progress(`ppl ${name}`, windowCount(evalStream.length, o.evalSeq), {
          write: log,
          isTTY: process.stderr.isTTY,
        }),
      );
      out(`${name.padEnd(8)} ${formatPpl(checkFinitePpl(res, `the ${name} model`))}\n`);
      return res;
    };
    const runner = (value: Record<string, unknown>) =>
      ModelRunner.fromFile(
        { arch: teacher.arch, config: c, value, layer: `method.${m.infer}`, method: m },
        undefined,
        o.backend,
        o.pool,
        o.gpu,
      );
    const teacherR = ModelRunner.fromFile(teacher, undefined, o.backend, o.pool, o.gpu);
    const trainedR = runner(student);
    report.ppl = {
      teacher: await evalOne('teacher', teacherR),
      init: o.steps > 0 ? await evalOne('init', runner(await q.export(await q.initialTrainable()))) : undefined,
      trained: await evalOne('student', trainedR),
    };
    if (o.sampleSteps > 0) {
      for (const [name, r] of [
        ['teacher', teacherR],
        ['student', trainedR],
      ] as const) {
        const { bos, eos } = teacher.tokenizer.data;
        const { ids } = await greedy(r.decoderAsync(o.sampleSteps), bos, o.sampleSteps, (t) => t === bos || t === eos);
        out(`\n${name} (greedy): ${terminalText(teacher.tokenizer.decode(ids))}\n`);
      }
    }
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
