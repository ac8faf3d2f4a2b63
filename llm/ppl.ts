// Perplexity by the project's protocol: stories split on <|endoftext|>, each stripped, non-empty
// ones encoded with BOS and concatenated; window i is stream[seq·i : seq·i + seq + 1], inputs its
// first seq ids (positions from 0), targets the last seq; ce = mean of -log softmax over all
// targets (accumulated in f64); ppl = exp(ce).
import { UserError } from '../compiler/syntax/diag.ts';
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
  /** the first target whose log-probability is not finite (a non-finite logit, or a target given
   *  probability 0), when one is */
  nonFinite?: { window: number; position: number };
}

/** A perplexity that is not a finite number is an error, never a printed `Infinity`: what was
 *  measured (`what`, e.g. the model's file) and where it stopped being finite. */
export function checkFinitePpl(r: PplResult, what: string): PplResult {
  if (Number.isFinite(r.ppl)) return r;
  const at = r.nonFinite
    ? ` (window ${r.nonFinite.window}, position ${r.nonFinite.position} has a non-finite log-probability)`
    : '';
  throw new UserError(`${what}: the perplexity is not finite: ce=${r.ce}, ppl=${r.ppl}${at}`);
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
  let nonFinite: PplResult['nonFinite'];
  for (let w = 0; w < windows; w++) {
    const win = stream.slice(seq * w, seq * w + seq + 1);
    const lg = await logits(win.slice(0, seq));
    for (let t = 0; t < seq; t++) {
      let m = -Infinity;
      for (let v = 0; v < vocab; v++) m = Math.max(m, lg[t * vocab + v]!);
      let z = 0;
      for (let v = 0; v < vocab; v++) z += Math.exp(lg[t * vocab + v]! - m);
      const l = m + Math.log(z) - lg[t * vocab + win[t + 1]!]!;
      if (!nonFinite && !Number.isFinite(l)) nonFinite = { window: w, position: t };
      nll += l;
      n++;
    }
    progress?.update(w + 1, `ce ${(nll / n).toFixed(4)}`);
  }
  const ce = n ? nll / n : NaN;
  return { ppl: Math.exp(ce), ce, tokens: stream.length, windows, targets: n, ...(nonFinite ? { nonFinite } : {}) };
}

export function formatPpl(r: PplResult): string {
  return `ppl=${r.ppl.toFixed(4)} ce=${r.ce.toFixed(5)} tokens=${r.tokens} windows=${r.windows}`;
}
