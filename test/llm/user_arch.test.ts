// obtc train --model FILE.obt: an architecture of the user's own (examples/parallel_gpt.obt) trains
// from its .obt file alone; the model file carries its text, so it runs, generates and distils as a
// teacher with the .obt file gone (sealed: a carried text may import the standard library and
// models/ only); a resumed run refuses a changed file; a size obtc train does not set and an import
// a model file would not carry are errors at the file's line and column; --bias is nanoGPT's
// bias=True (models/gpt_bias.obt).
import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Interrupted } from '../../compiler/syntax/diag.ts';
import { linearLayers, paramCount } from '../../llm/io/arch.ts';
import { writeModelFile } from '../../llm/io/modelfile.ts';
import { loadModel } from '../../llm/load.ts';
import { trainModel } from '../../llm/pretrain.ts';
import { ModelRunner } from '../../llm/runner.ts';
import { obtcInProcess } from '../helpers/cli.ts';
import { tinyTrainOptions } from '../helpers/train.ts';

const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'obt-userarch-'));
const text = join(dir, 'text.txt');
writeFileSync(text, readFileSync(join(root, 'data/tinyshakespeare.txt'), 'utf8').slice(0, 20_000));
const archFile = join(dir, 'mine.obt');
copyFileSync(join(root, 'examples/parallel_gpt.obt'), archFile);

describe('a user architecture', () => {
  it('trains from its .obt file; the model file runs, generates and distils with the file gone', async () => {
    const out = join(dir, 'm.obtm');
    const own = join(dir, 'own.obt');
    copyFileSync(archFile, own);
    const r = await trainModel(tinyTrainOptions(text, out, { model: own }), () => {});
    expect(r.evals.at(-1)!.val).toBeLessThan(r.evals[0]!.val);
    rmSync(own);
    const m = await loadModel(out);
    expect(m.arch.name).toBe('own');
    expect(m.arch.sealed).toBe(true);
    expect(m.arch.type).toBe('ParallelGPT[Lin, V, P, D, F, H, L]');
    expect(m.arch.positions).toBe('learned');
    // the struct's leaves, as the file declares them
    expect(linearLayers(m.arch, m.config).map((l) => l.path)).toContain('blocks[1].down');
    expect(paramCount(m.arch, m.config, false)).toBe(r.params);
    const nll = await ModelRunner.fromFile(m).nll([1, 2, 3, 4], [2, 3, 4, 5]);
    expect(nll.every(Number.isFinite)).toBe(true);
    const g = await obtcInProcess(['generate', '--weights', out, '--steps', '6']);
    expect(g.err).not.toMatch(/error/);
    expect(g.code).toBe(0);
    const q = await obtcInProcess(
      ['quantize', '--weights', out, '--method', 'bitnet158', '--steps', '2', '--batch', '1', '--seq', '8'].concat([
        '--no-eval',
        '--data',
        text,
        '--out',
        join(dir, 'st.obtm'),
      ]),
    );
    expect(q.err).not.toMatch(/error/);
    expect(q.code).toBe(0);
    const st = await loadModel(join(dir, 'st.obtm'));
    expect([st.arch.name, st.arch.source]).toEqual(['own', m.arch.source]);
    expect((await ModelRunner.fromFile(st).nll([1, 2], [2, 3])).every(Number.isFinite)).toBe(true);

    // a carried text that imports a file is refused in one line naming the model file
    const bad = join(dir, 'bad.obtm');
    writeModelFile(bad, {
      arch: { ...m.arch, source: `import "./x.obt"\n${m.arch.source!}` },
      config: m.config,
      tokenizer: m.tokenizer.data,
      value: m.value,
      layer: 'Dense',
      linear: linearLayers(m.arch, m.config),
      params: r.params,
      fp16: false,
    });
    const b = await obtcInProcess(['generate', '--weights', bad, '--steps', '2']);
    expect(b.code).not.toBe(0);
    expect(b.err).toMatch(/bad\.obtm: architecture at own\.obt:1:\d+: .*import/);
    expect(b.err).not.toMatch(/\n\s+at /);
  }, 240_000);

  it('a resumed run refuses a changed architecture file', async () => {
    const out = join(dir, 'r.obtm');
    const f = join(dir, 'res.obt');
    copyFileSync(archFile, f);
    const o = tinyTrainOptions(text, out, { model: f });
    await expect(trainModel({ ...o, stopAfter: 2 }, () => {})).rejects.toThrow(Interrupted);
    writeFileSync(f, `${readFileSync(f, 'utf8')}\n// changed\n`);
    await expect(trainModel({ ...o, resume: true }, () => {})).rejects.toThrow(/another --model/);
  }, 120_000);

  it('a size obtc train does not set, an import a model file would not carry: errors at the line', async () => {
    const src = readFileSync(archFile, 'utf8');
    const odd = join(dir, 'odd.obt');
    writeFileSync(odd, src.replaceAll(/\bF\b/g, 'W'));
    const e = await obtcInProcess(['train', '--model', odd, '--text', text, '--max-iters', '1']);
    expect(e.code).not.toBe(0);
    expect(e.err).toMatch(/odd\.obt:\d+:\d+: error: size W: obtc train sets V \(vocab\), D \(dim\), F \(hidden\)/);
    expect(e.err).toMatch(/\^/);
    expect(e.err).toMatch(/"dims": \{"W": "dim"\}/);
    // a name map beside it names the size
    writeFileSync(
      join(dir, 'odd.json'),
      JSON.stringify({ dims: { V: 'vocab', P: 'seqLen', D: 'dim', W: 'hidden', H: 'heads', L: 'layers' } }),
    );
    const ok = await obtcInProcess([
      'train',
      '--model',
      odd,
      '--text',
      text,
      '--max-iters',
      '1',
      '--n-embd',
      '16',
      '--n-layer',
      '1',
      '--out',
      join(dir, 'odd.obtm'),
    ]);
    expect(ok.err).not.toMatch(/error/);
    expect(ok.code).toBe(0);

    writeFileSync(join(dir, 'helper.obt'), 'pub fn twice(x: f32) -> f32 = 2.0 * x\n');
    const imp = join(dir, 'imp.obt');
    writeFileSync(imp, `import "./helper.obt"\n${src}`);
    const i = await obtcInProcess(['train', '--model', imp, '--text', text, '--max-iters', '1']);
    expect(i.code).not.toBe(0);
    expect(i.err).toMatch(/an architecture is one file; it imports .*helper\.obt/);
    // --bias: nanoGPT's bias=True, for the architecture that has a variant with biases
    const small = ['--text', text, '--max-iters', '1', '--n-embd', '16', '--n-layer', '1', '--eval-iters', '1'];
    const gb = await obtcInProcess(['train', '--bias', ...small, '--out', join(dir, 'gb.obtm')]);
    expect(gb.code).toBe(0);
    expect((await loadModel(join(dir, 'gb.obtm'))).arch.name).toBe('gpt_bias');
    const lb = await obtcInProcess(['train', '--bias', '--model', 'llama', ...small, '--out', join(dir, 'lb.obtm')]);
    expect(lb.code).not.toBe(0);
    expect(lb.err).toMatch(/--bias: llama has no variant with biases/);
    const none = await obtcInProcess(['train', '--model', join(dir, 'nope.obt'), '--text', text]);
    expect(none.err).toMatch(/--model .*nope\.obt: no such file/);
  }, 120_000);
});
