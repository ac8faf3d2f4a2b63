// Perplexity by the project's protocol: stories split on <|endoftext|>, each stripped, non-empty
// ones encoded with BOS and concatenated; window i is stream[seq·i : seq·i + seq + 1], inputs its
// first seq ids (positions from 0), targets the last seq; ce = mean of -log softmax over all
// targets (accumulated in f64); ppl = exp(ce).
import type { Tokenizer } from './io/tokenizer.ts';
import { Progress } from './progress.ts';

export function tokenStream(text: string, tk: Tokenizer): number[] {
  const out: number[] = [];
  for (const story of text.split('<|endoftext|>')) {
    const s = story.trim();
    if (s) out.push(...tk.encode(s, { bos: true }));
  }
  return out;
}

export interface PplResult {
  ppl: number;
  ce: number;
  tokens: number;
  windows: number;
  targets: number;
}

export async function perplexity(
  stream: number[],
  seq: number,
  vocab: number,
  logits: (ids: number[]) => Float32Array | Promise<Float32Array>,
  progress?: Pick<Progress, 'update'>,
): Promise<PplResult> {
  const windows = stream.length >= seq + 1 ? Math.floor((stream.length - seq - 1) / seq) + 1 : 0;
  let nll = 0;
  let n = 0;
  for (let w = 0; w < windows; w++) {
    const win = stream.slice(seq * w, seq * w + seq + 1);
    const lg = await logits(win.slice(0, seq));
    for (let t = 0; t < seq; t++) {
      let m = -Infinity;
      for (let v = 0; v < vocab; v++) m = Math.max(m, lg[t * vocab + v]!);
      let z = 0;
      for (let v = 0; v < vocab; v++) z += Math.exp(lg[t * vocab + v]! - m);
      nll += m + Math.log(z) - lg[t * vocab + win[t + 1]!]!;
      n++;
    }
    progress?.update(w + 1, `ce ${(nll / n).toFixed(4)}`);
  }
  const ce = n ? nll / n : NaN;
  return { ppl: Math.exp(ce), ce, tokens: stream.length, windows, targets: n };
}

export function formatPpl(r: PplResult): string {
  return `ppl=${r.ppl.toFixed(4)} ce=${r.ce.toFixed(5)} tokens=${r.tokens} windows=${r.windows}`;
}
