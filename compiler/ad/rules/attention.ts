// VJP of fused attention (runtime/prims/attention.ts): the forward's result holds out and each
// row's lse; its cotangent holds dO and (where something used the lse) ct_lse. With
// delta = Σ_d dO ⊙ out − ct_lse (∂lse/∂s = P), dq = attention{dq}(…) and [dk; dv] =
// attention{dkv}(…) — the FlashAttention backward, scores recomputed, never stored. The backward
// modes are not differentiated again.
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
  const dq = b.emit('attention', bwd, { mode: 'dq', scale: p.scale });
  const dkv = b.emit('attention', bwd, { mode: 'dkv', scale: p.scale });
  const part = (i: number) =>
    b.emit(
      'reshape',
      [b.emit('slice', [dkv], { start: [i, 0, 0, 0, 0], stop: [i + 1, B, S, KV, Dh], step: [1, 1, 1, 1, 1] })],
      { shape: [B, S, KV, Dh] },
    );
  return [dq, part(0), part(1), undefined];
};
