// Evaluation, written once: an evaluation text's token stream and its windows, perplexity from the
// model's `nll` entry (each window's per-token negative log-likelihoods: T numbers leave the device,
// never [T, V] logits; summed here in f64), greedy decoding and its per-token times. Used by obtc
// ppl, quantize, ablate, the held-back validation, the demo and the benchmarks.
//
// The perplexity protocol: stories split on <|endoftext|>, each stripped, non-empty ones encoded
// with BOS and concatenated (a character-level model's stream is the whole text as it is); window i is stream[seq·i : seq·i + seq + 1], inputs its first seq ids
// (positions from 0), targets the last seq; ce = the mean over all targets; ppl = exp(ce).
import { UserError } from '../compiler/syntax/diag.ts';
import type { Tokenizer } from './io/tokenizer.ts';
import type { Progress } from './progress.ts';

export function tokenStream(text: string, tk: Tokenizer): number[] {
  // a tokenizer without BOS (character-level): the text as it is, every character a token
  if (!tk.hasBos) return tk.encode(text);
  const out: number[] = [];
  for (const story of text.split('<|endoftext|>')) {
    const s = story.trim();
    if (s) out.push(...tk.encode(s, { bos: true }));
  }
  return out;
}

/** How many windows of seq targets a stream of `tokens` holds. */
export function windowCount(tokens: number, seq: number): number {
  return tokens >= seq + 1 ? Math.floor((tokens - seq - 1) / seq) + 1 : 0;
}

/** The stream cut to its first `windows` windows (all of it when windows is 0 or not given). */
export function firstWindows(stream: number[], seq: number, windows?: number): number[] {
  return windows ? stream.slice(0, windows * seq + 1) : stream;
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

/** Per-token negative log-likelihoods of a window (the model's nll entry). */
export type Nll = (tokens: number[], targets: number[]) => Float32Array | Promise<Float32Array>;

export async function perplexity(
  stream: number[],
  seq: number,
  nll: Nll,
  progress?: Pick<Progress, 'update'>,
): Promise<PplResult> {
  const windows = windowCount(stream.length, seq);
  let sum = 0;
  let n = 0;
  let nonFinite: PplResult['nonFinite'];
  for (let w = 0; w < windows; w++) {
    const win = stream.slice(seq * w, seq * w + seq + 1);
    const l = await nll(win.slice(0, seq), win.slice(1));
    for (let t = 0; t < seq; t++) {
      if (!nonFinite && !Number.isFinite(l[t]!)) nonFinite = { window: w, position: t };
      sum += l[t]!;
      n++;
    }
    progress?.update(w + 1, `ce ${(sum / n).toFixed(4)}`);
  }
  const ce = n ? sum / n : NaN;
  return { ppl: Math.exp(ce), ce, tokens: stream.length, windows, targets: n, ...(nonFinite ? { nonFinite } : {}) };
}

export function formatPpl(r: PplResult): string {
  return `ppl=${r.ppl.toFixed(4)} ce=${r.ce.toFixed(5)} tokens=${r.tokens} windows=${r.windows}`;
}

/** The index of the largest of the first n values (the first one on ties). */
export function argmax(l: ArrayLike<number>, n = l.length): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (l[j]! > l[best]!) best = j;
  return best;
}

/** A decoder: the next-token logits after `token` at `pos` (runner.decoder / decoder). */
export interface Stepper {
  step(token: number, pos: number): Float32Array | Promise<Float32Array>;
}

/** Greedy decoding from `first` for up to `steps` positions; stops before a token `stop` accepts.
 *  The ids (first included) and each step's milliseconds. */
export async function greedy(
  dec: Stepper,
  first: number,
  steps: number,
  stop: (token: number) => boolean = () => false,
): Promise<{ ids: number[]; ms: number[] }> {
  const ids = [first];
  const ms: number[] = [];
  for (let pos = 0; pos < steps; pos++) {
    const t0 = performance.now();
    const next = argmax(await dec.step(ids[ids.length - 1]!, pos));
    ms.push(performance.now() - t0);
    if (stop(next)) break;
    ids.push(next);
  }
  return { ids, ms };
}
