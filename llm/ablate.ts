// obtc ablate: a grid of quantisation runs (methods × seeds × any quantize flag given a list) with
// one recipe for every row, each run evaluated by one protocol, written as a table (Markdown, CSV,
// JSON), every run's loss curve on one plot and a Pareto plot of perplexity against bits per
// weight. Resumable: a finished run's results are kept in DIR/runs/ID.json and not redone; an
// unfinished one resumes from its last checkpoint.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { quantize, type QuantizeOptions } from './quantize.ts';
import { loadModel } from './load.ts';
import { ModelRunner } from './runner.ts';
import { firstWindows, greedy, perplexity, tokenStream } from './eval.ts';
import { Progress } from './progress.ts';
import { lineChartSvg, scatterSvg } from './plot.ts';
import { paramCount } from './io/arch.ts';
import type { Bits } from './io/modelfile.ts';

export interface AblationRun {
  /** a file-name-safe identity of the row: method, any grid flag, seed */
  id: string;
  /** the grid flags this row sets (method, seed and any flag given a list) */
  axes: Record<string, string>;
  options: QuantizeOptions;
}

export interface EvalProtocol {
  text: string;
  seq: number;
  /** the first N windows only (all when absent) */
  windows?: number;
  /** decode steps timed for tokens/s */
  decodeSteps: number;
}

export interface RunResult {
  id: string;
  method: string;
  seed: number;
  axes: Record<string, string>;
  steps: number;
  bits: Bits;
  fileBytes: number;
  trainable: number;
  trainTokens: number;
  /** quantize's wall time: init, distillation, export and save */
  seconds: number;
  ppl: number;
  ce: number;
  windows: number;
  decodeTokensPerSecond: number;
  losses: number[];
}

/** Perplexity and decode speed of a model file under the protocol. */
async function evaluate(
  file: string,
  p: EvalProtocol,
  tick: () => void,
): Promise<{ ppl: number; ce: number; windows: number; tps: number }> {
  const m = await loadModel(file);
  const r = ModelRunner.fromFile(m, { kind: 'wasm' });
  const stream = tokenStream(readFileSync(p.text, 'utf8'), m.tokenizer);
  const res = await perplexity(firstWindows(stream, p.seq, p.windows), p.seq, (ids, t) => r.nll(ids, t), {
    update: tick,
  });
  // decode: greedy from BOS, the median of three timed passes after a warm-up pass
  const steps = Math.min(p.decodeSteps, m.config.seqLen);
  const pass = async () =>
    (await greedy(r.decoder(steps), m.tokenizer.data.bos, steps)).ms.reduce((a, b) => a + b, 0) / 1000;
  await pass();
  const ts = [await pass(), await pass(), await pass()].sort((a, b) => a - b);
  return { ppl: res.ppl, ce: res.ce, windows: res.windows, tps: steps / ts[1]! };
}

function windowsOf(p: EvalProtocol, tokens: number): number {
  const n = p.windows ? Math.min(tokens, p.windows * p.seq + 1) : tokens;
  return n >= p.seq + 1 ? Math.floor((n - p.seq - 1) / p.seq) + 1 : 0;
}

/** How rows run: in this process one after another (the default), or `jobs` at a time, each by
 *  `spawnRow(id)` (obtc ablate --jobs: a child process running that one row, which writes
 *  runs/ID.json; its progress is read from its loss CSV). `only`: run these rows and write no table. */
export interface AblateMode {
  jobs?: number;
  spawnRow?: (id: string) => Promise<void>;
  only?: boolean;
}

