// lmap over the real model type: stories260K's Llama[Dense] mapped layer by layer to
// Llama[OneBitTrain] (SVID by copy) and on to Llama[OneBit] (packed signs) in obt, without naming
// the projections; the packed model's logits equal the training form's, and an indexed lmap gives
// each of the 35 projections its ordinal.
import { expect, it } from 'vitest';
import { join } from 'node:path';
import { compile } from '../../compiler/api.ts';
import { loadModel } from '../../llm/load.ts';
import { fromNested, type Tensor } from '../../runtime/core/tensor.ts';
import { treeLeaves } from '../../runtime/core/tree.ts';

const root = join(import.meta.dirname, '../..');
const src = `
import models.llama
import linear
import onebit

fn trained[V, D, F, H, KV, L](t: Llama[Dense, V, D, F, H, KV, L]) -> Llama[OneBitTrain, V, D, F, H, KV, L] =
  lmap(t, fn(l) { svid_copy(l.w) })

pub fn train_logits[V, D, F, H, KV, L, T](t: Llama[Dense, V, D, F, H, KV, L], tokens: i32[T]) -> f32[T, V] =
  forward(trained(t), tokens).0

pub fn packed_logits[V, D, F, H, KV, L, T](t: Llama[Dense, V, D, F, H, KV, L], tokens: i32[T]) -> f32[T, V] =
  forward(lmap(trained(t), pack), tokens).0

pub fn ordinals[V, D, F, H, KV, L](t: Llama[Dense, V, D, F, H, KV, L]) -> f32 =
  tree_sum(lmap(t, fn(l, k) { Dense { w: l.w * 0.0 + f32(k) } }), fn(w) { sum(w) })
`;

it('maps stories260K to a packed 1-bit model with lmap; packed ≡ training form', async () => {
  const prog = compile(src, { path: join(root, 'lmap_model.obt') });
  expect(prog.diagnostics.map((d) => d.message)).toEqual([]);
  const m = await loadModel(join(root, 'data/stories260K.bin'));
  const c = m.config;
  const tokens = fromNested([1, 403, 407, 261, 378, 1182, 400], 'i32');
  const opts = { dims: { H: c.heads, KV: c.kvHeads }, device: { kind: 'wasm' as const } };
  const a = prog.runSync('train_logits', [m.value as never, tokens], opts).tensors[0]! as Tensor;
  const b = prog.runSync('packed_logits', [m.value as never, tokens], opts).tensors[0]! as Tensor;
  expect(a.shape).toEqual([7, c.vocab]);
  let worst = 0;
  for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i]! - b.data[i]!));
  expect(worst).toBeLessThan(1e-4);
  // every projection's weights filled with its ordinal k (0..34): Σ_k k · numel(projection k)
  const s = prog.runSync('ordinals', [m.value as never], opts).tensors[0]!.data[0]!;
  const hd = c.dim / c.heads;
  const sizes = [
    c.dim * c.dim,
    c.kvHeads * hd * c.dim,
    c.kvHeads * hd * c.dim,
    c.dim * c.dim,
    c.hidden * c.dim,
    c.dim * c.hidden,
    c.hidden * c.dim,
  ];
  let want = 0;
  let k = 0;
  for (let l = 0; l < c.layers; l++) for (const n of sizes) want += n * k++;
  expect(k).toBe(35);
  // tree_sum also counts the leaves lmap leaves alone: embedding, norms (and head)
  for (const { path, leaf } of treeLeaves(m.value))
    if (!/\.(wq|wk|wv|wo|w1|w2|w3)\.w$/.test(path)) want += (leaf.data as Float32Array).reduce((x, y) => x + y, 0);
  expect(Math.abs(s - want)).toBeLessThan(2);
});
