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