/** Runs (or resumes) the grid; writes the results into dir; returns every row. */
export async function ablate(
  runs: AblationRun[],
  p: EvalProtocol,
  dir: string,
  log: (s: string) => void,
  command?: string,
  mode: AblateMode = {},
): Promise<{ rows: RunResult[]; teacher: { ppl: number; ce: number; tps: number; bytes: number; params: number } }> {
  const runsDir = join(dir, 'runs');
  mkdirSync(runsDir, { recursive: true });
  const teacherFile = runs[0]!.options.weights;
  const teacherModel = await loadModel(teacherFile, runs[0]!.options.tokenizer, { dense: true });
  const evalWindows = windowsOf(p, tokenStream(readFileSync(p.text, 'utf8'), teacherModel.tokenizer).length);
  const work = runs.reduce((s, r) => s + r.options.steps + evalWindows, evalWindows);
  const bar = new Progress('ablate', work, { write: log, isTTY: process.stderr.isTTY });
  let done = 0;
  const tick = () => bar.update(++done);
  bar.update(0);

  const teacherJson = join(runsDir, 'teacher.json');
  let teacher: { ppl: number; ce: number; tps: number; bytes: number; params: number };
  if (existsSync(teacherJson)) {
    teacher = JSON.parse(readFileSync(teacherJson, 'utf8')) as typeof teacher;
    done += evalWindows;
  } else {
    const e = await evaluate(teacherFile, p, tick);
    teacher = {
      ppl: e.ppl,
      ce: e.ce,
      tps: e.tps,
      bytes: teacherModel.bytes,
      params: paramCount(teacherModel.arch, teacherModel.config, teacherModel.checkpoint?.sharedHead ?? false),
    };
    writeFileSync(teacherJson, JSON.stringify(teacher));
  }

  const results = new Map<string, RunResult>();
  const pending: AblationRun[] = [];
  for (const run of runs) {
    const json = join(runsDir, `${run.id}.json`);
    if (existsSync(json)) {
      results.set(run.id, JSON.parse(readFileSync(json, 'utf8')) as RunResult);
      done += run.options.steps + evalWindows;
      bar.update(done, run.id);
    } else pending.push(run);
  }
  const jobs = mode.spawnRow ? Math.max(1, mode.jobs ?? 1) : 1;
  if (jobs > 1) {
    // each child's progress: the rows of its loss CSV (steps done), polled
    const base = done;
    const running = new Set<AblationRun>();
    const finished: AblationRun[] = [];
    const stepsOf = (r: AblationRun) => {
      const csv = join(runsDir, `${r.id}.obtm.loss.csv`);
      return existsSync(csv) ? readFileSync(csv, 'utf8').split('\n').filter(Boolean).length : 0;
    };
    const poll = setInterval(() => {
      done = base + finished.reduce((s, r) => s + r.options.steps + evalWindows, 0);
      for (const r of running) done += Math.min(stepsOf(r), r.options.steps);
      bar.update(done, [...running].map((r) => r.id).join(', '));
    }, 1000);
    try {
      const queue = [...pending];
      await Promise.all(
        Array.from({ length: Math.min(jobs, queue.length) }, async () => {
          for (let r = queue.shift(); r; r = queue.shift()) {
            running.add(r);
            await mode.spawnRow!(r.id);
            running.delete(r);
            finished.push(r);
            results.set(r.id, JSON.parse(readFileSync(join(runsDir, `${r.id}.json`), 'utf8')) as RunResult);
          }
        }),
      );
    } finally {
      clearInterval(poll);
    }
  } else for (const run of pending) results.set(run.id, await runRow(run));
  const rows = runs.map((r) => results.get(r.id)!);
  bar.update(work);
  if (!mode.only)
    writeResults(
      dir,
      rows,
      teacher,
      p,
      runs.map((r) => r.options),
      command,
      jobs,
    );
  return { rows, teacher };

  /** One row in this process: quantize, evaluate, runs/ID.json. */
  async function runRow(run: AblationRun): Promise<RunResult> {
    const json = join(runsDir, `${run.id}.json`);
    const out = join(runsDir, `${run.id}.obtm`);
    const logFile = join(runsDir, `${run.id}.log`);
    const resume = existsSync(`${out}.ckpt`);
    if (!resume) rmSync(`${out}.loss.csv`, { force: true });
    const before = done;
    const logs: string[] = [];
    const report = await quantize(
      {
        ...run.options,
        out,
        resume,
        evalText: undefined,
        sampleSteps: 0,
        onStep: (s) => bar.update((done = before + s), run.id),
      },
      (s) => logs.push(s),
      (s) => logs.push(s),
    );
    writeFileSync(logFile, logs.join(''));
    done = before + run.options.steps;
    const e = await evaluate(out, p, tick);
    const r: RunResult = {
      id: run.id,
      method: report.method,
      seed: run.options.seed,
      axes: run.axes,
      steps: run.options.steps,
      bits: report.bits,
      fileBytes: report.studentBytes,
      trainable: report.trainable,
      trainTokens: report.trainTokens,
      seconds: report.seconds,
      ppl: e.ppl,
      ce: e.ce,
      windows: e.windows,
      decodeTokensPerSecond: e.tps,
      losses: report.losses,
    };
    writeFileSync(json, JSON.stringify(r));
    rmSync(`${out}.ckpt`, { force: true });
    return r;
  }
}

