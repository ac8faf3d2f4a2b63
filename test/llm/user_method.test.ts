// The method contract end to end with a method obt has never seen, defined only here: a row-scaled
// sign layer (W ≈ a ⊙ sign(W), a the row means of |W|, identity STE). obtc quantize --method FILE
// initialises, distils, exports and saves it; the model file then evaluates, generates and builds
// the browser page (whose decode artifact then runs under obtc exec --weights) with the method file
// deleted (its source travels in the model file). No
// TypeScript knows this method. Also: the legacy .obt1 format still loads and runs the same.
import { expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { obtcInProcess } from '../helpers/cli.ts';
import { loadModel } from '../../llm/load.ts';
import { ModelRunner } from '../../llm/runner.ts';
import { writeModelFile } from '../../llm/io/modelfile.ts';
import { linearLayers, paramCount } from '../../llm/io/arch.ts';
import { buildSite } from '../../cli/serve.ts';

const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'obt-method-'));
const methodFile = join(dir, 'rowsign.obt');
const METHOD = `
// rowsign: W ≈ a ⊙ sign(W), a the per-row mean of |W| (XNOR-Net style), identity STE
pub struct RowSignTrain[I, O] { w: f32[O, I], a: f32[O] }
pub struct RowSign[I, O] { s: sign[O, I], a: f32[O] }

fn ste[...](w: f32[...]) -> f32[...]
  grad(dy) = dy
{ sign(w) }

pub fn apply[I, O](l: RowSignTrain[I, O], x: f32[..., I]) -> f32[..., O] = (x @ transpose(ste(l.w))) * l.a
pub fn apply[I, O](l: RowSign[I, O], x: f32[..., I]) -> f32[..., O] = signlinear(x, l.s, ones([I]), l.a)

pub fn init[I, O](w: f32[O, I], seed: i32) -> RowSignTrain[I, O] = RowSignTrain { w: w, a: mean(abs(w), axis: 1) }
pub fn export[I, O](l: RowSignTrain[I, O]) -> RowSign[I, O] = RowSign { s: pack_sign(l.w), a: l.a }
`;

const run = obtcInProcess;

it('a method defined only in a test quantizes, saves, evaluates, generates and serves without its file', async () => {
  writeFileSync(methodFile, METHOD);
  const model = join(dir, 'rowsign.obtm');
  const q = await run([
    'quantize',
    '--method',
    methodFile,
    '--steps',
    '3',
    '--batch',
    '1',
    '--seq',
    '16',
    '--eval-windows',
    '2',
    '--eval-seq',
    '32',
    '--sample-steps',
    '4',
    '--out',
    model,
  ]);
  expect(q.code, q.err).toBe(0);
  expect(q.err).toMatch(/method rowsign \(RowSignTrain → RowSign\)/);
  expect(q.out).toMatch(/kd loss: first \d+\.\d+ +last \d+\.\d+ +\(3 steps/);
  // 1 sign bit per weight (padded to whole words per row) plus one scale per row, stored in f16
  // (quantize's default; --fp32 keeps f32)
  const m = await loadModel(model);
  const c = m.config;
  const words = (n: number) => Math.ceil(n / 32) * 32;
  const bits = linearLayers(m.arch, c).map((l) => {
    const [o, i] = l.path.endsWith('w2')
      ? [c.dim, c.hidden]
      : l.path.match(/w[kv]$/)
        ? [c.kvHeads * (c.dim / c.heads), c.dim]
        : l.path.match(/w[13]$/)
          ? [c.hidden, c.dim]
          : [c.dim, c.dim];
    return o * words(i) + 16 * o;
  });
  const weights = linearLayers(m.arch, c).reduce((s, l) => s + l.weights, 0);
  expect(m.bits!.linear).toBeCloseTo(bits.reduce((a, b) => a + b, 0) / weights, 10);
  expect(m.bits!.file).toBeCloseTo((readFileSync(model).length * 8) / paramCount(m.arch, c, true), 10);
  expect(m.layer).toBe('method.RowSign');
  expect(m.method!.source).toBe(METHOD);

  // the KD program type-checks against it (--method binds `import method`), and not without it
  expect((await run(['check', join(root, 'models/kd.obt'), '--method', methodFile])).code).toBe(0);
  const unbound = await run(['check', join(root, 'models/kd.obt')]);
  expect(unbound.code).toBe(1);
  expect(unbound.err).toMatch(/cannot find module method[^]*--method NAME\|FILE binds `method`/);

  rmSync(methodFile);
  const tiny = join(dir, 'tiny.txt');
  writeFileSync(tiny, 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.');
  const p = await run(['ppl', '--weights', model, '--seq', '16', '--text', tiny]);
  expect(p.code, p.err).toBe(0);
  expect(p.out.trim().split('\n').pop()).toMatch(/^ppl=\d+\.\d{4} ce=\d+\.\d{5} tokens=\d+ windows=\d+$/);
  const g = await run(['generate', '--weights', model, '--temperature', '0', '--steps', '6', '--ids']);
  expect(g.code, g.err).toBe(0);
  expect(
    g.out
      .trim()
      .split(' ')
      .every((x) => Number.isInteger(Number(x))),
  ).toBe(true);
  const site = await buildSite(model, 32);
  const info = JSON.parse(readFileSync(join(site, 'model/m0/model.json'), 'utf8')) as { layer: string; method: string };
  expect([info.layer, info.method]).toEqual(['RowSign', 'rowsign']);
  // the page's decode artifact runs with obtc exec, its weights read from the model file
  const zeros = JSON.stringify(Array.from({ length: 32 }, () => Array.from({ length: 4 }, () => Array(8).fill(0))));
  const cache = Array.from({ length: 2 * c.layers }, () => zeros);
  const e = await run([
    'exec',
    join(site, 'model/m0/wasm'),
    '--weights',
    model,
    '1',
    '0',
    ...cache,
    '1e-5',
    '10000',
    '1',
    '1',
    '4',
    '8192',
  ]);
  expect(e.code, e.err).toBe(0);
  const logits = (JSON.parse(e.out) as number[][])[0]!;
  const want = await ModelRunner.fromFile(m, { kind: 'wasm' }).decoder(32).step(1, 0);
  expect(logits.length).toBe(c.vocab);
  logits.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
}, 240_000);

it('a legacy .obt1 file loads as the onebit method and runs like the same model saved as a model file', async () => {
  const legacy = join(root, 'test/fixtures/stories260K-onebit-svid.obt1');
  const a = await loadModel(legacy);
  expect(a.layer).toBe('method.OneBit');
  const file = join(dir, 'same.obtm');
  writeModelFile(file, {
    arch: a.arch,
    config: a.config,
    tokenizer: a.tokenizer.data,
    value: a.value,
    layer: 'OneBit',
    method: { name: a.method!.name, source: a.method!.source, train: a.method!.train, infer: a.method!.infer },
    linear: linearLayers(a.arch, a.config),
    params: paramCount(a.arch, a.config, true),
    fp16: false,
  });
  const b = await loadModel(file);
  const toks = [1, 403, 407, 261, 378, 261, 1008 % 512];
  const la = await ModelRunner.fromFile(a, { kind: 'wasm' }).logits(toks);
  const lb = await ModelRunner.fromFile(b, { kind: 'wasm' }).logits(toks);
  expect(Array.from(lb)).toEqual(Array.from(la));
  expect(la.every(Number.isFinite)).toBe(true);
}, 120_000);
