// `obtc ppl` on the shipped evaluation text, seq 256: the teacher's reference perplexity 3.589.
// (The seq-512 run is in ppl_seq512.test.ts so the two run in parallel.)
import { expect, it } from 'vitest';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';

it('obtc ppl --text data/tinystories_valid_eval.txt prints ppl 3.5889 with 52998 tokens and 207 windows', async () => {
  let out = '';
  let err = '';
  const rc = await main(['ppl', '--text', join(import.meta.dirname, '../../data/tinystories_valid_eval.txt')], {
    out: (s) => (out += s),
    err: (s) => (err += s),
  });
  expect(rc, err).toBe(0);
  const last = out.trim().split('\n').pop()!;
  const m = /^ppl=(\d+\.\d{4}) ce=(\d+\.\d{5}) tokens=(\d+) windows=(\d+)$/.exec(last);
  expect(m, last).toBeTruthy();
  // the same figure as when the log-softmax ran on the host over [T, V] logits (models/llama.obt's
  // nll now computes each token's term on the device)
  expect(m![1]).toBe('3.5889');
  expect(m![2]).toBe('1.27785');
  expect(m![3]).toBe('52998');
  expect(m![4]).toBe('207');
  expect(err).toMatch(/ppl \[/); // the progress bar
}, 600_000);
