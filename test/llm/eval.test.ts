// Evaluation on the device (llm/eval.ts, models/llama.obt's nll): a window's per-token negative
// log-likelihoods are all that comes back — seq floats per window, never [T, V] logits — and the
// perplexity equals the one computed on the host from the full logits; greedy decoding stops where
// told and times each step.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../llm/load.ts';
import { ModelRunner } from '../../llm/runner.ts';
import { argmax, firstWindows, greedy, perplexity, tokenStream, windowCount } from '../../llm/eval.ts';

const root = join(import.meta.dirname, '../..');

describe('perplexity from the nll entry', () => {
  it('reads back seq floats per window and agrees with the host computation over full logits', async () => {
    const m = await loadModel(join(root, 'data/stories260K.bin'));
    const seq = 64;
    const stream = firstWindows(
      tokenStream(readFileSync(join(root, 'data/tinystories_valid_eval.txt'), 'utf8'), m.tokenizer),
      seq,
      6,
    );
    expect(windowCount(stream.length, seq)).toBe(6);
    const r = ModelRunner.fromFile(m, { kind: 'wasm' });
    const res = await perplexity(stream, seq, (ids, t) => r.nll(ids, t));
    expect(res.windows).toBe(6);
    expect(res.targets).toBe(6 * seq);
    // what the backend handed back: 6 windows × seq f32, no logits (6 × seq × 512 floats)
    expect(r.bytesReadBack).toBe(6 * seq * 4);
    // the host computation it replaces: log-softmax of the full logits, in f64
    const V = m.config.vocab;
    let sum = 0;
    for (let w = 0; w < 6; w++) {
      const win = stream.slice(w * seq, w * seq + seq + 1);
      const lg = await r.logits(win.slice(0, seq));
      for (let t = 0; t < seq; t++) {
        let mx = -Infinity;
        for (let v = 0; v < V; v++) mx = Math.max(mx, lg[t * V + v]!);
        let z = 0;
        for (let v = 0; v < V; v++) z += Math.exp(lg[t * V + v]! - mx);
        sum += mx + Math.log(z) - lg[t * V + win[t + 1]!]!;
      }
    }
    expect(Math.abs(res.ce - sum / (6 * seq))).toBeLessThan(2e-6);
  });

  it('names the first non-finite position', async () => {
    const nll = (ids: number[]) => Float32Array.from(ids, (_, i) => (i === 3 ? Infinity : 1));
    const res = await perplexity(
      Array.from({ length: 17 }, (_, i) => i),
      8,
      nll,
    );
    expect(res.nonFinite).toEqual({ window: 0, position: 3 });
  });
});

describe('greedy decoding', () => {
  it('takes the argmax, stops before a stop token, times each step', async () => {
    expect(argmax([1, 5, 5, 2])).toBe(1);
    // a decoder whose next token is the position + 2, token 5 a stop
    const dec = {
      step: (_t: number, pos: number) => Float32Array.from({ length: 8 }, (_, j) => (j === pos + 2 ? 1 : 0)),
    };
    const { ids, ms } = await greedy(dec, 1, 6, (t) => t === 5);
    expect(ids).toEqual([1, 2, 3, 4]);
    expect(ms.length).toBe(4);
  });
});
