// VJP rules of the primitives in runtime/prims/broadcast_in_dim.ts.
import type { VjpRule } from './rule.ts';

export const broadcast_in_dim: VjpRule<'broadcast_in_dim'> = (b, [a], _o, p, [ct]) => {
  if (!ct) return [undefined];
  // sum over the new axes and over the stretched size-1 axes, then restore the operand's shape
  const x = a!.type.shape;
  const axes = p.shape
    .map((_, j) => j)
    .filter((j) => {
      const i = p.dims.indexOf(j);
      return i < 0 || (x[i] === 1 && p.shape[j] !== 1);
    });
  const s = axes.length ? b.emit('reduce_sum', [ct], { axes }) : ct;
  return [b.emit('reshape', [s], { shape: x })];
};
