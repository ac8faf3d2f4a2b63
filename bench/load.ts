// Loading rows of `npm run bench`: a checkpoint of stories110M's shape (random weights,
// bench/checkpoints.ts) in llama2.c format and as a Hugging Face folder (F32 and BF16), loaded by a
// fresh process that then runs one decode step on Wasm (its weights uploaded: read from the file
// straight into the program's memory). Each row: the time to load and upload against the time to
// read the file once (same run, page cache warm), and the process's peak resident memory above its
// start-up against the file's size. Targets (issue 33): at most 2× the read time, 1.25× the size.
// The child (this file run with --child) prints one JSON line.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCheckpoint, type Format } from './checkpoints.ts';
import { childArgs, median, procStatusKB as status } from './child.ts';

type Vs = (c: string, ours: number, peer: string, peerMs: number | null, note?: string) => void;

interface ChildResult {
  /** loadModel; the first decode step's upload of its inputs (the weights) */
  loadMs: number;
  uploadMs: number;
  baseKB: number;
  peakKB: number;
}

/** Reads a file whole into memory once (readFileSync): the machine's file-read time (page cache warm). */
function readOnce(file: string): number {
  const t = performance.now();
  readFileSync(file);
  return performance.now() - t;
}

export async function loadRows(vs: Vs, reps: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'obt-bench-load-'));
  try {
    const cases: [string, Format, string, string][] = [
      ['llama2.c .bin, f32', 'llama2c', join(dir, 's110.bin'), join(dir, 's110.bin')],
      ['safetensors F32', 'F32', join(dir, 'f32'), join(dir, 'f32/model.safetensors')],
      ['safetensors BF16', 'BF16', join(dir, 'bf16'), join(dir, 'bf16/model.safetensors')],
    ];
    for (const [name, format, out, file] of cases) {
      writeCheckpoint('stories110M', format, out);
      const size = statSync(file).size;
      const args = childArgs(join(import.meta.dirname, 'load.ts'), '--child', out);
      readOnce(file); // warm the page cache
      const runs: ChildResult[] = [];
      const reads: number[] = [];
      for (let i = 0; i <= reps; i++) {
        const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`load child: exit ${r.status}: ${r.stderr}`);
        reads.push(readOnce(file));
        if (i > 0) runs.push(JSON.parse(r.stdout.trim().split('\n').at(-1)!) as ChildResult); // the first fills the kernel cache
      }
      const read = median(reads);
      const ms = median(runs.map((r) => r.loadMs + r.uploadMs));
      const extra = median(runs.map((r) => (r.peakKB - r.baseKB) * 1024));
      const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
      vs(
        `load stories110M shape, ${name}: load + upload`,
        ms,
        'read the file once ×2 (target)',
        2 * read,
        `load ${median(runs.map((r) => r.loadMs)).toFixed(0)} ms + upload ${median(runs.map((r) => r.uploadMs)).toFixed(0)} ms; read ${read.toFixed(0)} ms; peak resident +${mb(extra)} for a ${mb(size)} file (${(extra / size).toFixed(2)}×, target ≤ 1.25×)`,
      );
      rmSync(out, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const { loadModel } = await import('../llm/load.ts');
  const { ModelRunner } = await import('../llm/runner.ts');
  const { device } = await import('../compiler/api.ts');
  const { Profiler, setProfiler } = await import('../runtime/plan/profile.ts');
  const { DEFAULT_WEIGHTS } = await import('../llm/defaults.ts');
  const dev = device('wasm');
  // warm: modules loaded, models/llama.obt compiled, a decode step run (the shipped model); what
  // the process holds then is the baseline
  await ModelRunner.fromFile(await loadModel(DEFAULT_WEIGHTS), dev)
    .decoder(8)
    .step(1, 0);
  // the peak so far (binaryen's start-up peaks ~1 GB above where it settles) is reset: Linux's
  // clear_refs 5 sets VmHWM to the current resident size
  writeFileSync('/proc/self/clear_refs', '5');
  const baseKB = status('VmRSS');
  const t0 = performance.now();
  const m = await loadModel(process.argv[3]!);
  const loadMs = performance.now() - t0;
  const prof = new Profiler();
  setProfiler(prof);
  await ModelRunner.fromFile(m, dev).decoder(8).step(1, 0);
  const upload = prof.report().entries.find((e) => e.desc === 'wasm: upload inputs');
  const r: ChildResult = { loadMs, uploadMs: upload?.ms ?? NaN, baseKB, peakKB: status('VmHWM') };
  process.stdout.write(JSON.stringify(r) + '\n');
}
