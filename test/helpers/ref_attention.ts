// Causal grouped-query attention in f64 for the tests' independent reference forwards: for every
// query position tq, each of H heads attends over positions 0..tq of its key/value head (H / KV
// query heads share one), scores scaled by 1/√Dh, softmax, the values' weighted sum.
export function causalAttention(
  q: number[][],
  k: number[][],
  v: number[][],
  H: number,
  KV: number,
  Dh: number,
): number[][] {
  return q.map((qt, tq) => {
    const att = new Array<number>(H * Dh).fill(0);
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / (H / KV));
      const s = Array.from({ length: tq + 1 }, (_, ts) => {
        let d = 0;
        for (let i = 0; i < Dh; i++) d += qt[h * Dh + i]! * k[ts]![kh * Dh + i]!;
        return d / Math.sqrt(Dh);
      });
      const m = Math.max(...s);
      const e = s.map((z) => Math.exp(z - m));
      const z = e.reduce((a, b) => a + b, 0);
      e.forEach((w, ts) => {
        for (let i = 0; i < Dh; i++) att[h * Dh + i]! += (w / z) * v[ts]![kh * Dh + i]!;
      });
    }
    return att;
  });
}
