// pad: zero padding of lo/hi elements on each axis (the transpose of slice with unit steps).
import { alloc } from '../../runtime/tensor.ts';
import { fail, stridesOf, type PrimDef } from './def.ts';

export const pad: PrimDef<'pad'> = {
  name: 'pad',
  infer(args, p) {
    if (args.length !== 1) fail('pad', 'expects 1 operand', args);
    const a = args[0]!;
    if (a.dtype === 'sign') fail('pad', 'not defined on sign', args);
    if (p.lo.length !== a.shape.length || p.hi.length !== a.shape.length || [...p.lo, ...p.hi].some((v) => v < 0))
      fail('pad', 'one non-negative lo/hi per axis', args);
    return [{ dtype: a.dtype, shape: a.shape.map((d, i) => d + p.lo[i]! + p.hi[i]!) }];
  },
  eval([a], p, ctx) {
    const shape = a!.shape.map((d, i) => d + p.lo[i]! + p.hi[i]!);
    const out = alloc(a!.dtype, shape, ctx.f64);
    const os = stridesOf(shape);
    const is = stridesOf(a!.shape);
    const n = a!.data.length;
    for (let i = 0; i < n; i++) {
      let o = 0;
      for (let d = 0; d < shape.length; d++) o += (Math.floor(i / is[d]!) % a!.shape[d]! + p.lo[d]!) * os[d]!;
      out.data[o] = a!.data[i]!;
    }
    return [out];
  },
};
