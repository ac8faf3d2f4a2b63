// `npm start`: what obt can do today, on the reference interpreter. It type-checks the standard
// library and the model, runs OneBit's SVID on one matrix, and runs one Llama definition
// instantiated with Dense, OneBitTrain and packed OneBit layers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../compiler/api.ts';
import { CompileError, formatDiagnostic } from '../compiler/syntax/diag.ts';
import type { Tensor } from '../runtime/core/tensor.ts';
import { loadModel } from '../llm/load.ts';
import { ModelRunner } from '../llm/runner.ts';
import { greedy } from '../llm/eval.ts';

const root = join(import.meta.dirname, '..');
const load = (rel: string) => {
  const p = compile(readFileSync(join(root, rel), 'utf8'), { path: join(root, rel) });
  if (!p.ok) throw new CompileError(p.diagnostics);
  return p;
};
const scalar = (t: unknown) => (t as Tensor).data[0]!;

async function generate(): Promise<void> {
  const m = await loadModel(join(root, 'data/stories260K.bin'));
  const { tokenizer } = m;
  const c = m.config;
  const runner = ModelRunner.fromFile(m);
  const steps = 120;
  const { bos, eos } = tokenizer.data;
  const t = performance.now();
  const { ids } = await greedy(runner.decoder(steps), bos, steps, (x) => x === bos || x === eos);
  const secs = (performance.now() - t) / 1000;
  console.log(
    `stories260K (data/stories260K.bin: dim ${c.dim}, ${c.layers} layers, ${c.heads} heads / ${c.kvHeads} KV heads, vocab ${c.vocab}),`,
  );
  console.log(`run by models/llama.obt as Llama[Dense, ...], greedy from BOS (obtc generate --temperature 0):\n`);
  console.log('  ' + tokenizer.decode(ids).replace(/\n/g, '\n  '));
  console.log(
    `\n  ${ids.length - 1} tokens, ${((ids.length - 1) / secs).toFixed(1)} tokens/s on the reference interpreter\n`,
  );
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const files = [
    'stdlib/nn.obt',
    'stdlib/linear.obt',
    'stdlib/onebit.obt',
    'stdlib/optim.obt',
    'models/llama.obt',
    'examples/train_step.obt',
  ];
  for (const f of files) load(f);
  console.log(`obt — a typed tensor language for 1-bit LLaMA models\n`);
  console.log(`type-checked ${files.join(', ')}`);
  console.log(`  (models/llama.obt is instantiated with Dense, OneBit and OneBitTrain layers)\n`);
  await generate();

  const demo = (await load('examples/onebit_demo.obt').run('main', [7])).value as unknown[];
  const [svidErr, rank1Err, cos, words] = demo.map(scalar);
  console.log('OneBit on a 64×96 Gaussian matrix W (examples/onebit_demo.obt):');
  console.log(`  ‖W − sign(W) ⊙ a bᵀ‖ / ‖W‖   = ${svidErr!.toFixed(4)}   SVID, a bᵀ = rank-1 of |W|`);
  console.log(`  ‖W − rank1(W)‖ / ‖W‖          = ${rank1Err!.toFixed(4)}   (Proposition 2: SVID is never worse)`);
  console.log(`  cos(x Wᵀ, 1-bit layer output)  = ${cos!.toFixed(4)}`);
  console.log(`  signs packed in ${words} u32 words instead of ${64 * 96} f32 values\n`);

  const [teacher, packed, train] = ((await load('examples/tiny_llama.obt').run('main', [3])).value as Tensor[]).map(
    (t) => t.data,
  );
  const T = 6;
  const V = 40;
  let agree = 0;
  let maxDiff = 0;
  for (let t = 0; t < T; t++) {
    const row = (d: ArrayLike<number>) => Array.from({ length: V }, (_, v) => d[t * V + v]!);
    const am = (r: number[]) => r.indexOf(Math.max(...r));
    if (am(row(teacher!)) === am(row(packed!))) agree++;
    for (let v = 0; v < V; v++) maxDiff = Math.max(maxDiff, Math.abs(packed![t * V + v]! - train![t * V + v]!));
  }
  console.log('One Llama definition, three layer types (examples/tiny_llama.obt, 2 blocks, D=16, GQA 4/2):');
  console.log(`  Llama[OneBit] (packed) vs Llama[OneBitTrain]: max |Δlogit| = ${maxDiff.toExponential(2)}`);
  console.log(
    `  Llama[OneBit] vs its random Llama[Dense] teacher, before any distillation: top-1 agrees on ${agree}/${T} tokens`,
  );
  console.log(
    `\ndone in ${((performance.now() - t0) / 1000).toFixed(2)} s — the OneBit pipeline itself: npm start (obtc quantize)`,
  );
}

try {
  await main();
} catch (e) {
  if (e instanceof CompileError) {
    for (const d of e.diagnostics) console.error(formatDiagnostic(d));
    process.exit(1);
  }
  throw e;
}
