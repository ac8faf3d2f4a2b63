// Decode rows of `npm run bench` for llama.cpp's 1-bit and ternary types (issue 34): the same GGUF
// file — random weights of a real shape in Q1_0 or TQ2_0 (bench/checkpoints.ts), embedding and head
// F16 — decoded greedily by obt (Wasm, its Q1_0 / TQ2_0 inference form: blocksignlinear) and by
// llama.cpp (node-llama-cpp 3.21.1's prebuilt CPU build), 1 and 2 threads, in one run. Shapes: one
// block of LLaMA-7B (4096 × 4096 and 4096 × 11008 matrices; vocabulary 512, so the block is what a
// step reads) and TinyLlama-1.1B whole. Each figure: the median time per generated token after the
// first, over `steps` tokens, the median of `reps` runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, type Token } from 'node-llama-cpp';
import { loadModel } from '../llm/load.ts';
import { ModelRunner } from '../llm/runner.ts';
import { greedy } from '../llm/eval.ts';
import type { KernelPool } from '../runtime/wasm/pool.ts';
import { writeLowBitGguf } from './checkpoints.ts';
import { median } from './child.ts';

type Vs = (c: string, ours: number, peer: string, peerMs: number | null, note?: string) => void;

let llamaCpp: ReturnType<typeof getLlama> | undefined;

/** llama.cpp's time per generated token (ms): greedy from token 1, the first token not counted. */
async function llamaCppDecode(file: string, threads: number, steps: number): Promise<number> {
  const llama = await (llamaCpp ??= getLlama({ gpu: false, build: 'never', logLevel: 'error' as never }));
  const model = await llama.loadModel({ modelPath: file });
  const ctx = await model.createContext({ threads, contextSize: steps + 8, batchSize: 8 });
  try {
    const stamps: number[] = [];
    for await (const t of ctx.getSequence().evaluate([1 as Token], { temperature: 0 })) {
      void t;
      stamps.push(performance.now());
      if (stamps.length > steps) break;
    }
    return median(stamps.slice(1).map((s, i) => s - stamps[i]!));
  } finally {
    await ctx.dispose();
    await model.dispose();
  }
}

/** obt's time per generated token (ms) on the Wasm backend: greedy from token 1, the first step
 *  (lowering, compiling, the weights' upload) not counted. */
async function obtDecode(file: string, pool: KernelPool | undefined, steps: number): Promise<number> {
  const m = await loadModel(file);
  const r = ModelRunner.fromFile(m, { kind: 'wasm', pool });
  return median((await greedy(r.decoder(steps + 1), 1, steps + 1)).ms.slice(1));
}

export async function lowBitRows(
  vs: Vs,
  threads: [string, KernelPool | undefined][],
  reps: number,
  steps: number,
  shapes = ['llama7B-block', 'tinyllama-1.1B'],
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'obt-lowbit-'));
  try {
    for (const shape of shapes)
      for (const type of ['Q1_0', 'TQ2_0'] as const) {
        const file = join(dir, `${shape}-${type}.gguf`);
        writeLowBitGguf(shape, type, file);
        for (const [tn, pool] of threads) {
          const n = pool ? pool.threads : 1;
          const ours: number[] = [];
          const peer: number[] = [];
          let why: string | undefined;
          for (let r = 0; r < reps; r++) {
            ours.push(await obtDecode(file, pool, steps));
            if (why === undefined)
              peer.push(
                await llamaCppDecode(file, n, steps).catch((e: Error) => {
                  why = `could not run: ${e.message.split('\n')[0]}`;
                  return NaN;
                }),
              );
          }
          const o = median(ours);
          const p = why ? null : median(peer);
          const tps = (ms: number) => `${(1000 / ms).toFixed(1)}`;
          vs(
            `decode ${type} ${shape} (${tn})`,
            o,
            `llama.cpp (node-llama-cpp 3.21.1), ${n} thread${n > 1 ? 's' : ''}, same file`,
            p,
            why ??
              `tokens/s obt ${tps(o)} vs llama.cpp ${tps(p!)}; runs: ${ours.map(tps).join(', ')} vs ${peer.map(tps).join(', ')}`,
          );
        }
        rmSync(file, { force: true });
      }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
