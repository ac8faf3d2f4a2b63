// VJP rules of the primitives in runtime/prims/control.ts.
import { noGrad, type VjpRule } from './rule.ts';
import { zeros } from './util.ts';
import { InternalError } from '../../../runtime/core/errors.ts';

export const iterate: VjpRule<'iterate'> = () => {
  // the AD pass unrolls loops before differentiating (compiler/ad/vjp.ts)
  throw new InternalError('iterate reached the VJP rules; it should have been unrolled');
};

export const custom_vjp: VjpRule<'custom_vjp'> = (b, args, _outs, p, cts) => {
  // the user's rule: bwd(primals..., cotangents...) -> one cotangent per primal
  if (cts.every((c) => !c)) return args.map(() => undefined);
  const ct = cts.map((c, i) => c ?? zeros(b, p.fwd.results[i]!.type));
  return b.inline(p.bwd, [...args, ...ct]);
};

export const stop_gradient: VjpRule<'stop_gradient'> = noGrad;
