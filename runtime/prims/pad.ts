// pad: zero padding with lo/hi elements on each axis and `interior` zeros between elements
// (XLA's Pad with non-negative amounts): the transpose of a strided slice.
import { alloc } from '../core/tensor.ts';
import { fail, stridesOf, type PrimDef } from './def.ts';

const outDim = (d: number, lo: number, hi: number, it: number) => lo + hi + (d === 0 ? 0 : d + (d - 1) * it);

export const pad: PrimDef<'pad'> = {
  name: 'pad',
  infer(args, p) {
    if (args.length !== 1) fail('pad', 'expects 1 operand', args);
    const a = args[0]!;
    if (a.dtype === 'sign') fail('pad', 'not defined on sign', args);
    const r = a.shape.length;
    if (
      p.lo.length !== r ||
      p.hi.length !== r ||
      p.interior.length !== r ||
      [...p.lo, ...p.hi, ...p.interior].some((v) => v < 0 || !Number.isInteger(v))
    )
      fail('pad', 'one non-negative lo/hi/interior per axis', args);
    return [{ dtype: a.dtype, shape: a.shape.map((d, i) => outDim(d, p.lo[i]!, p.hi[i]!, p.interior[i]!)) }];
  },
  eval([a], p, ctx) {
    const shape = a!.shape.map((d, i) => outDim(d, p.lo[i]!, p.hi[i]!, p.interior[i]!));
    const out = alloc(a!.dtype, shape, ctx.f64);
    const os = stridesOf(shape);
    const is = stridesOf(a!.shape);
    const n = a!.data.length;
    for (let i = 0; i < n; i++) {
      let o = 0;
      for (let d = 0; d < shape.length; d++)
        o += ((Math.floor(i / is[d]!) % a!.shape[d]!) * (p.interior[d]! + 1) + p.lo[d]!) * os[d]!;
      out.data[o] = a!.data[i]!;
    }
    return [out];
  },
};
