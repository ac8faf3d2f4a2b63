// iota: the index along one axis, broadcast over a shape; constant: a literal tensor.
import { alloc, numel } from '../core/tensor.ts';
import { fail, stridesOf, type PrimDef } from './def.ts';
import { finish } from './elementwise.ts';

export const iota: PrimDef<'iota'> = {
  name: 'iota',
  infer(args, p) {
    if (args.length !== 0) fail('iota', 'takes no operands', args);
    if (p.axis < 0 || p.axis >= p.shape.length || p.dtype === 'sign' || p.dtype === 'bool')
      fail('iota', 'bad axis or dtype', args);
    return [{ dtype: p.dtype, shape: p.shape }];
  },
  eval(_a, p, ctx) {
    const out = alloc(p.dtype, p.shape, ctx.f64);
    const st = stridesOf(p.shape)[p.axis]!;
    const n = p.shape[p.axis]!;
    for (let i = 0; i < out.data.length; i++) out.data[i] = Math.floor(i / st) % n;
    return [out];
  },
};

export const constant: PrimDef<'constant'> = {
  name: 'constant',
  infer(args, p) {
    if (args.length !== 0) fail('constant', 'takes no operands', args);
    if (p.data.length !== numel(p.shape) || p.dtype === 'sign') fail('constant', 'data does not fill the shape', args);
    return [{ dtype: p.dtype, shape: p.shape }];
  },
  eval(_a, p, ctx) {
    const out = alloc(p.dtype, p.shape, ctx.f64);
    const fin = finish(p.dtype);
    p.data.forEach((v, i) => (out.data[i] = fin(v)));
    return [out];
  },
};
