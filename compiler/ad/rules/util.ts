// Building blocks of VJP rules: literals, zeros, and summing a broadcast cotangent back to a shape.
import { lit, type Atom, type TensorType } from '../../../runtime/core/ir.ts';
import type { AdBuilder } from './rule.ts';

export const one = (t: TensorType) => lit(1, t.dtype);

/** A zero tensor of a type. */
export function zeros(b: AdBuilder, t: TensorType): Atom {
  if (t.shape.length === 0) return lit(0, t.dtype);
  return b.emit('broadcast_in_dim', [lit(0, t.dtype)], { shape: t.shape, dims: [] });
}

export const mul = (b: AdBuilder, x: Atom, y: Atom) => b.emit('mul', [x, y], {});
export const div = (b: AdBuilder, x: Atom, y: Atom) => b.emit('div', [x, y], {});
export const neg = (b: AdBuilder, x: Atom) => b.emit('neg', [x], {});
export const sub = (b: AdBuilder, x: Atom, y: Atom) => b.emit('sub', [x, y], {});
export const add = (b: AdBuilder, x: Atom, y: Atom) => b.emit('add', [x, y], {});

/** The cotangent of an elementwise operand: operands of an elementwise primitive have the output's
 *  shape, except rank-0 literals, which get no cotangent. */
export function forOperand(a: Atom, ct: Atom): Atom | undefined {
  return a.kind === 'lit' ? undefined : ct;
}

/** Broadcasts a rank-0 value to a shape (or passes a shaped one through). */
export function full(b: AdBuilder, x: Atom, shape: number[]): Atom {
  if (x.type.shape.length === shape.length) return x;
  return b.emit('broadcast_in_dim', [x], { shape, dims: [] });
}
