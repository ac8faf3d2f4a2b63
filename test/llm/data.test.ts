// The shipped data files are the ones data/README.md describes (sha256 and size).
import { expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(import.meta.dirname, '../../data');
const readme = readFileSync(join(dir, 'README.md'), 'utf8');
const rows = [...readme.matchAll(/^\| `([^`]+)` \| ([\d,]+) \| `([0-9a-f]{64})` \|/gm)];

it('data/README.md lists the seven shipped files', () => {
  expect(rows.map((r) => r[1]).sort()).toEqual([
    'kd_teacher_samples_t1_seed1234.txt',
    'stories260K-1bit-best.obtm',
    'stories260K.bin',
    'stories260K.gguf',
    'tinyshakespeare.txt',
    'tinystories_valid_eval.txt',
    'tok512.bin',
  ]);
});

for (const [, name, size, hash] of rows) {
  it(`${name} has the documented size and sha256`, () => {
    const b = readFileSync(join(dir, name!));
    expect(b.byteLength).toBe(Number(size!.replace(/,/g, '')));
    expect(createHash('sha256').update(b).digest('hex')).toBe(hash);
  });
}

it('the shipped best 1-bit student has the perplexity data/README.md states, at 1.436 bits per linear weight', async () => {
  const { main } = await import('../../cli/main.ts');
  let out = '';
  const rc = await main(
    [
      'ppl',
      '--weights',
      join(dir, 'stories260K-1bit-best.obtm'),
      '--text',
      join(dir, 'tinystories_valid_eval.txt'),
      '--json',
    ],
    { out: (s) => (out += s), err: () => {} },
  );
  expect(rc).toBe(0);
  const ppl = (JSON.parse(out) as { ppl: number }).ppl;
  expect(readme).toContain(`**${ppl.toFixed(4)}**`);
  expect(ppl).toBeLessThanOrEqual(6.2); // issue 18's target
  const { loadModel } = await import('../../llm/load.ts');
  const m = await loadModel(join(dir, 'stories260K-1bit-best.obtm'));
  expect(m.layer).toBe('method.OneBitNoLn');
  expect(m.bits!.linear).toBeCloseTo(1.436, 3);
}, 120_000);

it('obtc serve shows the shipped best student beside the teacher unless told otherwise', async () => {
  const { pageModels } = await import('../../cli/serve.ts');
  const best = join(dir, 'stories260K-1bit-best.obtm');
  expect(pageModels(new Map()).files).toEqual([join(dir, 'stories260K.bin'), best]);
  expect(pageModels(new Map([['weights', 'x.obtm']])).files).toEqual([join(dir, 'stories260K.bin'), 'x.obtm']);
  expect(pageModels(new Map([['no-teacher', true]])).files).toEqual([best]);
});
