// VJP of fused attention (runtime/prims/attention.ts): the forward's cotangent dO gives
// lse = attention{lse}(q, k, mask), delta = Σ_d dO ⊙ out, then dq = attention{dq}(…) and
// [dk; dv] = attention{dkv}(…) — the FlashAttention backward, scores recomputed, never stored.
// The other modes are the backward's own parts and are not differentiated again.
import { noGrad, type VjpRule } from './rule.ts';

export const attention: VjpRule<'attention'> = (b, args, [o], p, [ct]) => {
  if (p.mode !== 'out') return noGrad(b, args);
  if (!ct) return [undefined, undefined, undefined, undefined];
  const [q, k, v, mask] = args as [(typeof args)[0], (typeof args)[0], (typeof args)[0], (typeof args)[0]];
  const [B, T, H] = q.type.shape as [number, number, number, number];
  const [, S, KV, Dh] = k.type.shape as [number, number, number, number];
  const lse = b.emit('attention', [q, k, mask], { mode: 'lse', scale: p.scale });
  const delta = b.emit('reduce_sum', [b.emit('mul', [ct, o!], {})], { axes: [3] });
  const bwd = [q, k, v, mask, ct, lse, delta];
  const dq = b.emit('attention', bwd, { mode: 'dq', scale: p.scale });
  const dkv = b.emit('attention', bwd, { mode: 'dkv', scale: p.scale });
  const part = (i: number) =>
    b.emit(
      'reshape',
      [b.emit('slice', [dkv], { start: [i, 0, 0, 0, 0], stop: [i + 1, B, S, KV, Dh], step: [1, 1, 1, 1, 1] })],
      { shape: [B, S, KV, Dh] },
    );
  void T;
  void H;
  return [dq, part(0), part(1), undefined];
};
