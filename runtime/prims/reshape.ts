// reshape: same elements in row-major order, new shape.
import { numel } from '../core/ir.ts';
import { fail, type PrimDef } from './def.ts';

export const reshape: PrimDef<'reshape'> = {
  name: 'reshape',
  infer(args, p) {
    if (args.length !== 1) fail('reshape', 'expects 1 operand', args);
    const a = args[0]!;
    if (a.dtype === 'sign') fail('reshape', 'not defined on sign', args);
    if (numel(a.shape) !== numel(p.shape) || p.shape.some((d) => !Number.isInteger(d) || d < 0))
      fail('reshape', `cannot reshape to [${p.shape}]`, args);
    return [{ dtype: a.dtype, shape: p.shape }];
  },
  eval([a], p) {
    return [{ dtype: a!.dtype, shape: p.shape, data: a!.data }];
  },
};
