// transpose: output axis j is operand axis perm[j].
import { fail, stridesOf, type PrimDef } from './def.ts';
import { stridedCopy } from './strided.ts';

export const transpose: PrimDef<'transpose'> = {
  name: 'transpose',
  infer(args, p) {
    if (args.length !== 1) fail('transpose', 'expects 1 operand', args);
    const a = args[0]!;
    if (a.dtype === 'sign') fail('transpose', 'not defined on sign', args);
    const ok = p.perm.length === a.shape.length && [...p.perm].sort((x, y) => x - y).every((v, i) => v === i);
    if (!ok) fail('transpose', `perm [${p.perm}] is not a permutation of the operand axes`, args);
    return [{ dtype: a.dtype, shape: p.perm.map((i) => a.shape[i]!) }];
  },
  eval([a], p, ctx) {
    const st = stridesOf(a!.shape);
    return [
      stridedCopy(
        a!,
        p.perm.map((i) => a!.shape[i]!),
        p.perm.map((i) => st[i]!),
        0,
        ctx.f64,
      ),
    ];
  },
};
