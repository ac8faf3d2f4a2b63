// The distillation run: fixed-length blocks of the distillation text in a seeded order, one KD step
// each (llm/kd_program.ts), a resumable checkpoint written atomically every N steps (checked
// against the run before it is resumed), the held-back evaluation and early stopping, Ctrl-C
// finishing the step under way, and a diverged run stopped with the parameter that went
// non-finite.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { HostValue } from '../compiler/api.ts';
import { Interrupted, UserError } from '../compiler/syntax/diag.ts';
import { activeProfiler } from '../runtime/plan/profile.ts';
import { firstNonFinite, treeLeaves } from '../runtime/core/tree.ts';
import { fromNested, type Tensor } from '../runtime/core/tensor.ts';
import { mulberry32 } from '../runtime/core/rng.ts';
import type { LoadedModel } from './load.ts';
import { encodeState, readState, writeAtomic, crc32 } from './io/state.ts';
import { removeStaleTemps } from './io/stale.ts';
import type { Method } from './method.ts';
import { Progress } from './progress.ts';
import { tokenStream } from './eval.ts';
import type { Validator } from './validate.ts';
import { KdProgram, type Params } from './kd_program.ts';
import { RESUME_OPTIONS, flagOf } from './options.ts';

/** A method's identity in checkpoints: its name and a checksum of its source. */
function methodId(m: Method): string {
  return `${m.name}@${crc32(new TextEncoder().encode(m.source)).toString(16)}`;
}

export interface TrainState extends Params {
  step: number;
  losses: number[];
  /** what a resumed run must agree on (older checkpoints lack some: those are not checked) */
  options: Partial<Record<string, number | string>>;
}

/** What a checkpoint records of how it was made: the options marked in llm/options.ts, and the
 *  teacher. */
const RESUME_KEYS = [...RESUME_OPTIONS, 'teacher'] as const;
const flagName = (k: (typeof RESUME_KEYS)[number]) => (k === 'teacher' ? 'teacher' : flagOf(k));

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

/** The KD program with its training loop. */
export class Quantizer extends KdProgram {
  private checkpointPath(): string {
    return `${this.o.out}.ckpt`;
  }

  private saveCheckpoint(s: TrainState): void {
    writeAtomic(this.checkpointPath(), encodeState(s));
  }

  /** The initial training state (the method's init of every layer, fresh AdamW moments). */
  async start(): Promise<TrainState> {
    return { step: 0, ...(await this.startParams()), losses: [], options: this.identity() };
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
        `it does not record ${unsaid.map((k) => `--${flagName(k)}`).join(', ')}, so it cannot be checked against this run (--force resumes it anyway)`,
      );
    for (const k of RESUME_KEYS)
      if (st.options[k] !== undefined && st.options[k] !== want[k])
        throw new UserError(
          `--resume: the checkpoint was made with --${flagName(k)} ${String(st.options[k])}, not ${String(want[k])}`,
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
    // what is trained is named as the model is: `layers.blocks[3].<layer>.w` is the model's
    // `blocks[3].<layer>.w` (Layers[M] keeps its fields' names); emb and head are the model's own
    const param = (p: string) => p.replace(/^layers\./, '');
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
    const opts = RESUME_OPTIONS.map((k) => [k, k === 'method' ? methodId(this.method) : (o[k] as number | string)]);
    return {
      ...Object.fromEntries(opts),
      teacher: `${this.teacher.bytes} bytes, ${this.teacher.config.dim}×${this.teacher.config.layers}`,
    };
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
