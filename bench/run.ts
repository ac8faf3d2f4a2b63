// npm run bench [-- --json] [--quick]: medians of repeated runs, measured in one process, with the
// ratio to a named peer. Peers that are not installed are reported as such, never estimated.
import { join } from 'node:path';
import { compile, type Program } from '../compiler/api.ts';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { loadModel } from '../runtime/io/load.ts';
import { LlamaRunner } from '../runtime/llm.ts';
import { alloc, packSigns, type Tensor } from '../runtime/tensor.ts';
import { mulberry32 } from '../runtime/rng.ts';
import { compileWasm } from '../runtime/wasm/exec.ts';
import { SIGN_METHODS } from '../compiler/emit/wasm/signlinear.ts';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');

interface Row {
  case: string;
  ours_ms: number;
  peer: string;
  peer_ms: number | null;
  ratio: number | null;
  note?: string;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(f: () => void, reps: number, warm = 2): number {
  for (let i = 0; i < warm; i++) f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    f();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

function rand(shape: number[], seed: number): Tensor {
  const t = alloc('f32', shape);
  const r = mulberry32(seed);
  for (let i = 0; i < t.data.length; i++) t.data[i] = r() * 2 - 1;
  return t;
}

const rows: Row[] = [];
function report(r: Row): void {
  rows.push(r);
  if (json) process.stdout.write(JSON.stringify(r) + '\n');
  else {
    const peer = r.peer_ms === null ? `${r.peer}: ${r.note ?? 'n/a'}` : `${r.peer} ${r.peer_ms.toFixed(3)} ms, ratio ${r.ratio!.toFixed(2)}×`;
    process.stdout.write(`${r.case.padEnd(44)} ours ${r.ours_ms.toFixed(3).padStart(9)} ms   ${peer}${r.note && r.peer_ms !== null ? `  (${r.note})` : ''}\n`);
  }
}

function program(src: string): Program {
  const p = compile(src, { path: 'bench.obt' });
  if (!p.ok) throw new Error(p.diagnostics.map((d) => d.message).join('\n'));
  return p;
}

function runner(p: Program, entry: string, args: Tensor[]): () => Tensor[] {
  const low = p.lower(entry, p.argTypes(p.entry(entry), args).types);
  const w = p.wasm(low);
  return () => w.run(args);
}

const N = quick ? 1024 : 4096;

const reps = quick ? 5 : 15;
const src = `
fn sl[M, O, I](x: f32[M, I], s: sign[O, I], g: f32[I], h: f32[O]) -> f32[M, O] = signlinear(x, s, g, h)
fn mm[M, O, I](x: f32[M, I], w: f32[O, I]) -> f32[M, O] = x @ transpose(w)
`;
const p = program(src);
const w = rand([N, N], 1);
const s = packSigns(w.data, [N, N]);
const g = rand([N], 2);
const h = rand([N], 3);
for (const M of [1, 64]) {
  const x = rand([M, N], 4);
  const mmRun = runner(p, 'mm', [x, w]);
  const tMm = time(mmRun, M === 1 ? reps : 3);
  const what = M === 1 ? `matvec ${N}x${N}` : `prefill ${M}x${N}x${N}`;
  const byMethod: Record<string, number> = {};
  for (const method of SIGN_METHODS) {
    process.env.OBT_SIGNLINEAR = method;
    const tSl = time(runner(p, 'sl', [x, s, g, h]), M === 1 ? reps : 3);
    byMethod[method] = tSl;
    report({ case: `signlinear ${what} ${method}${method === SIGN_METHODS[0] ? ' (default)' : ''} (1 thread)`, ours_ms: tSl, peer: 'ours f32', peer_ms: tMm, ratio: tMm / tSl, note: `${((N * N * M) / tSl / 1e6).toFixed(2)} G weights/s` });
  }
  delete process.env.OBT_SIGNLINEAR;
  if (M === 1) report({ case: `f32 matvec ${N}x${N} (1 thread)`, ours_ms: tMm, peer: 'bandwidth bound 21 GB/s', peer_ms: (N * N * 4) / 21e6, ratio: (N * N * 4) / 21e6 / tMm, note: `${((N * N * 4) / tMm / 1e6).toFixed(1)} GB/s` });
}
for (const peer of ['@jax-js/jax', '@tensorflow/tfjs-backend-wasm', '@wllama/wllama']) {
  let have = true;
  try {
    await import(peer);
  } catch {
    have = false;
  }
  if (!have) report({ case: `peer ${peer}`, ours_ms: NaN, peer, peer_ms: null, ratio: null, note: 'not installed (next step of issue 6)' });
}

// stories260K: greedy decode tokens/s on the wasm backend vs the reference interpreter
const m = await loadModel(join(PROJECT_ROOT, 'data/stories260K.bin'));
const decodeMs = (backend: 'wasm' | 'interp', steps: number) => {
  const r = LlamaRunner.fromFile(m, undefined, backend);
  const dec = r.decoder(steps);
  dec.step(1, 0);
  const ts: number[] = [];
  let tok = 1;
  for (let pos = 1; pos < steps; pos++) {
    const t = performance.now();
    const l = dec.step(tok, pos);
    ts.push(performance.now() - t);
    let best = 0;
    for (let j = 1; j < l.length; j++) if (l[j]! > l[best]!) best = j;
    tok = best;
  }
  return median(ts);
};
const dW = decodeMs('wasm', 256);
const dI = decodeMs('interp', quick ? 32 : 64);
report({ case: 'stories260K decode step (fp teacher)', ours_ms: dW, peer: 'reference interpreter', peer_ms: dI, ratio: dI / dW, note: `${(1000 / dW).toFixed(0)} tokens/s` });

// compile time of the decode entry: cold (no kernel cache) and warm (disk cache)
const r0 = LlamaRunner.fromFile(m, undefined, 'interp');
r0.decoder(256).step(1, 0);
const low = (r0 as unknown as { prepared: Map<string, { low: { func: never } }> }).prepared.get('dec256')!.low;
process.env.OBT_CACHE_DIR = join(PROJECT_ROOT, '.obt-cache', `bench-${process.pid}`);
const { __resetKernelMemo } = await import('../compiler/emit/wasm/module.ts');
__resetKernelMemo();
const t0 = performance.now();
compileWasm(low.func);
const cold = performance.now() - t0;
__resetKernelMemo();
const t1 = performance.now();
compileWasm(low.func);
const warm = performance.now() - t1;
report({ case: 'compile stories260K decode: cold', ours_ms: cold, peer: 'target warm < 300 ms', peer_ms: null, ratio: null, note: 'fuse + plan + binaryen O2 per kernel' });
report({ case: 'compile stories260K decode: warm (disk cache)', ours_ms: warm, peer: 'target', peer_ms: 300, ratio: 300 / warm });
const { rmSync } = await import('node:fs');
rmSync(process.env.OBT_CACHE_DIR, { recursive: true, force: true });
