// Structured primitives with sub-programs: iterate (a loop with a static count over a carried
// state), custom_vjp (a function with a user gradient rule; evaluates its forward body), and
// stop_gradient (identity whose derivative is zero).
import { sameType, typeStr } from '../core/ir.ts';
import { fail, type PrimDef } from './def.ts';

export const iterate: PrimDef<'iterate'> = {
  name: 'iterate',
  infer(args, p) {
    const b = p.body;
    if (!Number.isInteger(p.n) || p.n < 0) fail('iterate', `bad count ${p.n}`, args);
    const carry = args.slice(p.nconst);
    if (b.params.length !== args.length || b.results.length !== carry.length)
      fail('iterate', 'body must take (consts..., carry...) and return the carry', args);
    args.forEach((a, i) => {
      if (!sameType(a, b.params[i]!.type))
        fail('iterate', `operand ${i} is ${typeStr(a)} but the body takes ${typeStr(b.params[i]!.type)}`, args);
    });
    carry.forEach((a, i) => {
      if (!sameType(a, b.results[i]!.type))
        fail(
          'iterate',
          `carried value ${i} is ${typeStr(a)} but the body returns ${typeStr(b.results[i]!.type)}`,
          args,
        );
    });
    return carry.map((a) => ({ dtype: a.dtype, shape: a.shape }));
  },
  eval(args, p, ctx) {
    const consts = args.slice(0, p.nconst);
    let state = args.slice(p.nconst);
    for (let i = 0; i < p.n; i++) state = ctx.run(p.body, [...consts, ...state]);
    return state;
  },
};

export const custom_vjp: PrimDef<'custom_vjp'> = {
  name: 'custom_vjp',
  infer(args, p) {
    if (p.fwd.params.length !== args.length) fail('custom_vjp', 'forward arity differs from operands', args);
    args.forEach(
      (a, i) =>
        !sameType(a, p.fwd.params[i]!.type) &&
        fail('custom_vjp', `operand ${i} type differs from the forward parameter`, args),
    );
    if (p.bwd.params.length !== args.length + p.fwd.results.length)
      fail('custom_vjp', 'backward takes (primals..., cotangents...)', args);
    if (p.bwd.results.length !== args.length) fail('custom_vjp', 'backward returns one cotangent per operand', args);
    p.bwd.results.forEach(
      (r, i) => !sameType(r.type, args[i]!) && fail('custom_vjp', `cotangent ${i} type differs from its operand`, args),
    );
    return p.fwd.results.map((r) => ({ dtype: r.type.dtype, shape: r.type.shape }));
  },
  eval(args, p, ctx) {
    return ctx.run(p.fwd, args);
  },
};

export const stop_gradient: PrimDef<'stop_gradient'> = {
  name: 'stop_gradient',
  infer(args) {
    if (args.length !== 1) fail('stop_gradient', 'expects 1 operand', args);
    return [{ dtype: args[0]!.dtype, shape: args[0]!.shape }];
  },
  eval(args) {
    return [args[0]!];
  },
};
