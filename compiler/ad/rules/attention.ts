// VJP of fused attention (runtime/prims/attention.ts): the forward's result holds out and each
// row's lse; its cotangent holds dO and (where something used the lse) ct_lse. With
// delta = Σ_d dO ⊙ out − ct_lse (∂lse/∂s = P), [dq; dk; dv] = attention{bwd}(…) — the
// FlashAttention backward in one pass over the scores, recomputed, never stored. The backward mode
// is not differentiated again.
import { noGrad, type VjpRule } from './rule.ts';

export const attention: VjpRule<'attention'> = (b, args, [o], p, [ct]) => {
  if (p.mode !== 'out') return noGrad(b, args);
  if (!ct) return [undefined, undefined, undefined, undefined];
  const [q, k, v, mask] = args as [(typeof args)[0], (typeof args)[0], (typeof args)[0], (typeof args)[0]];
  const [B, T, H] = q.type.shape as [number, number, number, number];
  const [, S, KV, Dh] = k.type.shape as [number, number, number, number];
  // [..., lo, hi) of the last axis of a [B, T, H, Dh + 1] value
  const cols = (x: typeof q, lo: number, hi: number) =>
    b.emit('slice', [x], { start: [0, 0, 0, lo], stop: [B, T, H, hi], step: [1, 1, 1, 1] });
  const lastCol = (x: typeof q) => b.emit('reshape', [cols(x, Dh, Dh + 1)], { shape: [B, T, H] });
  const dO = cols(ct, 0, Dh);
  const lse = lastCol(o!);
  const dot = b.emit('reduce_sum', [b.emit('mul', [dO, cols(o!, 0, Dh)], {})], { axes: [3] });
  const delta = b.emit('sub', [dot, lastCol(ct)], {});
  const bwd = [q, k, v, mask, dO, lse, delta];
  const all = b.emit('attention', bwd, { mode: 'bwd', scale: p.scale });
  const nq = B * T * H * Dh;
  const nk = B * S * KV * Dh;
  const part = (at: number, n: number, shape: number[]) =>
    b.emit('reshape', [b.emit('slice', [all], { start: [at], stop: [at + n], step: [1] })], { shape });
  return [part(0, nq, [B, T, H, Dh]), part(nq, nk, [B, S, KV, Dh]), part(nq + nk, nk, [B, S, KV, Dh]), undefined];
};
