// obtc train beside nanoGPT (bench/nanogpt/, Karpathy's train.py under Debian's python3-torch) on
// this machine, the same text and split, the same configuration: nanoGPT's CPU run of
// shakespeare_char (4 layers, 4 heads, 128 channels, block 64, batch 12, lr 1e-3 → 1e-4 over
// --iters, 100 warm-up steps, beta2 0.99, weight decay 0.1, clipping 1, dropout 0).
//
//   node bench/train.js [--iters 2000] [--threads 1,2] [--runs 3] [--json]
//       speed and loss side by side: per run and thread count, both programs' final validation loss
//       and training tokens/s (steps only: evaluation and start-up excluded on both sides), then
//       the medians and obt's ratio.
//   node bench/train.js --results DIR [--iters 2000] [--seeds 1337,1338] [--threads 2]
//       the results page (docs/train/): validation-loss curves of nanoGPT, obt GPT, obt Llama, and
//       obt Llama with ternary (bitnet158) and 1-bit (bitnet) layers from step 0 and from 90 % of
//       the steps (ParetoQ's schedule), each over the seeds; results.md, results.json, curves.svg.
//   node bench/train.js --replot DIR
//       curves.svg again from DIR/results.json.
//
// nanoGPT has no seed flag (it seeds torch with 1337): a seed s runs it with torch.manual_seed
// offset by s − 1337 (a two-line wrapper), so seed 1337 is nanoGPT exactly.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { lineChartSvg } from '../llm/plot.ts';
import { median } from './child.ts';

const argv = process.argv.slice(2);
const opt = (k: string, d: string) => (argv.includes(`--${k}`) ? argv[argv.indexOf(`--${k}`) + 1]! : d);
const iters = Number(opt('iters', '2000'));
const PY = process.env.OBT_PYTHON ?? '/usr/bin/python3';
const TEXT = join(PROJECT_ROOT, 'data/tinyshakespeare.txt');
const B = 12;
const T = 64;

interface Run {
  name: string;
  seed: number;
  threads: number;
  /** [step, train, val] */
  evals: [number, number, number][];
  tokensPerS: number;
  seconds: number;
}