// ---- the tables and plots ----

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) =>
  xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0;
// well-separated colours (Trubetskoy's list, less its palest, which vanish on white): 16 methods
// before one repeats
const COLORS = [
  '#e6194b',
  '#3cb44b',
  '#4363d8',
  '#f58231',
  '#911eb4',
  '#42d4f4',
  '#f032e6',
  '#9a6324',
  '#000075',
  '#808000',
  '#800000',
  '#469990',
  '#808080',
  '#d4a000',
  '#9bc53d',
  '#e891b8',
];

/** The recipe's file paths relative to the working directory (no machine's folders in a result). */
const files = (o: QuantizeOptions) => {
  const rel = (f: string | undefined) => (f === undefined ? undefined : relative(process.cwd(), f) || '.');
  return { weights: rel(o.weights), data: rel(o.data), evalText: rel(o.evalText), tokenizer: rel(o.tokenizer) };
};

/** Rows that differ only in their seed, together. */
function groups(rows: RunResult[]): { key: string; rows: RunResult[] }[] {
  const m = new Map<string, RunResult[]>();
  for (const r of rows) {
    const key = Object.entries(r.axes)
      .filter(([k]) => k !== 'seed')
      .map(([k, v]) => (k === 'method' ? v : `${k}=${v}`))
      .join(' ');
    m.set(key, [...(m.get(key) ?? []), r]);
  }
  return [...m].map(([key, rs]) => ({ key, rows: rs }));
}

