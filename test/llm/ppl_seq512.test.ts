// `obtc ppl --seq 512` on the shipped evaluation text: the teacher's reference perplexity 3.480.
import { expect, it } from 'vitest';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';

it('obtc ppl --seq 512 prints ppl 3.480', async () => {
  let out = '';
  const rc = await main(
    ['ppl', '--seq', '512', '--text', join(import.meta.dirname, '../../data/tinystories_valid_eval.txt')],
    { out: (s) => (out += s), err: () => 0 },
  );
  expect(rc).toBe(0);
  const m = /^ppl=(\d+\.\d{4}) ce=\S+ tokens=52998 windows=103$/.exec(out.trim().split('\n').pop()!);
  expect(m, out).toBeTruthy();
  expect(Math.abs(Number(m![1]) - 3.48)).toBeLessThanOrEqual(0.002);
}, 900_000);
