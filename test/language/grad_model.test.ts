// Whole-model gradient check: value_and_grad of the KD loss through a tiny random 2-block
// Llama[OneBitTrainIdentity] matches central finite differences in f64 — for g and h directly, and
// for the latent W through the identity STE (the derivative with respect to the signs themselves,
// measured on the same model with its signs as plain floats).
import { expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../compiler/api.ts';
import { alloc, fromNested, type Tensor } from '../../runtime/core/tensor.ts';
import { centralDiff } from '../helpers/fd.ts';
import { expectClose } from '../helpers/close.ts';
import { gpu, gpuNote } from '../helpers/gpu.ts';

const root = join(import.meta.dirname, '../..');
const file = join(root, 'test/language/programs/grad_model.obt');
// models/kd.obt imports the method module: bind it as obtc quantize does
const prog = compile(readFileSync(file, 'utf8'), {
  path: file,
  imports: { method: join(root, 'stdlib/methods/onebit.obt') },
});

let seed = 7;
const rand = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 4294967296;
};
const T = (shape: number[], f: () => number): Tensor => {
  const t = alloc('f32', shape, true);
  for (let i = 0; i < t.data.length; i++) t.data[i] = f();
  return t;
};
const normal = () => (rand() * 2 - 1) * 0.8;
const dense = (o: number, i: number) => ({ w: T([o, i], normal) });
const block = () => ({
  attn_norm: T([8], () => 1 + normal() * 0.1),
  ffn_norm: T([8], () => 1 + normal() * 0.1),
  wq: dense(8, 8),
  wk: dense(4, 8),
  wv: dense(4, 8),
  wo: dense(8, 8),
  w1: dense(12, 8),
  w2: dense(8, 12),
  w3: dense(12, 8),
});
const emb = T([16, 8], normal);
const teacher = { emb, blocks: [block(), block()], norm: T([8], () => 1), head: emb };
const shapes: Record<string, [number, number]> = {
  wq: [8, 8],
  wk: [4, 8],
  wv: [4, 8],
  wo: [8, 8],
  w1: [12, 8],
  w2: [8, 12],
  w3: [12, 8],
};
const layer = (o: number, i: number) => ({
  w: T([o, i], () => (rand() < 0.5 ? -1 : 1) * (0.05 + rand())),
  g: T([i], () => 0.5 + rand()),
  h: T([o], () => 0.5 + rand()),
});
const ps = [0, 1].map(() => Object.fromEntries(Object.entries(shapes).map(([k, [o, i]]) => [k, layer(o, i)])));
// the same layers as the tree Layers[Llama[…]]: (blocks: [(wq, …, w3); L]), its parts named by the
// fields they were pruned from
const tree = (p: Record<string, unknown>[]) => ({ blocks: p });
const toks = fromNested([1, 5, 9, 3, 12], 'i32');

type Layer = { w?: Tensor; s?: Tensor; g: Tensor; h: Tensor };
const lossId = (p: unknown) =>
  (prog.runSync('loss_id', [teacher as never, tree(p as never) as never, toks], { f64: true }).value as Tensor)
    .data[0]!;
const lossFs = (p: unknown) =>
  (prog.runSync('loss_fs', [teacher as never, tree(p as never) as never, toks], { f64: true }).value as Tensor)
    .data[0]!;

it('AD through the whole model matches finite differences (f64)', () => {
  expect(prog.diagnostics.map((d) => d.message)).toEqual([]);
  const [loss, grads] = prog.runSync('grad_id', [teacher as never, tree(ps) as never, toks], { f64: true }).value as [
    Tensor,
    { blocks: Record<string, Layer>[] },
  ];
  expect(loss.data[0]!).toBeCloseTo(lossId(ps), 10);
  const floatSigns = ps.map((b) =>
    Object.fromEntries(
      Object.entries(b).map(([k, l]) => [
        k,
        { s: { ...l.w, data: Float64Array.from(l.w.data, Math.sign) }, g: l.g, h: l.h },
      ]),
    ),
  );
  let checked = 0;
  const fd = (f: (p: unknown) => number, p: unknown, t: Tensor, i: number) => centralDiff(() => f(p), t, i);
  for (let b = 0; b < 2; b++)
    for (const k of Object.keys(shapes)) {
      const l = ps[b]![k] as Layer;
      const gl = grads.blocks[b]![k]!;
      for (const field of ['g', 'h'] as const) {
        const i = Math.floor(rand() * l[field].data.length);
        const want = fd(lossId, ps, l[field], i);
        expect(gl[field].data[i]!, `block ${b} ${k}.${field}[${i}]`).toBeCloseTo(want, 6);
        checked++;
      }
      const fs = floatSigns[b]![k] as Layer;
      const i = Math.floor(rand() * l.w!.data.length);
      const want = fd(lossFs, floatSigns, fs.s!, i);
      expect(gl.w!.data[i]!, `block ${b} ${k}.w[${i}] (identity STE)`).toBeCloseTo(want, 6);
      checked++;
    }
  expect(checked).toBe(42);
}, 120_000);

it('the whole-model gradient on the Wasm backend (fused and unfused) matches the f32 interpreter', () => {
  const args = [teacher as never, tree(ps) as never, toks];
  const ref = prog.runSync('grad_id', args).tensors;
  for (const noFusion of [false, true]) {
    const got = prog.runSync('grad_id', args, { device: { kind: 'wasm' }, noFusion }).tensors;
    expect(got.length).toBe(ref.length);
    got.forEach((t, j) => expectClose(t, ref[j]!, 2e-5, `grad_id on wasm${noFusion ? ' unfused' : ''}, output ${j}`));
  }
}, 120_000);

it.skipIf(!gpu)(
  `the whole-model gradient on webgpu matches the f32 interpreter${gpuNote}`,
  async () => {
    const args = [teacher as never, tree(ps) as never, toks];
    const ref = prog.runSync('grad_id', args).tensors;
    const got = (await prog.run('grad_id', args, { device: { kind: 'webgpu', gpu: gpu! } })).tensors;
    expect(got.length).toBe(ref.length);
    got.forEach((t, j) => expectClose(t, ref[j]!, 5e-5, `grad_id on webgpu, output ${j}`));
  },
  120_000,
);

it('kd_batch (the batch as B·T rows) equals the mean of kd_seq over its sequences, value and gradient (f64)', () => {
  const batch = [
    [1, 5, 9, 3, 12],
    [7, 0, 15, 2, 2],
    [4, 4, 11, 8, 1],
  ].map((s) => fromNested(s, 'i32'));
  for (const reference of [false, true]) {
    const args = [teacher as never, tree(ps) as never, batch as never, fromNested(reference, 'bool')];
    const got = prog.runSync('grad_batch', args, { f64: true }).tensors;
    const want = prog.runSync('grad_batch_seq', args, { f64: true }).tensors;
    expect(got.length).toBe(want.length);
    got.forEach((t, j) =>
      expectClose(t, want[j]!, 1e-12, `kd_batch vs fold of kd_seq (reference: ${reference}), output ${j}`),
    );
  }
}, 120_000);