function writeResults(
  dir: string,
  rows: RunResult[],
  teacher: { ppl: number; ce: number; tps: number; bytes: number; params: number },
  p: EvalProtocol,
  opts: QuantizeOptions[],
  command: string | undefined,
  jobs: number,
): void {
  const o = opts[0]!;
  // a recipe value, or its values where grid rows differ (the warm-up follows --steps by default)
  const v = (k: keyof QuantizeOptions) => [...new Set(opts.map((x) => String(x[k])))].join(' / ');
  const gs = groups(rows);
  const pm = (xs: number[], d: number) =>
    xs.length > 1 ? `${mean(xs).toFixed(d)} ± ${sd(xs).toFixed(d)}` : mean(xs).toFixed(d);
  const protocol = `perplexity of ${p.text.replace(/^.*\//, '')} in ${p.windows ? `its first ${rows[0]?.windows ?? p.windows}` : `all ${rows[0]?.windows ?? ''}`} non-overlapping windows of ${p.seq} tokens (every token after the first of a window predicted; obtc ppl's protocol), Wasm backend; decode tokens/s: greedy decoding of ${p.decodeSteps} tokens from BOS, 1 thread, median of 3 timed passes${jobs > 1 ? ` (with --jobs ${jobs}: ${jobs} rows ran side by side, so wall times and decode speeds are slower than alone)` : ''}`;
  const md: string[] = [
    '# Ablation',
    '',
    ...(command ? [`Made by \`${command}\`.`, ''] : []),
    `Recipe for every row: ${[...new Set(rows.map((r) => r.steps))].length === 1 ? `${rows[0]!.steps} distillation steps, ` : ''}teacher \`${o.weights.replace(/^.*\//, '')}\`, distillation on \`${o.data.replace(/^.*\//, '')}\`, batch ${v('batch')} × ${v('seq')} tokens, AdamW lr ${v('lr')} (cosine, warm-up ${v('warmup')} steps), α ${v('alpha')}, KD temperature ${v('temperature')}, embedding ${v('embedding')}, clip ${v('clip')}, weight decay ${v('wd')}${o.fp16 ? ', f32 tensors stored as f16' : ''}; the grid: ${[...new Set(rows.flatMap((r) => Object.keys(r.axes)))].join(' × ')}.`,
    '',
    `Evaluation: ${protocol}. Mean ± sample standard deviation over seeds where there are several.`,
    '',
    "Bits per weight are counted from what the model file stores (signs with their row padding, every vector at its storage dtype): *linear* over the linear layers' weights, *model* over every parameter of the fp model (embedding, norms and head included).",
    '',
    '| method | runs | bits/weight (linear) | bits/weight (model) | file bytes | trainable params | train tokens | wall time (s) | eval ppl | decode tokens/s |',
    '|---|---|---|---|---|---|---|---|---|---|',
    `| fp32 teacher | 1 | 32 | 32 | ${teacher.bytes} | – | – | – | ${teacher.ppl.toFixed(3)} | ${teacher.tps.toFixed(0)} |`,
  ];
  for (const g of gs) {
    const r = g.rows;
    md.push(
      `| ${g.key} | ${r.length} | ${mean(r.map((x) => x.bits.linear)).toFixed(3)} | ${mean(r.map((x) => x.bits.model)).toFixed(3)} | ${Math.round(mean(r.map((x) => x.fileBytes)))} | ${Math.round(mean(r.map((x) => x.trainable)))} | ${Math.round(mean(r.map((x) => x.trainTokens)))} | ${pm(
        r.map((x) => x.seconds),
        0,
      )} | ${pm(
        r.map((x) => x.ppl),
        3,
      )} | ${pm(
        r.map((x) => x.decodeTokensPerSecond),
        0,
      )} |`,
    );
  }
  md.push('', '![loss curves](loss.svg)', '', '![perplexity against bits per weight](pareto.svg)', '');
  writeFileSync(join(dir, 'results.md'), md.join('\n'));
  const head = [
    'id',
    'method',
    'seed',
    'steps',
    'bits_linear',
    'bits_model',
    'bits_file',
    'file_bytes',
    'trainable',
    'train_tokens',
    'seconds',
    'ppl',
    'ce',
    'windows',
    'decode_tokens_per_s',
  ];
  const csv = [head.join(',')].concat(
    rows.map((r) =>
      [
        r.id,
        r.method,
        r.seed,
        r.steps,
        r.bits.linear,
        r.bits.model,
        r.bits.file,
        r.fileBytes,
        r.trainable,
        r.trainTokens,
        r.seconds.toFixed(2),
        r.ppl,
        r.ce,
        r.windows,
        r.decodeTokensPerSecond.toFixed(1),
      ].join(','),
    ),
  );
  writeFileSync(join(dir, 'results.csv'), csv.join('\n') + '\n');
  writeFileSync(
    join(dir, 'results.json'),
    JSON.stringify(
      {
        command,
        protocol,
        recipe: { ...o, ...files(o), device: o.device.kind, onStep: undefined },
        teacher,
        runs: rows,
      },
      null,
      1,
    ),
  );
  // a colour per method; the other grid flags label the points
  const methods = [...new Set(rows.map((r) => r.method))];
  const color = (m: string) => COLORS[methods.indexOf(m) % COLORS.length]!;
  const rest = (g: { key: string; rows: RunResult[] }) => g.key.slice(g.rows[0]!.method.length).trim();
  writeFileSync(
    join(dir, 'loss.svg'),
    lineChartSvg(
      'KD loss of every run',
      rows
        .filter((r) => r.losses.length)
        .map((r) => ({
          name: r.method,
          color: color(r.method),
          points: r.losses.map((l, i): [number, number] => [i + 1, l]),
        })),
      'step',
      'loss',
    ),
  );
  writeFileSync(
    join(dir, 'pareto.svg'),
    scatterSvg(
      `eval perplexity against bits per linear weight (teacher ${teacher.ppl.toFixed(2)} at 32)`,
      methods.map((m) => ({
        name: m,
        color: color(m),
        points: gs
          .filter((g) => g.rows[0]!.method === m)
          .map((g) => ({
            x: mean(g.rows.map((r) => r.bits.linear)),
            y: mean(g.rows.map((r) => r.ppl)),
            lo: Math.min(...g.rows.map((r) => r.ppl)),
            hi: Math.max(...g.rows.map((r) => r.ppl)),
            label: rest(g) || undefined,
          })),
      })),
      'bits per linear weight (stored)',
      'eval perplexity',
      true,
    ),
  );
}
