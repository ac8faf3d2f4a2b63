// Token sampling as llama2.c run.c does it: greedy at temperature 0, otherwise softmax(logits / T)
// sampled directly or with top-p (nucleus) truncation, using run.c's xorshift64* generator so a
// seed reproduces run.c's choices.
export class Sampler {
  private state: bigint;

  constructor(
    readonly temperature: number,
    readonly topp: number,
    seed: number,
  ) {
    this.state = BigInt.asUintN(64, BigInt(Math.trunc(seed)) || 1n);
  }

  private randomU32(): number {
    let s = this.state;
    s ^= s >> 12n;
    s = BigInt.asUintN(64, s ^ (s << 25n));
    s ^= s >> 27n;
    this.state = s;
    return Number(BigInt.asUintN(64, s * 0x2545f4914f6cdd1dn) >> 32n);
  }

  private randomF32(): number {
    return (this.randomU32() >>> 8) / 16777216;
  }

  sample(logits: ArrayLike<number>, n = logits.length): number {
    if (this.temperature === 0) {
      let best = 0;
      for (let i = 1; i < n; i++) if (logits[i]! > logits[best]!) best = i;
      return best;
    }
    const p = new Float64Array(n);
    let m = -Infinity;
    for (let i = 0; i < n; i++) m = Math.max(m, logits[i]! / this.temperature);
    let z = 0;
    for (let i = 0; i < n; i++) z += p[i] = Math.exp(logits[i]! / this.temperature - m);
    for (let i = 0; i < n; i++) p[i]! /= z;
    const coin = this.randomF32();
    if (this.topp <= 0 || this.topp >= 1) {
      let cdf = 0;
      for (let i = 0; i < n; i++) {
        cdf += p[i]!;
        if (coin < cdf) return i;
      }
      return n - 1;
    }
    // top-p: the smallest set of most likely tokens whose mass exceeds topp
    const cutoff = (1 - this.topp) / (n - 1);
    const cand = [...p.keys()].filter((i) => p[i]! >= cutoff).sort((a, b) => p[b]! - p[a]!);
    let cum = 0;
    let last = cand.length - 1;
    for (let i = 0; i < cand.length; i++) {
      cum += p[cand[i]!]!;
      if (cum > this.topp) {
        last = i;
        break;
      }
    }
    const r = coin * cum;
    let cdf = 0;
    for (let i = 0; i <= last; i++) {
      cdf += p[cand[i]!]!;
      if (r < cdf) return cand[i]!;
    }
    return cand[last]!;
  }
}
