// VJP rules of the reductions (runtime/prims/reduce.ts): sum spreads the cotangent back; max/min
// send it to every element equal to the extremum; argmax has no derivative.
import type { VjpRule } from './rule.ts';
import { lit, type Atom } from '../../../runtime/core/ir.ts';
import { isFloat } from '../../../runtime/core/dtype.ts';
import type { ReducePrim } from '../../../runtime/core/prim_names.ts';

export function reduceRule<P extends ReducePrim>(name: P): VjpRule<P> {
  return (b, [a], [y], p, [ct]) => {
    if (!ct || name === 'argmax' || !isFloat(a!.type.dtype)) return [undefined];
    const x = a!.type.shape;
    const kept = x.map((_, i) => i).filter((i) => !p.axes.includes(i));
    const spread = (v: Atom) => b.emit('broadcast_in_dim', [v], { shape: x, dims: kept });
    if (name === 'reduce_sum') return [spread(ct)];
    // max/min: the cotangent goes to every element equal to the extremum
    const hit = b.emit('eq', [a!, spread(y!)], {});
    return [b.emit('select', [hit, spread(ct), lit(0, ct.type.dtype)], {})];
  };
}
