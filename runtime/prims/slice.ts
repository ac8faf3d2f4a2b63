// slice: static start/stop/step (step > 0) per axis.
import { fail, stridesOf, type PrimDef } from './def.ts';
import { stridedCopy } from './strided.ts';

const outDim = (start: number, stop: number, step: number) => Math.max(0, Math.ceil((stop - start) / step));

export const slice: PrimDef<'slice'> = {
  name: 'slice',
  infer(args, p) {
    if (args.length !== 1) fail('slice', 'expects 1 operand', args);
    const a = args[0]!;
    if (a.dtype === 'sign') fail('slice', 'not defined on sign', args);
    const r = a.shape.length;
    if (p.start.length !== r || p.stop.length !== r || p.step.length !== r)
      fail('slice', 'one start/stop/step per axis', args);
    a.shape.forEach((d, i) => {
      if (p.step[i]! < 1 || p.start[i]! < 0 || p.stop[i]! > d || p.start[i]! > p.stop[i]!)
        fail('slice', `bad range ${p.start[i]}:${p.stop[i]}:${p.step[i]} on axis ${i}`, args);
    });
    return [{ dtype: a.dtype, shape: a.shape.map((_, i) => outDim(p.start[i]!, p.stop[i]!, p.step[i]!)) }];
  },
  eval([a], p, ctx) {
    const st = stridesOf(a!.shape);
    const shape = a!.shape.map((_, i) => outDim(p.start[i]!, p.stop[i]!, p.step[i]!));
    const offset = p.start.reduce((s, v, i) => s + v * st[i]!, 0);
    return [
      stridedCopy(
        a!,
        shape,
        st.map((s, i) => s * p.step[i]!),
        offset,
        ctx.f64,
      ),
    ];
  },
};
