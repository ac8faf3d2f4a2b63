// The packed ±1 dtype: pack_sign (f32[..., O, I] -> sign[..., O, I], x < 0 -> bit 1 = -1, 0 -> +1),
// unpack_sign (back to ±1 floats), signlinear(x[..., I], s[O, I], g[I], h[O]) = ((x ⊙ g) sᵀ) ⊙ h and
// blocksignlinear(x[..., I], s[O, I], d[O, K]): each row of s in K blocks of B = I / K columns (whole
// sign words, B a multiple of 32), block k of row o scaled by d[o, k] — llama.cpp's Q1_0 (B = 128)
// and, with two sign planes, its ternary types.
import type { TensorType } from '../core/ir.ts';
import { alloc, numel, packSigns, signWords } from '../core/tensor.ts';
import { fail, type PrimDef } from './def.ts';
import { isFloat } from '../core/dtype.ts';

export const pack_sign: PrimDef<'pack_sign'> = {
  name: 'pack_sign',
  infer(args) {
    if (args.length !== 1 || !isFloat(args[0]!.dtype) || args[0]!.shape.length < 1)
      fail('pack_sign', 'expects one float tensor of rank >= 1', args);
    return [{ dtype: 'sign', shape: args[0]!.shape }];
  },
  eval([x]) {
    return [packSigns(x!.data, x!.shape)];
  },
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
};

function signlinearShape(args: TensorType[]): number[] {
  if (args.length !== 4) fail('signlinear', 'expects (x, s, g, h)', args);
  const [x, s, g, h] = args as [TensorType, TensorType, TensorType, TensorType];
  if (s.dtype !== 'sign' || s.shape.length !== 2) fail('signlinear', 's must be sign[O, I]', args);
  const [O, I] = s.shape as [number, number];
  if (x.dtype !== 'f32' || x.shape.length < 1 || x.shape[x.shape.length - 1] !== I)
    fail('signlinear', `x must be f32[..., ${I}]`, args);
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
};

function blockShape(args: TensorType[]): { shape: number[]; O: number; I: number; K: number } {
  if (args.length !== 3) fail('blocksignlinear', 'expects (x, s, d)', args);
  const [x, s, d] = args as [TensorType, TensorType, TensorType];
  if (s.dtype !== 'sign' || s.shape.length !== 2) fail('blocksignlinear', 's must be sign[O, I]', args);
  const [O, I] = s.shape as [number, number];
  if (x.dtype !== 'f32' || x.shape.length < 1 || x.shape[x.shape.length - 1] !== I)
    fail('blocksignlinear', `x must be f32[..., ${I}]`, args);
  if (d.dtype !== 'f32' || d.shape.length !== 2 || d.shape[0] !== O)
    fail('blocksignlinear', `d must be f32[${O}, K]`, args);
  const K = d.shape[1]!;
  if (K < 1 || I % K !== 0 || (I / K) % 32 !== 0)
    fail('blocksignlinear', `the blocks of ${I} / ${K} columns must be whole sign words (a multiple of 32)`, args);
  return { shape: [...x.shape.slice(0, -1), O], O, I, K };
}

export const blocksignlinear: PrimDef<'blocksignlinear'> = {
  name: 'blocksignlinear',
  infer(args) {
    return [{ dtype: 'f32', shape: blockShape(args).shape }];
  },
  eval([x, s, d], _p, ctx) {
    const { shape, O, I, K } = blockShape([x!, s!, d!]);
    const B = I / K;
    const rows = numel(x!.shape.slice(0, -1));
    const words = signWords(I);
    const w = s!.data as Uint32Array;
    const out = alloc('f32', shape, ctx.f64);
    for (let r = 0; r < rows; r++)
      for (let o = 0; o < O; o++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          let part = 0;
          for (let i = k * B; i < (k + 1) * B; i++) {
            const v = x!.data[r * I + i]!;
            part += (w[o * words + (i >>> 5)]! >>> (i & 31)) & 1 ? -v : v;
          }
          acc += part * d!.data[o * K + k]!;
        }
        out.data[r * O + o] = acc;
      }
    return [out];
  },
};
