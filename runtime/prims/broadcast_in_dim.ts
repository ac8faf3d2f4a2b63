// broadcast_in_dim: places operand axis i at output axis dims[i]; size-1 operand axes stretch.
import { fail, stridesOf, type PrimDef } from './def.ts';
import { stridedCopy } from './strided.ts';

export const broadcast_in_dim: PrimDef<'broadcast_in_dim'> = {
  name: 'broadcast_in_dim',
  infer(args, p) {
    if (args.length !== 1) fail('broadcast_in_dim', 'expects 1 operand', args);
    const a = args[0]!;
    if (a.dtype === 'sign') fail('broadcast_in_dim', 'not defined on sign', args);
    if (p.dims.length !== a.shape.length)
      fail('broadcast_in_dim', `dims [${p.dims}] do not match the operand rank`, args);
    let prev = -1;
    p.dims.forEach((d, i) => {
      if (d <= prev || d >= p.shape.length)
        fail('broadcast_in_dim', `dims [${p.dims}] must increase within the output rank`, args);
      prev = d;
      if (a.shape[i] !== 1 && a.shape[i] !== p.shape[d])
        fail('broadcast_in_dim', `axis ${i} (${a.shape[i]}) cannot stretch to ${p.shape[d]}`, args);
    });
    return [{ dtype: a.dtype, shape: p.shape }];
  },
  eval([a], p, ctx) {
    const st = stridesOf(a!.shape);
    const srcStrides = p.shape.map(() => 0);
    p.dims.forEach((d, i) => (srcStrides[d] = a!.shape[i] === 1 ? 0 : st[i]!));
    return [stridedCopy(a!, p.shape, srcStrides, 0, ctx.f64)];
  },
};
