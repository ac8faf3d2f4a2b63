// concat: joins operands along one axis; all other dims agree.
import { alloc, numel } from '../core/tensor.ts';
import { fail, type PrimDef } from './def.ts';

export const concat: PrimDef<'concat'> = {
  name: 'concat',
  infer(args, p) {
    if (args.length < 1) fail('concat', 'expects at least 1 operand', args);
    const a = args[0]!;
    const ax = p.axis;
    if (ax < 0 || ax >= a.shape.length) fail('concat', `bad axis ${ax}`, args);
    let total = 0;
    for (const b of args) {
      if (
        b.dtype !== a.dtype ||
        b.dtype === 'sign' ||
        b.shape.length !== a.shape.length ||
        b.shape.some((d, i) => i !== ax && d !== a.shape[i])
      )
        fail('concat', 'operands differ outside the concat axis', args);
      total += b.shape[ax]!;
    }
    return [{ dtype: a.dtype, shape: a.shape.map((d, i) => (i === ax ? total : d)) }];
  },
  eval(args, p, ctx) {
    const ax = p.axis;
    const shape = args[0]!.shape.map((d, i) => (i === ax ? args.reduce((s, b) => s + b.shape[ax]!, 0) : d));
    const out = alloc(args[0]!.dtype, shape, ctx.f64);
    const outer = numel(shape.slice(0, ax));
    const inner = numel(shape.slice(ax + 1));
    let off = 0;
    for (const b of args) {
      const blk = b.shape[ax]! * inner;
      for (let o = 0; o < outer; o++)
        for (let k = 0; k < blk; k++) out.data[o * shape[ax]! * inner + off + k] = b.data[o * blk + k]!;
      off += blk;
    }
    return [out];
  },
};
