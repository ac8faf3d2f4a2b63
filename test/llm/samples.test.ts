// obtc sample: stories sampled from the teacher in the format quantize --data reads; a seed
// reproduces them; an unfinished story (one reaching --max-tokens) is dropped, never cut.
import { expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';
import { loadModel } from '../../llm/load.ts';
import { tokenStream } from '../../llm/eval.ts';

const dir = mkdtempSync(join(tmpdir(), 'obt-sample-'));
const sample = async (...extra: string[]) => {
  let out = '';
  let err = '';
  const rc = await main(['sample', ...extra], { out: (s) => (out += s), err: (s) => (err += s) });
  return { rc, out, err };
};

it('writes N finished stories, reproducibly by seed, readable as distillation data', async () => {
  const a = join(dir, 'a.txt');
  const b = join(dir, 'b.txt');
  const c = join(dir, 'c.txt');
  const ra = await sample('--stories', '6', '--seed', '3', '--out', a);
  expect(ra.rc, ra.err).toBe(0);
  expect(ra.out).toMatch(
    /a\.txt: 6 stories, \d+ tokens \(\d+ reached 511 tokens unfinished and were dropped\); temperature 1, seed 3/,
  );
  expect((await sample('--stories', '6', '--seed', '3', '--out', b)).rc).toBe(0);
  expect((await sample('--stories', '6', '--seed', '4', '--out', c)).rc).toBe(0);
  const text = readFileSync(a, 'utf8');
  expect(readFileSync(b, 'utf8')).toBe(text);
  expect(readFileSync(c, 'utf8')).not.toBe(text);
  const stories = text.split('<|endoftext|>').map((s) => s.trim());
  expect(stories).toHaveLength(6);
  expect(stories.every((s) => s.length > 0)).toBe(true);
  const m = await loadModel(join(import.meta.dirname, '../../data/stories260K.bin'));
  const tokens = Number(/(\d+) tokens/.exec(ra.out)![1]);
  expect(tokenStream(text, m.tokenizer).length).toBeGreaterThan(tokens * 0.9); // re-tokenised with a BOS per story
}, 120_000);

it('drops a story that reaches --max-tokens instead of cutting it', async () => {
  const f = join(dir, 'short.txt');
  const r = await sample('--stories', '3', '--seed', '3', '--max-tokens', '200', '--out', f);
  expect(r.rc, r.err).toBe(0);
  const dropped = Number(/\((\d+) reached 200 tokens/.exec(r.out)![1]);
  expect(dropped).toBeGreaterThan(0); // most stories run longer than 200 tokens
  const m = await loadModel(join(import.meta.dirname, '../../data/stories260K.bin'));
  for (const s of readFileSync(f, 'utf8').split('<|endoftext|>'))
    expect(m.tokenizer.encode(s.trim(), { bos: false }).length).toBeLessThanOrEqual(200);
  expect((await sample('--stories', '3')).err).toContain('sample needs --out FILE');
  expect((await sample('--stories', '0', '--out', f)).err).toContain('--stories');
}, 120_000);