/** nanoGPT's workspace: its files and the prepared data (train.bin, val.bin, meta.pkl). */
function nanoWorkspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'obt-nanogpt-'));
  const src = join(PROJECT_ROOT, 'bench/nanogpt');
  for (const f of ['model.py', 'train.py', 'configurator.py']) copyFileSync(join(src, f), join(dir, f));
  cpSync(join(src, 'config'), join(dir, 'config'), { recursive: true });
  const r = spawnSync(PY, [join(src, 'prepare.py'), TEXT, join(dir, 'data/shakespeare_char')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nanoGPT's data: ${r.stderr}`);
  writeFileSync(
    join(dir, 'seeded.py'),
    [
      '# train.py with torch.manual_seed offset (nanoGPT seeds 1337 and has no flag for it)',
      'import os, sys, runpy, torch',
      '_seed = torch.manual_seed',
      "torch.manual_seed = lambda s: _seed(s + int(os.environ['OBT_SEED']) - 1337)",
      "sys.argv = ['train.py'] + sys.argv[1:]",
      "runpy.run_path('train.py', run_name='__main__')",
    ].join('\n'),
  );
  return dir;
}

let nanoDir: string | undefined;

function nanoGpt(seed: number, threads: number): Run {
  nanoDir ??= nanoWorkspace();
  const t0 = performance.now();
  const n = String(threads);
  const r = spawnSync(
    PY,
    [
      'seeded.py',
      'config/train_shakespeare_char.py',
      '--device=cpu',
      '--compile=False',
      '--eval_iters=20',
      '--log_interval=1',
      `--block_size=${T}`,
      `--batch_size=${B}`,
      '--n_layer=4',
      '--n_head=4',
      '--n_embd=128',
      `--max_iters=${iters}`,
      `--lr_decay_iters=${iters}`,
      '--dropout=0.0',
      `--out_dir=out-${seed}-${threads}`,
    ],
    {
      cwd: nanoDir,
      encoding: 'utf8',
      maxBuffer: 1 << 28,
      env: { ...process.env, OBT_SEED: String(seed), OMP_NUM_THREADS: n, OPENBLAS_NUM_THREADS: n, MKL_NUM_THREADS: n },
    },
  );
  if (r.status !== 0) throw new Error(`nanoGPT: ${r.stderr.slice(-1500)}`);
  const evals = [...r.stdout.matchAll(/^step (\d+): train loss ([\d.]+), val loss ([\d.]+)/gm)].map(
    (m) => [Number(m[1]), Number(m[2]), Number(m[3])] as [number, number, number],
  );
  // an iteration's time includes the evaluation before it on evaluation steps: those are left out
  const dts = [...r.stdout.matchAll(/^iter (\d+): loss [\d.]+, time ([\d.]+)ms/gm)]
    .filter((m) => Number(m[1]) > 0 && Number(m[1]) % 250 !== 0)
    .map((m) => Number(m[2]));
  const mean = dts.reduce((a, b) => a + b, 0) / dts.length;
  return {
    name: 'nanoGPT (PyTorch)',
    seed,
    threads,
    evals,
    tokensPerS: (B * T * 1000) / mean,
    seconds: (performance.now() - t0) / 1000,
  };
}

function obt(name: string, seed: number, threads: number, more: string[]): Run {
  const dir = mkdtempSync(join(tmpdir(), 'obt-train-'));
  const out = join(dir, 'model.obtm');
  const r = spawnSync(
    process.execPath,
    [
      join(PROJECT_ROOT, 'bin/obtc.js'),
      'train',
      '--max-iters',
      String(iters),
      '--seed',
      String(seed),
      '--threads',
      String(threads),
      '--checkpoint-every',
      '0',
      '--out',
      out,
      '--json',
      ...more,
    ],
    { encoding: 'utf8', maxBuffer: 1 << 28 },
  );
  if (r.status !== 0) throw new Error(`obtc train ${more.join(' ')}: ${r.stderr.slice(-1500)}`);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { tokensPerS: number; seconds: number };
  const evals = readFileSync(`${out}.val.csv`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(',').map(Number) as [number, number, number]);
  return { name, seed, threads, evals, tokensPerS: j.tokensPerS, seconds: j.seconds };
}

const last = (r: Run) => r.evals[r.evals.length - 1]!;

/** curves.svg: every run's validation curve, one colour per configuration (in `order`), the
 *  legend's names shortened to fit beside the plot. */
function writeCurves(dir: string, runs: Run[], order: string[]): void {
  const colors = ['#000000', '#c0392b', '#2471a3', '#27ae60', '#8e44ad', '#d68910', '#7f8c8d'];
  const short = (n: string) =>
    n
      .replace(/^obt /, '')
      .replace(/ \((bitnet|bitnet158)\)$/, '')
      .replace(', ', ' ');
  writeFileSync(
    join(dir, 'curves.svg'),
    lineChartSvg(
      `validation loss, tiny Shakespeare (characters), ${iters} steps of ${B} × ${T}`,
      runs.map((r) => ({
        name: short(r.name),
        color: colors[order.indexOf(r.name) % colors.length]!,
        points: r.evals.map((e) => [e[0], e[2]] as [number, number]),
      })),
      'step',
      'validation loss (nats per character)',
    ),
  );
}

if (argv.includes('--replot')) {
  // curves.svg again from a results.json (the runs are not repeated)
  const dir = opt('replot', join(PROJECT_ROOT, 'docs/train'));
  const runs = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Run[];
  writeCurves(dir, runs, [...new Set(runs.map((r) => r.name))]);
  process.exit(0);
}

if (argv.includes('--results')) {
  const outDir = opt('results', join(PROJECT_ROOT, 'docs/train'));
  const seeds = opt('seeds', '1337,1338').split(',').map(Number);
  const threads = Number(opt('threads', '2'));
  const q = String(Math.round(iters * 0.9));
  const configs: [string, string[] | 'nanogpt'][] = [
    ['nanoGPT (PyTorch)', 'nanogpt'],
    ['obt GPT', []],
    ['obt Llama', ['--model', 'llama']],
    ['obt Llama, ternary from step 0 (bitnet158)', ['--model', 'llama', '--method', 'bitnet158']],
    ['obt Llama, 1-bit from step 0 (bitnet)', ['--model', 'llama', '--method', 'bitnet']],
    [`obt Llama, ternary from step ${q}`, ['--model', 'llama', '--method', 'bitnet158', '--quantize-from', q]],
    [`obt Llama, 1-bit from step ${q}`, ['--model', 'llama', '--method', 'bitnet', '--quantize-from', q]],
  ];
  const runs: Run[] = [];
  mkdirSync(outDir, { recursive: true });
  for (const [name, how] of configs)
    for (const seed of seeds) {
      const r = how === 'nanogpt' ? nanoGpt(seed, 1) : obt(name, seed, threads, how);
      runs.push(r);
      process.stderr.write(
        `${name} seed ${seed}: val ${last(r)[2].toFixed(4)}, ${r.tokensPerS.toFixed(0)} tokens/s, ${r.seconds.toFixed(0)} s\n`,
      );
      writeFileSync(join(outDir, 'results.json'), JSON.stringify(runs, null, 1) + '\n');
    }
  const rows = configs.map(([name]) => {
    const rs = runs.filter((r) => r.name === name);
    const vals = rs.map((r) => last(r)[2]);
    const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
    return `| ${name} | ${vals.map((v) => v.toFixed(4)).join(' / ')} | ${mean.toFixed(4)} | ${rs.map((r) => last(r)[1].toFixed(4)).join(' / ')} | ${rs.map((r) => r.tokensPerS.toFixed(0)).join(' / ')} | ${rs.map((r) => r.seconds.toFixed(0)).join(' / ')} | ${rs[0]!.threads} |`;
  });
  writeFileSync(
    join(outDir, 'results.md'),
    [
      `| run | val loss (seeds ${seeds.join(' / ')}) | mean | train loss | tokens/s | wall s | threads |`,
      '| --- | --- | ---: | --- | --- | --- | ---: |',
      ...rows,
      '',
    ].join('\n'),
  );
  writeCurves(
    outDir,
    runs,
    configs.map(([n]) => n),
  );
  process.stdout.write(readFileSync(join(outDir, 'results.md'), 'utf8'));
} else {
  const threads = opt('threads', '1,2').split(',').map(Number);
  const runs = Number(opt('runs', '3'));
  const rows: { threads: number; nano: Run; ours: Run }[] = [];
  for (let i = 0; i < runs; i++)
    for (const t of threads) {
      const nano = nanoGpt(1337, t);
      const ours = obt('obt GPT', 1337, t, []);
      rows.push({ threads: t, nano, ours });
      const line = {
        run: i + 1,
        threads: t,
        nanogpt_val: last(nano)[2],
        obt_val: last(ours)[2],
        nanogpt_tokens_per_s: Math.round(nano.tokensPerS),
        obt_tokens_per_s: Math.round(ours.tokensPerS),
        ratio: ours.tokensPerS / nano.tokensPerS,
      };
      process.stdout.write(
        argv.includes('--json')
          ? JSON.stringify(line) + '\n'
          : `run ${line.run}, ${t} thread(s): val loss nanoGPT ${line.nanogpt_val.toFixed(4)} obt ${line.obt_val.toFixed(4)}; tokens/s nanoGPT ${line.nanogpt_tokens_per_s} obt ${line.obt_tokens_per_s} (${line.ratio.toFixed(2)}×)\n`,
      );
    }
  for (const t of threads) {
    const rs = rows.filter((r) => r.threads === t);
    const n = median(rs.map((r) => r.nano.tokensPerS));
    const o = median(rs.map((r) => r.ours.tokensPerS));
    process.stdout.write(
      `median, ${t} thread(s), ${iters} steps: tokens/s nanoGPT ${n.toFixed(0)}, obt ${o.toFixed(0)} (${(o / n).toFixed(2)}×); val loss nanoGPT ${median(rs.map((r) => last(r.nano)[2])).toFixed(4)}, obt ${median(rs.map((r) => last(r.ours)[2])).toFixed(4)}\n`,
    );
  }
}
