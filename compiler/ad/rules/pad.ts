// VJP rules of the primitives in runtime/prims/pad.ts.
import type { VjpRule } from './rule.ts';

export const pad: VjpRule<'pad'> = (b, [a], _o, p, [ct]) => {
  if (!ct) return [undefined];
  const x = a!.type.shape;
  return [
    b.emit('slice', [ct], {
      start: p.lo,
      stop: x.map((d, i) => p.lo[i]! + (d === 0 ? 0 : (d - 1) * (p.interior[i]! + 1) + 1)),
      step: p.interior.map((v) => v + 1),
    }),
  ];
};
