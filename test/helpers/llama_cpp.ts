// llama.cpp itself, through node-llama-cpp 3.21.1 (a pinned dev dependency; its prebuilt CPU build
// of ggml-org/llama.cpp tag v0.4.0, a snapshot of 2026-09-12 with Q1_0): loads a GGUF file, runs a
// greedy continuation and next-token probabilities, tokenizes; `compare` puts obt's beside it on
// the same file. `noLlama` says why not where its binary cannot load (the tests then skip).
import { expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getLlama, type Llama, type Token } from 'node-llama-cpp';
import { loadModel } from '../../llm/load.ts';
import { ModelRunner } from '../../llm/runner.ts';
import { obtcInProcess } from './cli.ts';

const story = readFileSync(join(import.meta.dirname, '../../data/tinystories_valid_eval.txt'), 'utf8');

// llama.cpp, or why not
export const llama: Llama | string = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never }).catch(
  (e: unknown) => `node-llama-cpp cannot load its llama.cpp here: ${String((e as Error)?.message ?? e).slice(0, 200)}`,
);
export const noLlama = typeof llama === 'string' ? llama : undefined;
if (noLlama) console.warn(`skipping the llama.cpp checks: ${noLlama}`);

/** llama.cpp's greedy continuation of `ids` (a prompt), its next-token probabilities after each of
 *  them, and its tokens of `texts`. */
export async function llamaCpp(file: string, ids: number[], steps: number, texts: string[]) {
  const l = llama as Llama;
  const model = await l.loadModel({ modelPath: file });
  const ctx = await model.createContext({ threads: 1, contextSize: 256, sequences: 2 });
  try {
    const greedy: number[] = [];
    for await (const t of ctx.getSequence().evaluate(ids as Token[], { temperature: 0 })) {
      greedy.push(t as number);
      if (greedy.length >= steps) break;
    }
    const res = await ctx
      .getSequence()
      .controlledEvaluate(ids.map((t) => [t as Token, { generateNext: { probabilities: true } }] as const));
    const probs = res.map((r) => (r?.next?.probabilities ?? new Map()) as Map<number, number>);
    return { greedy, probs, tokens: texts.map((t) => [...model.tokenize(t)] as number[]) };
  } finally {
    await ctx.dispose();
    await model.dispose();
  }
}

const VARIED = "Hello  world!\nIt's 2024: café, 日本語 🙂\n\n  end";

/** obt's greedy continuation of a prompt (obtc generate) and the largest |p − p_llama.cpp| over the
 *  vocabulary after each prompt token, with both tokenizations of the prompt and a varied text. */
export async function compare(file: string, steps = 16) {
  const m = await loadModel(file);
  const prompt = 'Once upon a time, there was a little girl';
  const ids = m.tokenizer.encode(prompt);
  const texts = [story.slice(0, 300), VARIED];
  const cpp = await llamaCpp(file, ids, steps, texts);
  // --steps counts the prompt's positions too; --ids prints the prompt (without BOS), then the rest
  const args = ['generate', '--weights', file, '--prompt', prompt, '--temperature', '0', '--ids'];
  const gen = await obtcInProcess([...args, '--steps', String(ids.length - 1 + steps)]);
  expect(gen.code, gen.err).toBe(0);
  const printed = gen.out.trim().split(/\s+/).filter(Boolean).map(Number);
  expect(printed.slice(0, ids.length - 1)).toEqual(ids.slice(1));
  const ours = printed.slice(ids.length - 1);
  const V = m.config.vocab;
  const logits = await ModelRunner.fromFile(m).logits(ids);
  let worst = 0;
  cpp.probs.forEach((p, i) => {
    const row = logits.subarray(i * V, (i + 1) * V);
    const mx = Math.max(...row);
    const z = row.reduce((a, b) => a + Math.exp(b - mx), 0);
    for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(Math.exp(row[v]! - mx) / z - (p.get(v) ?? 0)));
  });
  const tokens = texts.map((t) => m.tokenizer.encode(t, { bos: false }));
  return { ids, ours, cpp, worst, tokens };
}
