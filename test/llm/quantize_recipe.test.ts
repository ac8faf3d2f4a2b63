// The recipe options of obtc quantize beyond OneBit's: --embedding trained (the embedding, and the
// tied head with it, trained beside the layers at no cost in bits), --temperature, and evaluation
// on a held-back slice during training (--val-every) with --early-stop keeping the best student.
import { expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';
import { loadModel } from '../../llm/load.ts';
import { defaultQuantizeOptions, Quantizer } from '../../llm/quantize.ts';
import { Validator } from '../../llm/validate.ts';
import type { Tensor } from '../../runtime/core/tensor.ts';

const dir = mkdtempSync(join(tmpdir(), 'obt-recipe-'));
const text = join(dir, 'eval.txt');
writeFileSync(
  text,
  Array.from(
    { length: 12 },
    (_, i) =>
      `Once upon a time, there was a little girl named Lily. She had ${i} red balls and a big dog. They played in the park all day.`,
  ).join('<|endoftext|>'),
);
const run = async (extra: string[], out: string) => {
  let err = '';
  const io = { out: () => {}, err: (s: string) => (err += s) };
  const args = ['quantize', '--method', 'onebit_noln', '--steps', '8', '--batch', '1', '--seq', '16', '--lr', '1e-2'];
  // --fp32: the file holds the trained values exactly, to compare with the teacher's
  const rc = await main([...args, '--checkpoint-every', '0', '--fp32', ...extra, '--out', out], io);
  expect(rc, err).toBe(0);
  return err;
};
const data = (t: unknown) => Array.from((t as Tensor).data);

it('--embedding trained changes the embedding (head tied to it) and not the file size; --temperature changes the loss', async () => {
  const frozen = join(dir, 'frozen.obtm');
  const trained = join(dir, 'trained.obtm');
  const warm = join(dir, 'warm.obtm');
  expect(await run(['--no-eval', '--embedding', 'frozen'], frozen)).toContain('embedding frozen');
  expect(await run(['--no-eval', '--embedding', 'trained'], trained)).toContain('embedding trained');
  await run(['--no-eval', '--embedding', 'frozen', '--temperature', '2'], warm);
  const teacher = await loadModel(join(import.meta.dirname, '../../data/stories260K.bin'));
  const a = await loadModel(frozen);
  const b = await loadModel(trained);
  const tv = teacher.value as Record<string, unknown>;
  const av = a.value as Record<string, unknown>;
  const bv = b.value as Record<string, unknown>;
  expect(data(av.emb)).toEqual(data(tv.emb));
  expect(data(bv.emb)).not.toEqual(data(tv.emb));
  expect(data(bv.head)).toEqual(data(bv.emb)); // stories260K's head is its embedding
  expect(readFileSync(trained).length).toBe(readFileSync(frozen).length);
  const last = (f: string) => readFileSync(`${f}.loss.csv`, 'utf8').trim().split('\n').pop()!.split(',')[1];
  expect(last(trained)).not.toBe(last(frozen));
  expect(last(warm)).not.toBe(last(frozen));
}, 240_000);

it('--val-every evaluates the held-back slice during training, plotted beside the loss', async () => {
  const out = join(dir, 'val.obtm');
  const log = await run(
    [
      '--eval-text',
      text,
      '--eval-windows',
      '1',
      '--eval-seq',
      '16',
      '--val-every',
      '4',
      '--val-windows',
      '3',
      '--sample-steps',
      '0',
    ],
    out,
  );
  const rows = readFileSync(`${out}.val.csv`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(',').map(Number));
  expect(rows.map((r) => r[0])).toEqual([4, 8]);
  for (const r of rows) expect(Math.log(r[1]!)).toBeCloseTo(r[2]!, 6);
  expect(log).toMatch(/step 8: held-back ppl \d+\.\d{4}/);
  expect(readFileSync(`${out}.loss.svg`, 'utf8')).toContain('held-back CE');
}, 120_000);

it('the validator keeps a copy of the best student and reports a stall', async () => {
  const o = {
    ...defaultQuantizeOptions(6),
    method: 'onebit_noln',
    batch: 1,
    seq: 16,
    lr: 1e-2,
    checkpointEvery: 0,
    out: join(dir, 'v.obtm'),
  };
  const teacher = await loadModel(o.weights);
  const q = new Quantizer(teacher, o, () => {});
  const st = await q.train();
  const good = await q.export(st.ps);
  const bad = await q.export(await q.initialTrainable()); // SVID only: far worse
  const v = new Validator(readFileSync(text, 'utf8'), teacher, q.method, 16, 3, { kind: 'wasm' });
  const p1 = await v.evaluate(1, good);
  const p2 = await v.evaluate(2, bad);
  expect(p2.ppl).toBeGreaterThan(p1.ppl);
  expect(v.best!.step).toBe(1);
  expect(v.stalled(1)).toBe(true);
  expect(v.stalled(2)).toBe(false);
  // the copy is the student's own: overwriting what was evaluated leaves it as it was
  const g = ((good.blocks as Record<string, unknown>[])[0]!.wq as Record<string, Tensor>).g;
  const before = Array.from(g.data);
  g.data.fill(0);
  expect(
    Array.from(((v.best!.student.blocks as Record<string, unknown>[])[0]!.wq as Record<string, Tensor>).g.data),
  ).toEqual(before);
}, 120_000);

it("quantize's usage text shows the defaults it runs with (made from llm/options.ts's table)", async () => {
  const { COMMAND_SPECS } = await import('../../cli/spec.ts');
  const u = COMMAND_SPECS.quantize!.usage.replace(/\n\s+/g, ' ');
  const d = defaultQuantizeOptions();
  const shown = (flag: string) => new RegExp(`--${flag} \\S+ (?:(?!--).)*?\\(default ([^)]+)\\)`).exec(u)?.[1];
  for (const [flag, v] of [
    ['steps', d.steps],
    ['batch', d.batch],
    ['seq', d.seq],
    ['lr', d.lr],
    ['alpha', d.alpha],
    ['temperature', d.temperature],
    ['wd', d.wd],
    ['clip', d.clip],
    ['eval-seq', d.evalSeq],
  ] as const)
    expect(Number(shown(flag)), flag).toBe(v);
  expect(shown('embedding')).toBe(d.embedding);
  expect(shown('method')).toBe(d.method);
  // every option's flag is in the text and in the flag set obtc parses
  const { QUANTIZE_OPTIONS, QUANTIZE_FLAGS } = await import('../../llm/options.ts');
  for (const o of Object.values(QUANTIZE_OPTIONS))
    for (const f of o.flags) {
      expect(u).toContain(`--${f}`);
      expect(QUANTIZE_FLAGS[f], f).toBeDefined();
    }
});
