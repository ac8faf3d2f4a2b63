// VJP rules of the primitives in runtime/prims/slice.ts.
import type { VjpRule } from './rule.ts';

export const slice: VjpRule<'slice'> = (b, [a], [y], p, [ct]) => {
  if (!ct) return [undefined];
  // scatter back: zeros before, between (step - 1) and after the taken elements
  const x = a!.type.shape;
  const n = y!.type.shape;
  const hi = x.map((d, i) => (n[i] === 0 ? d - p.start[i]! : d - (p.start[i]! + (n[i]! - 1) * p.step[i]! + 1)));
  return [b.emit('pad', [ct], { lo: p.start, hi, interior: p.step.map((s) => s - 1) })];
};
