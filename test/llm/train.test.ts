// Training from scratch (obtc train, models/train.obt): the loss's gradient through a tiny GPT (with
// and without biases) and a tiny Llama against finite differences in f64; erf's gradient rule; the
// schedule against nanoGPT's get_lr; one training step on the Wasm backend against the
// interpreter; the character tokenizer round-tripping every byte of the shipped text; a run stopped
// and resumed equals an uninterrupted one bit for bit (full precision, and across
// --quantize-from); its model file runs.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '../../compiler/api.ts';
import { Interrupted } from '../../compiler/syntax/diag.ts';
import { treeFromPaths } from '../../runtime/core/contract.ts';
import { alloc, fromNested, type Tensor } from '../../runtime/core/tensor.ts';
import { treeLeaves } from '../../runtime/core/tree.ts';
import { charTokenizer, Tokenizer } from '../../llm/io/tokenizer.ts';
import { LLAMA, archNamed } from '../../llm/io/names.ts';
import { loadModel } from '../../llm/load.ts';
import { ModelRunner } from '../../llm/runner.ts';
import { obtcInProcess } from '../helpers/cli.ts';
import { tinyTrainOptions } from '../helpers/train.ts';
import { TrainProgram, type Hyper } from '../../llm/pretrain_program.ts';
import { splitText, trainConfig, trainModel } from '../../llm/pretrain.ts';
import type { TrainOptions } from '../../llm/train_options.ts';
import { centralDiff } from '../helpers/fd.ts';
import { expectClose } from '../helpers/close.ts';

const root = join(import.meta.dirname, '../..');
const file = join(root, 'test/language/programs/train_grad.obt');
const prog = compile(readFileSync(file, 'utf8'), { path: file, imports: { method: join(root, 'models/dense.obt') } });

let seed = 11;
const rand = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 4294967296;
};

/** A model of an entry parameter's shape with random f64 values (gains near 1). */
function randomModel(entry: string): unknown {
  const { leaves } = prog.paramLeaves(entry, 'p', {});
  return treeFromPaths(
    leaves.map((l) => {
      const t = alloc('f32', l.shape, true);
      const gain = l.shape.length === 1;
      for (let i = 0; i < t.data.length; i++) t.data[i] = gain ? 1 + (rand() - 0.5) * 0.4 : (rand() - 0.5) * 1.2;
      return { path: l.path, value: t };
    }),
  );
}

const x = fromNested(
  [
    [1, 5, 9, 3, 10],
    [7, 0, 4, 2, 2],
  ],
  'i32',
);
const y = fromNested(
  [
    [5, 9, 3, 10, 6],
    [0, 4, 2, 2, 8],
  ],
  'i32',
);

describe('the training loss and its gradient', () => {
  it('compiles', () => expect(prog.diagnostics.map((d) => d.message)).toEqual([]));

  for (const arch of ['gpt', 'gpt_bias', 'llama']) {
    it(`${arch}: value_and_grad of the next-token loss matches finite differences (f64)`, () => {
      const p = randomModel(`${arch}_loss`);
      const loss = () => (prog.runSync(`${arch}_loss`, [p as never, x, y], { f64: true }).value as Tensor).data[0]!;
      const [l, g] = prog.runSync(`${arch}_grad`, [p as never, x, y], { f64: true }).value as [Tensor, unknown];
      expect(l.data[0]).toBeCloseTo(loss(), 10);
      const ps = treeLeaves(p);
      const gs = new Map(treeLeaves(g).map((t) => [t.path, t.leaf]));
      let checked = 0;
      for (const { path, leaf } of ps) {
        for (let k = 0; k < 2; k++) {
          const i = Math.floor(rand() * leaf.data.length);
          const want = centralDiff(loss, leaf, i);
          const got = gs.get(path)!.data[i]!;
          // erf's rule is its exact derivative, the loss runs its approximation (|error| < 1.5e-7)
          expect(Math.abs(got - want), `${path}[${i}]: ${got} vs ${want}`).toBeLessThan(1e-6 + 1e-5 * Math.abs(want));
          checked++;
        }
      }
      expect(checked).toBe(2 * ps.length);
    }, 120_000);
  }

  it("erf's gradient rule is 2/√π · exp(−x²), and erf is the series' to 6 digits", () => {
    const xs = [-3, -1.2, -0.3, 0, 0.05, 0.7, 2.5];
    const [v, g] = prog.runSync('erf_grad', [fromNested(xs, 'f32')], { f64: true }).value as [Tensor, Tensor];
    // erf by its series (exact to f64 here)
    const erf = (z: number) => {
      let s = 0;
      let term = z;
      for (let n = 0; n < 200; n++) {
        s += term / (2 * n + 1);
        term *= (-z * z) / (n + 1);
      }
      return (2 / Math.sqrt(Math.PI)) * s;
    };
    expect(v.data[0]).toBeCloseTo(
      xs.reduce((s, z, i) => s + erf(z) * (1 + i), 0),
      6,
    );
    xs.forEach((z, i) =>
      // (the rule's constant is an f32 literal)
      expect(g.data[i]).toBeCloseTo((2 / Math.sqrt(Math.PI)) * Math.exp(-z * z) * (1 + i), 6),
    );
  });

  it("the schedule is nanoGPT's get_lr", () => {
    const h = {
      learning_rate: 1e-3,
      min_lr: 1e-4,
      warmup_iters: 100,
      lr_decay_iters: 2000,
      beta1: 0.9,
      beta2: 0.99,
      weight_decay: 0.1,
      grad_clip: 1,
      eps: 1e-5,
      rope: { theta: 1e4, factor: 1, low_freq: 1, high_freq: 4, original_max: 8192 },
    };
    // nanoGPT train.py's get_lr, transcribed
    const getLr = (it: number) => {
      if (it < h.warmup_iters) return (h.learning_rate * (it + 1)) / (h.warmup_iters + 1);
      if (it > h.lr_decay_iters) return h.min_lr;
      const r = (it - h.warmup_iters) / (h.lr_decay_iters - h.warmup_iters);
      return h.min_lr + 0.5 * (1 + Math.cos(Math.PI * r)) * (h.learning_rate - h.min_lr);
    };
    for (const it of [0, 1, 57, 99, 100, 101, 777, 1999, 2000, 2001, 5000])
      expect((prog.runSync('lr', [it, h as never], { f64: true }).value as Tensor).data[0]).toBeCloseTo(getLr(it), 12);
  });
});

