// VJP rules of the primitives in runtime/prims/concat.ts.
import type { VjpRule } from './rule.ts';

export const concat: VjpRule<'concat'> = (b, args, [y], p, [ct]) => {
  if (!ct) return args.map(() => undefined);
  let off = 0;
  return args.map((a) => {
    const start = y!.type.shape.map((_, i) => (i === p.axis ? off : 0));
    const stop = y!.type.shape.map((d, i) => (i === p.axis ? off + a.type.shape[i]! : d));
    off += a.type.shape[p.axis]!;
    return b.emit('slice', [ct], { start, stop, step: stop.map(() => 1) });
  });
};
