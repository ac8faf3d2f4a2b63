// The packed ±1 dtype: pack_sign (f32[..., O, I] -> sign[..., O, I], x < 0 -> bit 1 = -1, 0 -> +1),
// unpack_sign (back to ±1 floats) and signlinear(x[..., I], s[O, I], g[I], h[O]) = ((x ⊙ g) sᵀ) ⊙ h.
import type { TensorType } from '../core/ir.ts';
import { alloc, numel, packSigns, signWords } from '../../runtime/tensor.ts';
import { fail, noGrad, type PrimDef } from './def.ts';
import { lit } from '../core/ir.ts';
import { isFloat } from '../types/types.ts';

export const pack_sign: PrimDef<'pack_sign'> = {
  name: 'pack_sign',
  infer(args) {
    if (args.length !== 1 || !isFloat(args[0]!.dtype) || args[0]!.shape.length < 1) fail('pack_sign', 'expects one float tensor of rank >= 1', args);
    return [{ dtype: 'sign', shape: args[0]!.shape }];
  },
  eval([x]) {
    return [packSigns(x!.data, x!.shape)];
  },
  vjp: noGrad,
};

export const unpack_sign: PrimDef<'unpack_sign'> = {
  name: 'unpack_sign',
  infer(args) {
    if (args.length !== 1 || args[0]!.dtype !== 'sign') fail('unpack_sign', 'expects one sign tensor', args);
    return [{ dtype: 'f32', shape: args[0]!.shape }];
  },
  eval([s], _p, ctx) {
    const out = alloc('f32', s!.shape, ctx.f64);
    const cols = s!.shape[s!.shape.length - 1]!;
    const words = signWords(cols);
    const rows = numel(s!.shape.slice(0, -1));
    const w = s!.data as Uint32Array;
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) out.data[r * cols + c] = (w[r * words + (c >>> 5)]! >>> (c & 31)) & 1 ? -1 : 1;
    return [out];
  },
  vjp: noGrad,
};

export function signlinearShape(args: TensorType[]): number[] {
  if (args.length !== 4) fail('signlinear', 'expects (x, s, g, h)', args);
  const [x, s, g, h] = args as [TensorType, TensorType, TensorType, TensorType];
  if (s.dtype !== 'sign' || s.shape.length !== 2) fail('signlinear', 's must be sign[O, I]', args);
  const [O, I] = s.shape as [number, number];
  if (x.dtype !== 'f32' || x.shape.length < 1 || x.shape[x.shape.length - 1] !== I) fail('signlinear', `x must be f32[..., ${I}]`, args);
  if (g.dtype !== 'f32' || g.shape.length !== 1 || g.shape[0] !== I) fail('signlinear', `g must be f32[${I}]`, args);
  if (h.dtype !== 'f32' || h.shape.length !== 1 || h.shape[0] !== O) fail('signlinear', `h must be f32[${O}]`, args);
  return [...x.shape.slice(0, -1), O];
}

export const signlinear: PrimDef<'signlinear'> = {
  name: 'signlinear',
  infer(args) {
    return [{ dtype: 'f32', shape: signlinearShape(args) }];
  },
  eval([x, s, g, h], _p, ctx) {
    const shape = signlinearShape([x!, s!, g!, h!]);
    const [O, I] = s!.shape as [number, number];
    const rows = numel(x!.shape.slice(0, -1));
    const words = signWords(I);
    const w = s!.data as Uint32Array;
    const out = alloc('f32', shape, ctx.f64);
    const xg = new Float64Array(I);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < I; i++) xg[i] = x!.data[r * I + i]! * g!.data[i]!;
      for (let o = 0; o < O; o++) {
        let acc = 0;
        for (let i = 0; i < I; i++) acc += (w[o * words + (i >>> 5)]! >>> (i & 31)) & 1 ? -xg[i]! : xg[i]!;
        out.data[r * O + o] = acc * h!.data[o]!;
      }
    }
    return [out];
  },
  vjp(b, [x, s, g, h], _o, _p, [ct]) {
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
  },
};