/** A tiny run's options (a 2-block GPT on the first 20 000 characters of the shipped text). */
const tinyOptions = (out: string, more: Partial<TrainOptions> = {}) =>
  tinyTrainOptions(join(dir, 'text.txt'), out, more);
const dir = mkdtempSync(join(tmpdir(), 'obt-train-'));
const shakespeare = readFileSync(join(root, 'data/tinyshakespeare.txt'), 'utf8');
writeFileSync(join(dir, 'text.txt'), shakespeare.slice(0, 20_000));

describe('one training step', () => {
  it('on the Wasm backend equals the interpreter (loss, gradient norm and every parameter)', async () => {
    const o = tinyOptions(join(dir, 'unused.obtm'));
    const tk = new Tokenizer(charTokenizer(shakespeare.slice(0, 20_000), 'text'));
    const arch = archNamed('gpt')!;
    const c = trainConfig(o, tk.vocabSize, arch.act);
    const h: Hyper = {
      learning_rate: 1e-2,
      min_lr: 1e-3,
      warmup_iters: 0,
      lr_decay_iters: 10,
      beta1: 0.9,
      beta2: 0.99,
      weight_decay: 0.1,
      grad_clip: 1,
    };
    const { train } = splitText(shakespeare.slice(0, 20_000), tk);
    const bx = { dtype: 'i32' as const, shape: [3, 8], data: train.slice(0, 24) };
    const by = { dtype: 'i32' as const, shape: [3, 8], data: train.slice(1, 25) };
    const run = async (kind: 'interp' | 'wasm') => {
      const tp = new TrainProgram(arch, c, undefined, { kind });
      let st = await tp.start(await tp.init(3), false);
      const out = [];
      for (let it = 0; it < 2; it++) {
        const r = await tp.step(st, false, bx, by, it, h);
        st = r.state;
        out.push(r.loss, r.gnorm);
      }
      return { out, params: treeLeaves(st.params) };
    };
    const ref = await run('interp');
    const got = await run('wasm');
    got.out.forEach((v, i) => expect(v).toBeCloseTo(ref.out[i]!, 5));
    got.params.forEach((l, i) => expectClose(l.leaf, ref.params[i]!.leaf, 2e-5, l.path));
  }, 120_000);
});

