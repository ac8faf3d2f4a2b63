// VJP rules of the primitives in runtime/prims/sign.ts.
import { noGrad, type VjpRule } from './rule.ts';
import { lit } from '../../../runtime/core/ir.ts';

export const pack_sign: VjpRule<'pack_sign'> = noGrad;

export const unpack_sign: VjpRule<'unpack_sign'> = noGrad;

export const signlinear: VjpRule<'signlinear'> = (b, [x, s, g, h], _o, _p, [ct]) => {
  // y = z ⊙ h with z = (x ⊙ g) Sᵀ: dh = Σrows ct ⊙ z; d(x ⊙ g) = (ct ⊙ h) S; dx = ⋯ ⊙ g; dg = Σrows ⋯ ⊙ x
  if (!ct) return [undefined, undefined, undefined, undefined];
  const xs = x!.type.shape;
  const r = xs.length;
  const rows = [...Array(r - 1).keys()];
  const I = xs[r - 1]!;
  const O = s!.type.shape[0]!;
  const ones = b.emit('broadcast_in_dim', [lit(1, 'f32')], { shape: [O], dims: [] });
  const z = b.emit('signlinear', [x!, s!, g!, ones], {});
  const dh = b.emit('reduce_sum', [b.emit('mul', [ct, z], {})], { axes: rows });
  const hb = b.emit('broadcast_in_dim', [h!], { shape: ct.type.shape, dims: [r - 1] });
  const dz = b.emit('mul', [ct, hb], {});
  const dense = b.emit('unpack_sign', [s!], {});
  const dxg = b.emit('dot_general', [dz, dense], { batch: [[], []], contract: [[r - 1], [0]] });
  const gb = b.emit('broadcast_in_dim', [g!], { shape: xs, dims: [r - 1] });
  const dx = b.emit('mul', [dxg, gb], {});
  const dg = b.emit('reduce_sum', [b.emit('mul', [dxg, x!], {})], { axes: rows });
  void I;
  return [dx, undefined, dg, dh];
};

export const blocksignlinear: VjpRule<'blocksignlinear'> = (b, [x, s, d], _o, _p, [ct]) => {
  // y[m, o] = Σ_k d[o, k] Σ_{i ∈ block k} x[m, i] s[o, i]: dx = ct · (d ⊙blocks S); dd[o, k] is the
  // block sums of (ctᵀ x) ⊙ S over the rows of x
  if (!ct) return [undefined, undefined, undefined];
  const r = x!.type.shape.length;
  const rows = [...Array(r - 1).keys()];
  const [O, I] = s!.type.shape as [number, number];
  const K = d!.type.shape[1]!;
  const dense = b.emit('reshape', [b.emit('unpack_sign', [s!], {})], { shape: [O, K, I / K] });
  const db = b.emit('broadcast_in_dim', [d!], { shape: [O, K, I / K], dims: [0, 1] });
  const w = b.emit('reshape', [b.emit('mul', [dense, db], {})], { shape: [O, I] });
  const dx = b.emit('dot_general', [ct, w], { batch: [[], []], contract: [[r - 1], [0]] });
  const p = b.emit('dot_general', [ct, x!], { batch: [[], []], contract: [rows, rows] });
  const ps = b.emit('mul', [b.emit('reshape', [p], { shape: [O, K, I / K] }), dense], {});
  const dd = b.emit('reduce_sum', [ps], { axes: [2] });
  return [dx, undefined, dd];
};
