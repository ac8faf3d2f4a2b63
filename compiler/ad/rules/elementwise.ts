// VJP rules of the elementwise primitives (runtime/prims/elementwise.ts): one derivative per unary
// and binary primitive in exhaustive tables, select and convert.
import { noGrad, type AdBuilder, type VjpRule } from './rule.ts';
import { isFloat } from '../../../runtime/core/dtype.ts';
import { div, forOperand, full, mul, neg, one, sub } from './util.ts';
import { lit, type Atom, type Var } from '../../../runtime/core/ir.ts';
import type { BinaryPrim, ComparePrim, UnaryPrim } from '../../../runtime/core/prim_names.ts';

/** d/dx of each unary primitive as the cotangent of x, given x, y = f(x) and ct. */
const unaryVjp: Record<UnaryPrim, ((b: AdBuilder, x: Atom, y: Var, ct: Atom) => Atom) | undefined> = {
  neg: (b, _x, _y, ct) => neg(b, ct),
  abs: (b, x, _y, ct) => mul(b, ct, b.emit('sign', [x], {})),
  exp: (b, _x, y, ct) => mul(b, ct, y),
  log: (b, x, _y, ct) => div(b, ct, x),
  sqrt: (b, _x, y, ct) => div(b, mul(b, ct, lit(0.5, y.type.dtype)), y),
  rsqrt: (b, x, y, ct) => mul(b, ct, div(b, mul(b, y, lit(-0.5, y.type.dtype)), x)),
  sin: (b, x, _y, ct) => mul(b, ct, b.emit('cos', [x], {})),
  cos: (b, x, _y, ct) => neg(b, mul(b, ct, b.emit('sin', [x], {}))),
  tanh: (b, _x, y, ct) => mul(b, ct, sub(b, one(y.type), mul(b, y, y))),
  sigmoid: (b, _x, y, ct) => mul(b, ct, mul(b, y, sub(b, one(y.type), y))),
  sign: undefined,
  floor: undefined,
  ceil: undefined,
  round: undefined,
  not: undefined,
};

/** Cotangents of (a, b) for the differentiable binary primitives. */
const binaryVjp: Record<
  BinaryPrim,
  ((bd: AdBuilder, a: Atom, b: Atom, y: Var, ct: Atom) => [Atom | undefined, Atom | undefined]) | undefined
> = {
  and: undefined,
  or: undefined,
  xor: undefined,
  shl: undefined,
  shr: undefined,
  add: (_bd, _a, _b, _y, ct) => [ct, ct],
  sub: (bd, _a, _b, _y, ct) => [ct, neg(bd, ct)],
  mul: (bd, a, b, _y, ct) => [mul(bd, ct, b), mul(bd, ct, a)],
  div: (bd, _a, b, y, ct) => [div(bd, ct, b), neg(bd, div(bd, mul(bd, ct, y), b))],
  pow: (bd, a, b, y, ct) => [
    // d(a^b)/da = b·a^(b-1); d/db = a^b·log(a)
    mul(
      bd,
      ct,
      mul(
        bd,
        b.kind === 'lit' ? b : full(bd, b, y.type.shape),
        bd.emit('pow', [a, b.kind === 'lit' ? lit(b.value - 1, b.type.dtype) : sub(bd, b, lit(1, b.type.dtype))], {}),
      ),
    ),
    b.kind === 'lit' ? undefined : mul(bd, ct, mul(bd, y, bd.emit('log', [a], {}))),
  ],
  max: (bd, a, b, _y, ct) => {
    const pick = bd.emit('ge', [a, b], {});
    const z = lit(0, ct.type.dtype);
    return [bd.emit('select', [pick, ct, z], {}), bd.emit('select', [pick, z, ct], {})];
  },
  min: (bd, a, b, _y, ct) => {
    const pick = bd.emit('le', [a, b], {});
    const z = lit(0, ct.type.dtype);
    return [bd.emit('select', [pick, ct, z], {}), bd.emit('select', [pick, z, ct], {})];
  },
  rem: (bd, a, b, _y, ct) => [
    ct,
    neg(
      bd,
      mul(
        bd,
        ct,
        bd.emit(
          'round',
          [bd.emit('sub', [div(bd, a, b), bd.emit('rem', [div(bd, a, b), lit(1, a.type.dtype)], {})], {})],
          {},
        ),
      ),
    ),
  ],
};

export function unaryRule<P extends UnaryPrim>(name: P): VjpRule<P> {
  const d = unaryVjp[name];
  return d ? (b, [x], [y], _p, [ct]) => [ct ? d(b, x!, y!, ct) : undefined] : noGrad;
}

export function binaryRule<P extends BinaryPrim>(name: P): VjpRule<P> {
  const d = binaryVjp[name];
  return d
    ? (bd, [a, b], [y], _p, [ct]) => {
        if (!ct || !isFloat(y!.type.dtype)) return [undefined, undefined];
        const [da, db] = d(bd, a!, b!, y!, ct);
        return [da && forOperand(a!, da), db && forOperand(b!, db)];
      }
    : noGrad;
}

/** Comparisons have boolean results: no derivative. */
export function compareRule<P extends ComparePrim>(_name: P): VjpRule<P> {
  return noGrad;
}

export const select: VjpRule<'select'> = (bd, [c, a, b], _outs, _p, [ct]) => {
  if (!ct) return [undefined, undefined, undefined];
  const z = lit(0, ct.type.dtype);
  const cc = full(bd, c!, ct.type.shape);
  return [
    undefined,
    forOperand(a!, bd.emit('select', [cc, ct, z], {})),
    forOperand(b!, bd.emit('select', [cc, z, ct], {})),
  ];
};

export const convert: VjpRule<'convert'> = (bd, [a], _outs, _p, [ct]) => {
  if (!ct || !isFloat(a!.type.dtype) || !isFloat(ct.type.dtype)) return [undefined];
  return [bd.emit('convert', [ct], { dtype: a!.type.dtype })];
};