describe('the character tokenizer', () => {
  it('round-trips every byte of the shipped training text', () => {
    const tk = new Tokenizer(charTokenizer(shakespeare, 'tinyshakespeare.txt'));
    expect(tk.vocabSize).toBe(65); // nanoGPT's prepare.py: 65 characters
    const ids = tk.encode(shakespeare, { bos: true });
    expect(ids.length).toBe(1_115_394);
    expect(Buffer.from(tk.decode(ids), 'utf8').equals(readFileSync(join(root, 'data/tinyshakespeare.txt')))).toBe(true);
  });

  it('round-trips text beyond ASCII (code points, not bytes), and names a character it does not have', () => {
    const text = 'naïve café — 東京 👋🏽\r\n\ttab';
    const tk = new Tokenizer(charTokenizer(text, 't'));
    expect(tk.decode(tk.encode(text))).toBe(text);
    expect(tk.encode('👋').length).toBe(1);
    expect(() => tk.encode('café\nx')).toThrow(/character "x" \(U\+0078\) at line 2 of the text is not in the model's/);
  });
});

describe('obtc train', () => {
  const sameRun = async (name: string, more: Partial<TrainOptions>) => {
    const a = join(dir, `${name}-a.obtm`);
    const b = join(dir, `${name}-b.obtm`);
    await trainModel(tinyOptions(a, more), () => {});
    // stopped after step 3 (its checkpoint written), then resumed to the end
    await expect(trainModel(tinyOptions(b, { ...more, stopAfter: 3 }), () => {})).rejects.toThrow(Interrupted);
    await trainModel(tinyOptions(b, { ...more, resume: true }), () => {});
    expect(readFileSync(b).equals(readFileSync(a)), 'the model files are equal').toBe(true);
    for (const f of ['loss.csv', 'val.csv'])
      expect(readFileSync(`${b}.${f}`, 'utf8')).toBe(readFileSync(`${a}.${f}`, 'utf8'));
    return a;
  };

  it('a stopped and resumed run equals an uninterrupted one bit for bit, and its model file runs', async () => {
    const a = await sameRun('fp', {});
    const m = await loadModel(a);
    expect(m.arch.name).toBe('gpt');
    expect(m.tokenizer.data.char).toBe(true);
    const r = ModelRunner.fromFile(m);
    const nll = await r.nll([1, 2, 3, 4], [2, 3, 4, 5]);
    expect(nll.every(Number.isFinite)).toBe(true);
    const losses = readFileSync(`${a}.loss.csv`, 'utf8').trim().split('\n');
    expect(losses.length).toBe(8);
    const vals = readFileSync(`${a}.val.csv`, 'utf8').trim().split('\n');
    expect(vals.map((l) => Number(l.split(',')[0]))).toEqual([0, 4, 8]);
  }, 180_000);

  it('with a method from --quantize-from (across the stop), the same; the file holds the method', async () => {
    const a = await sameRun('q', { method: 'bitnet158', quantizeFrom: 2, model: 'llama' });
    const m = await loadModel(a);
    expect(m.layer).toBe('method.BitNet158');
    expect(m.arch).toBe(LLAMA);
    const nll = await ModelRunner.fromFile(m).nll([1, 2, 3], [2, 3, 4]);
    expect(nll.every(Number.isFinite)).toBe(true);
  }, 180_000);

  it('its models are teachers: a GPT distils (its embedding trained as the tied head), a Llama of a tokenizer file exports to GGUF with the same perplexity; a character tokenizer is refused for GGUF', async () => {
    const cli = obtcInProcess;
    const gpt = join(dir, 'fp-a.obtm');
    const q = await cli([
      'quantize',
      '--weights',
      gpt,
      '--steps',
      '2',
      '--batch',
      '1',
      '--seq',
      '8',
      '--no-eval',
      '--data',
      join(dir, 'text.txt'),
      '--out',
      join(dir, 'gq.obtm'),
    ]);
    expect(q.err).not.toMatch(/error/);
    expect(q.code).toBe(0);
    expect((await loadModel(join(dir, 'gq.obtm'))).arch.name).toBe('gpt');
    const refused = await cli(['export', gpt, '--format', 'gguf', '-o', join(dir, 'g.gguf')]);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/fp-a\.obtm: llama\.cpp has no architecture for gpt/);
    const bpe = join(dir, 'bpe.obtm');
    await trainModel(
      tinyOptions(bpe, { model: 'llama', tokenizer: join(root, 'data/tok512.bin'), maxIters: 2 }),
      () => {},
    );
    const l = await cli(['export', bpe, '--format', 'gguf', '-o', join(dir, 'bpe.gguf')]);
    expect(l.code).toBe(0);
    const text = join(dir, 'eval.txt');
    writeFileSync(text, shakespeare.slice(30_000, 32_000));
    const ppl = async (w: string) => (await cli(['ppl', '--weights', w, '--text', text, '--seq', '8', '--json'])).out;
    expect(JSON.parse(await ppl(join(dir, 'bpe.gguf'))).ppl).toBeCloseTo(JSON.parse(await ppl(bpe)).ppl, 4);
    const chars = await cli(['export', join(dir, 'q-a.obtm'), '--format', 'gguf', '-o', join(dir, 'c.gguf')]);
    expect(chars.code).not.toBe(0);
    expect(chars.err).toMatch(/character-level .* GGUF has no type for/);
  }, 240_000);
});
