// The `sdpa` builtin: fused scaled dot-product attention with grouped KV heads and a boolean mask,
//   sdpa(q: f32[B, T, H, Dh], k: f32[B, S, KV, Dh], v: f32[B, S, KV, Dh], mask: bool[T, S]) -> f32[B, T, H, Dh]
// = softmax over s of (q·k / √Dh where mask, else −inf) applied to v, query head h reading KV head
// h / (H / KV); a row with no key gives 0. One primitive (runtime/prims/attention.ts) whose kernels
// never store the scores; its gradient is the FlashAttention backward (compiler/ad/rules/attention.ts).
import { UserError } from '../../syntax/diag.ts';
import { shapeToString, type ShapeItem } from '../types.ts';
import { dimValue } from '../dim.ts';
import * as ops from './ops.ts';
import { arity, tensorArg, type Builtin } from './builtin_args.ts';

export const sdpa: Builtin = (c) => {
  arity(c, 4);
  const [q, k, v, mask] = [0, 1, 2, 3].map((i) => tensorArg(c, i)) as [ops.TVal, ops.TVal, ops.TVal, ops.TVal];
  const rank4 = (t: ops.TVal) => t.t.shape.length === 4 && t.t.shape.every((it) => it.k !== 'spread');
  if (q.t.dtype !== 'f32' || !rank4(q))
    throw new UserError(`sdpa expects q: f32[B, T, H, Dh], found ${ops.showT(q)}`, c.spans[0]!);
  const [B, T, H, Dh] = q.t.shape as [ShapeItem, ShapeItem, ShapeItem, ShapeItem];
  if (k.t.dtype !== 'f32' || !rank4(k) || !ops.dimsEqual(k.t.shape[0]!, B) || !ops.dimsEqual(k.t.shape[3]!, Dh))
    throw new UserError(
      `sdpa expects k: f32[${shapeToString([B])}, S, KV, ${shapeToString([Dh])}], found ${ops.showT(k)}`,
      c.spans[1]!,
    );
  const [, S, KV] = k.t.shape as [ShapeItem, ShapeItem, ShapeItem];
  if (v.t.dtype !== 'f32' || !rank4(v) || !k.t.shape.every((d, i) => ops.dimsEqual(d, v.t.shape[i]!)))
    throw new UserError(`sdpa expects v of k's type ${ops.showT(k)}, found ${ops.showT(v)}`, c.spans[2]!);
  if (
    mask.t.dtype !== 'bool' ||
    mask.t.shape.length !== 2 ||
    !ops.dimsEqual(mask.t.shape[0]!, T) ||
    !ops.dimsEqual(mask.t.shape[1]!, S)
  )
    throw new UserError(`sdpa expects mask: bool[${shapeToString([T, S])}], found ${ops.showT(mask)}`, c.spans[3]!);
  const h = H.k === 'dim' ? dimValue(H.d) : undefined;
  const kv = KV.k === 'dim' ? dimValue(KV.d) : undefined;
  if (h !== undefined && kv !== undefined && (kv < 1 || h % kv !== 0))
    throw new UserError(`sdpa: the ${h} query heads are not a multiple of the ${kv} KV heads`, c.spans[1]!);
  return ops.emitted(c.el, 'f32', q.t.shape, (b) => {
    const atoms = [q, k, v, mask].map((x) => ops.atomOf(c.el, x));
    const [B, T, H, dh] = atoms[0]!.type.shape as [number, number, number, number];
    // the primitive keeps each row's log-sum-exp after its output (for the backward): slice it off
    const o = b.emit1('attention', atoms, { mode: 'out', scale: 1 / Math.sqrt(dh) });
    return b.emit1('slice', [o], { start: [0, 0, 0, 0], stop: [B, T, H, dh], step: [1, 1, 1, 1] });
  });
};
