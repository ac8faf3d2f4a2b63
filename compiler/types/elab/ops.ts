// The tensor operation layer shared by checking and lowering: each operation computes its result
// type over symbolic shapes (with `...` prefixes) and, when a Core builder is present, emits the
// Core primitives that implement it (explicit broadcasts, reshapes, transposes).
import { InternalError, UserError, type Span } from '../../syntax/diag.ts';
import { lit, type Atom } from '../../../runtime/core/ir.ts';
import type { BinaryPrim, ComparePrim, ReducePrim, UnaryPrim } from '../../../runtime/core/prim_names.ts';
import { unaryScalar } from '../../../runtime/prims/elementwise.ts';
import type { CoreBuilder } from './builder.ts';
import { dimAdd, dimConst, dimDiv, dimEq, dimMul, dimToString, dimValue, type Dim } from '../dim.ts';
import {
  D,
  concreteShape,
  isFloat,
  isInt,
  shapeToString,
  typeToString,
  type DType,
  type ShapeItem,
  type Type,
} from '../types.ts';
import { staticNumber, type Static, type Val } from './vals.ts';

export type TVal = Extract<Val, { k: 'tensor' }>;
export interface OpCtx {
  b?: CoreBuilder;
}

export const tval = (dtype: DType, shape: ShapeItem[], atom?: Atom, st?: Static, weak?: boolean): TVal => ({
  k: 'tensor',
  t: { k: 'tensor', dtype, shape },
  atom,
  st,
  weak,
});

export function showT(v: Val): string {
  return typeToString(v.t as Type);
}

export function expectTensor(v: Val, span: Span, what = 'a tensor'): TVal {
  if (v.k !== 'tensor')
    throw new UserError(
      `expected ${what}, found ${v.k === 'closure' ? 'a function' : v.k === 'str' ? 'a string' : typeToString(v.t as Type)}`,
      span,
    );
  return v;
}

/** Concrete shape (lowering only). */
export function cshape(v: TVal | ShapeItem[]): number[] {
  const items = Array.isArray(v) ? v : v.t.shape;
  const s = concreteShape(items);
  if (!s) throw new InternalError(`shape [${shapeToString(items)}] is not concrete while lowering`);
  return s;
}

export function atomOf(ctx: OpCtx, v: TVal): Atom {
  if (v.atom) return v.atom;
  const n = staticNumber(v.st);
  if (n !== undefined && v.t.shape.length === 0) {
    if (!Number.isInteger(n) && isInt(v.t.dtype)) throw new InternalError('non-integer static int');
    return lit(v.t.dtype === 'bool' ? (n ? 1 : 0) : n, v.t.dtype);
  }
  if (!ctx.b) throw new InternalError('atomOf outside lowering');
  throw new InternalError(`value of type ${showT(v)} has no atom while lowering`);
}

/** A tensor value carrying a Core atom (lowering) or only its type (checking). */
export function emitted(ctx: OpCtx, dtype: DType, shape: ShapeItem[], make: (b: CoreBuilder) => Atom): TVal {
  return tval(dtype, shape, ctx.b ? make(ctx.b) : undefined);
}

// ---- shapes --------------------------------------------------------------------------------

export function dimsEqual(a: ShapeItem, b: ShapeItem): boolean {
  if (a.k === 'spread' || b.k === 'spread')
    return a.k === b.k && (a as { name: string }).name === (b as { name: string }).name;
  return dimEq(a.d, b.d);
}

const isOne = (it: ShapeItem) => it.k === 'dim' && dimValue(it.d) === 1;

/** NumPy broadcasting over symbolic shapes; undefined when the shapes do not broadcast. */
export function broadcastShapes(a: ShapeItem[], b: ShapeItem[]): ShapeItem[] | undefined {
  const out: ShapeItem[] = [];
  let i = a.length - 1;
  let j = b.length - 1;
  while (i >= 0 || j >= 0) {
    const x = i >= 0 ? a[i] : undefined;
    const y = j >= 0 ? b[j] : undefined;
    if (x && y && x.k === 'spread' && y.k === 'spread') {
      if (x.name !== y.name || i !== 0 || j !== 0) return undefined;
      out.unshift(x);
      break;
    }
    if (x?.k === 'spread' || y?.k === 'spread') {
      // a spread can absorb only an exhausted other side
      if (x?.k === 'spread' && j < 0) {
        out.unshift(...a.slice(0, i + 1));
        break;
      }
      if (y?.k === 'spread' && i < 0) {
        out.unshift(...b.slice(0, j + 1));
        break;
      }
      return undefined;
    }
    if (!x) out.unshift(y!);
    else if (!y) out.unshift(x);
    else if (dimsEqual(x, y)) out.unshift(x);
    else if (isOne(x)) out.unshift(y);
    else if (isOne(y)) out.unshift(x);
    else return undefined;
    i--;
    j--;
  }
  return out;
}

/** Broadcasts a value to a shape (which it must broadcast to), emitting broadcast_in_dim. */
export function broadcastTo(ctx: OpCtx, v: TVal, shape: ShapeItem[]): TVal {
  if (v.t.shape.length === shape.length && v.t.shape.every((it, i) => dimsEqual(it, shape[i]!))) return v;
  if (!ctx.b) return tval(v.t.dtype, shape);
  const src = cshape(v);
  const dst = cshape(shape);
  const off = dst.length - src.length;
  const dims = src.map((_, i) => i + off);
  return tval(v.t.dtype, shape, ctx.b.emit1('broadcast_in_dim', [atomOf(ctx, v)], { shape: dst, dims }));
}

/** Normalises an axis (negative from the end); it must not fall inside a `...` prefix. */
export function normAxis(shape: ShapeItem[], axis: number, span: Span): number {
  const r = shape.length;
  const ax = axis < 0 ? axis + r : axis;
  if (ax < 0 || ax >= r)
    throw new UserError(`axis ${axis} is out of range for a tensor of rank ${r} ([${shapeToString(shape)}])`, span);
  const spreadAt = shape.findIndex((it) => it.k === 'spread');
  if (spreadAt >= 0) {
    // from the front: only before the spread; from the back: only after it
    if ((axis >= 0 && ax >= spreadAt) || (axis < 0 && ax <= spreadAt))
      throw new UserError(
        `axis ${axis} falls inside the rank-polymorphic '...' of [${shapeToString(shape)}]`,
        span,
        'count axes from the end (axis: -1) for rank-polymorphic tensors',
      );
  }
  return ax;
}

// ---- dtypes and literals ---------------------------------------------------------------------

/** The common dtype of two operands; weak literals adopt the other side's dtype. */
export function joinDtype(a: TVal, b: TVal, span: Span, what: string): DType {
  const da = a.t.dtype;
  const db = b.t.dtype;
  if (da === db) return da;
  const fits = (lit: TVal, d: DType) => (isFloat(d) ? lit.t.dtype !== 'bool' : isInt(d) ? isInt(lit.t.dtype) : false);
  if (a.weak && !b.weak && fits(a, db)) return db;
  if (b.weak && !a.weak && fits(b, da)) return da;
  if (a.weak && b.weak) return isFloat(da) ? da : db;
  throw new UserError(
    `${what}: operand dtypes differ: ${showT(a)} and ${showT(b)}`,
    span,
    isFloat(da) !== isFloat(db) ? `convert one side, e.g. f32(x)` : undefined,
  );
}

export function retype(ctx: OpCtx, v: TVal, dtype: DType): TVal {
  if (v.t.dtype === dtype) return v;
  if (v.st && v.t.shape.length === 0) {
    const n = staticNumber(v.st)!;
    const st: Static | undefined = isFloat(dtype) ? (n !== undefined ? { k: 'float', v: n } : undefined) : v.st;
    return { ...tval(dtype, v.t.shape, undefined, st ?? v.st), weak: false };
  }
  return cast(ctx, v, dtype);
}

export function cast(ctx: OpCtx, v: TVal, dtype: DType): TVal {
  if (v.t.dtype === dtype) return { ...v, weak: false };
  if (v.t.dtype === 'sign' || dtype === 'sign') throw new InternalError('cast to/from sign');
  const n = staticNumber(v.st);
  if (v.st && v.t.shape.length === 0) {
    if (isFloat(dtype)) return n !== undefined ? tval(dtype, [], undefined, { k: 'float', v: n }) : tval(dtype, []);
    if (dtype === 'bool')
      return n !== undefined ? tval(dtype, [], undefined, { k: 'bool', v: n !== 0 }) : tval(dtype, []);
    if (isInt(dtype) && v.st.k === 'int') return tval(dtype, [], undefined, v.st);
    if (isInt(dtype) && n !== undefined) return tval(dtype, [], undefined, { k: 'int', d: dimConst(Math.trunc(n)) });
  }
  return emitted(ctx, dtype, v.t.shape, (b) => b.emit1('convert', [atomOf(ctx, v)], { dtype }));
}

// ---- elementwise -----------------------------------------------------------------------------

const foldInt: Partial<Record<BinaryPrim, (a: Dim, b: Dim) => Dim | undefined>> = {
  add: (a, b) => dimAdd(a, b),
  sub: (a, b) => dimAdd(a, b, -1),
  mul: (a, b) => dimMul(a, b),
  div: (a, b) => dimDiv(a, b),
};
const foldFloat: Partial<Record<BinaryPrim, (a: number, b: number) => number>> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => Math.pow(a, b),
  max: Math.max,
  min: Math.min,
};

function operand(ctx: OpCtx, v: TVal, shape: ShapeItem[]): Atom {
  if (v.t.shape.length === 0 && !v.atom && v.st) return atomOf(ctx, v); // literal: implicit rank-0 broadcast
  return atomOf(ctx, broadcastTo(ctx, v, shape));
}

export function binary(ctx: OpCtx, prim: BinaryPrim, a: TVal, b: TVal, span: Span, opText: string): TVal {
  const dtype = joinDtype(a, b, span, `'${opText}'`);
  const okT =
    prim === 'and' || prim === 'or' || prim === 'xor'
      ? dtype === 'bool' || isInt(dtype)
      : prim === 'shl' || prim === 'shr'
        ? isInt(dtype)
        : dtype !== 'bool' && dtype !== 'sign';
  if (!okT)
    throw new UserError(
      `'${opText}' is not defined on ${dtype}`,
      span,
      dtype === 'sign' ? 'sign tensors are consumed by signlinear or unpack_sign' : undefined,
    );
  const shape = broadcastShapes(a.t.shape, b.t.shape);
  if (!shape)
    throw new UserError(
      `'${opText}': cannot broadcast ${showT(a)} with ${showT(b)}`,
      span,
      'shapes broadcast when, from the last axis backwards, each pair of dims is equal or one of them is 1',
    );
  a = retype(ctx, a, dtype);
  b = retype(ctx, b, dtype);
  // constant folding of compile-time scalars
  if (a.st && b.st && shape.length === 0) {
    const ca = a.st.k === 'int' ? dimValue(a.st.d) : undefined;
    const cb = b.st.k === 'int' ? dimValue(b.st.d) : undefined;
    if (
      ca !== undefined &&
      cb !== undefined &&
      isInt(dtype) &&
      (prim === 'rem' || (prim === 'div' && a.weak && b.weak)) &&
      a.st.k === 'int' &&
      b.st.k === 'int'
    ) {
      // literals divide as run-time integers do (truncating); a dim — symbolic, or known once
      // lowering — divides exactly (below), so what was checked with symbols holds with sizes
      if (cb === 0) throw new UserError(`integer division by zero`, span);
      const q = prim === 'div' ? Math.trunc(ca / cb) : ca % cb;
      return { ...tval(dtype, [], undefined, { k: 'int', d: dimConst(q) }), weak: a.weak && b.weak };
    }
    if (a.st.k === 'int' && b.st.k === 'int' && isInt(dtype) && foldInt[prim]) {
      const d = foldInt[prim]!(a.st.d, b.st.d);
      if (!d) throw new UserError(`cannot divide by the sum ${dimToString(b.st.d)}`, span);
      const v = dimValue(d);
      if (v !== undefined && !Number.isInteger(v))
        throw new UserError(
          `integer division ${dimToString(a.st.d)} / ${dimToString(b.st.d)} is not exact`,
          span,
          'dims divide exactly; use f32(...) for a fractional result',
        );
      return { ...tval(dtype, [], undefined, { k: 'int', d }), weak: a.weak && b.weak };
    }
    const x = staticNumber(a.st);
    const y = staticNumber(b.st);
    if (isFloat(dtype) && x !== undefined && y !== undefined && foldFloat[prim])
      return { ...tval(dtype, [], undefined, { k: 'float', v: foldFloat[prim]!(x, y) }), weak: a.weak && b.weak };
  }
  return emitted(ctx, dtype, shape, (bb) => bb.emit1(prim, [operand(ctx, a, shape), operand(ctx, b, shape)], {}));
}

export function compare(ctx: OpCtx, prim: ComparePrim, a: TVal, b: TVal, span: Span, opText: string): TVal {
  const dtype = joinDtype(a, b, span, `'${opText}'`);
  if (dtype === 'sign') throw new UserError(`'${opText}' is not defined on sign`, span);
  const shape = broadcastShapes(a.t.shape, b.t.shape);
  if (!shape) throw new UserError(`'${opText}': cannot broadcast ${showT(a)} with ${showT(b)}`, span);
  a = retype(ctx, a, dtype);
  b = retype(ctx, b, dtype);
  const x = staticNumber(a.st);
  const y = staticNumber(b.st);
  if (x !== undefined && y !== undefined && shape.length === 0) {
    const r = { eq: x === y, ne: x !== y, lt: x < y, le: x <= y, gt: x > y, ge: x >= y }[prim];
    return tval('bool', [], undefined, { k: 'bool', v: r });
  }
  return emitted(ctx, 'bool', shape, (bb) => bb.emit1(prim, [operand(ctx, a, shape), operand(ctx, b, shape)], {}));
}

/** Unary primitives defined on floats only (from the primitive's own rule). */
const floatOnly = (p: UnaryPrim) => unaryScalar(p).allow('f32') && !unaryScalar(p).allow('i32');

export function unary(ctx: OpCtx, prim: UnaryPrim, a: TVal, span: Span, name: string): TVal {
  let dtype = a.t.dtype;
  if (prim === 'not') {
    if (dtype !== 'bool') throw new UserError(`'!' expects bool, found ${showT(a)}`, span);
  } else if (dtype === 'bool' || dtype === 'sign') {
    throw new UserError(
      `${name} is not defined on ${dtype}`,
      span,
      dtype === 'sign' ? 'unpack_sign(s) gives ±1 floats' : 'convert with f32(x)',
    );
  } else if (floatOnly(prim) && !isFloat(dtype)) {
    if (a.weak) {
      a = retype(ctx, a, 'f32');
      dtype = 'f32';
    } else throw new UserError(`${name} expects a float tensor, found ${showT(a)}`, span, 'convert with f32(x)');
  } else if (prim === 'neg' && dtype === 'u32') throw new UserError(`cannot negate u32`, span);
  if (a.st && a.t.shape.length === 0) {
    if (prim === 'neg' && a.st.k === 'int')
      return { ...tval(dtype, [], undefined, { k: 'int', d: dimMul(a.st.d, dimConst(-1)) }), weak: a.weak };
    const x = staticNumber(a.st);
    // constant folding with the primitive's reference rule
    if (x !== undefined && isFloat(dtype))
      return { ...tval(dtype, [], undefined, { k: 'float', v: unaryScalar(prim).f(x) }), weak: a.weak };
  }
  return emitted(ctx, dtype, a.t.shape, (b) => b.emit1(prim, [atomOf(ctx, a)], {}));
}

export function select(ctx: OpCtx, c: TVal, a: TVal, b: TVal, span: Span): TVal {
  if (c.t.dtype !== 'bool') throw new UserError(`where expects a bool condition, found ${showT(c)}`, span);
  const dtype = joinDtype(a, b, span, 'where');
  const s1 = broadcastShapes(a.t.shape, b.t.shape);
  const shape = s1 && broadcastShapes(c.t.shape, s1);
  if (!shape) throw new UserError(`where: cannot broadcast ${showT(c)}, ${showT(a)} and ${showT(b)} together`, span);
  a = retype(ctx, a, dtype);
  b = retype(ctx, b, dtype);
  return emitted(ctx, dtype, shape, (bb) =>
    bb.emit1('select', [operand(ctx, c, shape), operand(ctx, a, shape), operand(ctx, b, shape)], {}),
  );
}

// ---- reductions --------------------------------------------------------------------------------

export function reduce(
  ctx: OpCtx,
  prim: ReducePrim,
  v: TVal,
  axes: number[] | 'all',
  keep: boolean,
  span: Span,
  name: string,
): TVal {
  if (v.t.dtype === 'sign' || (v.t.dtype === 'bool' && prim !== 'argmax'))
    throw new UserError(`${name} is not defined on ${v.t.dtype}`, span);
  const shape = v.t.shape;
  let ax: number[];
  if (axes === 'all') {
    if (shape.some((it) => it.k === 'spread'))
      throw new UserError(
        `${name} over all axes of a rank-polymorphic tensor [${shapeToString(shape)}]`,
        span,
        'name the axes, e.g. axis: -1',
      );
    ax = shape.map((_, i) => i);
  } else {
    ax = axes.map((a) => normAxis(shape, a, span));
    if (new Set(ax).size !== ax.length) throw new UserError(`${name}: an axis is repeated`, span);
  }
  if (prim === 'argmax' && ax.length !== 1) throw new UserError(`argmax takes exactly one axis`, span);
  ax.sort((x, y) => x - y);
  const outShape = shape.filter((_, i) => !ax.includes(i));
  const keptShape = shape.map((it, i) => (ax.includes(i) ? D(dimConst(1)) : it));
  const dtype = prim === 'argmax' ? 'i32' : v.t.dtype;
  const r = emitted(ctx, dtype, outShape, (b) => b.emit1(prim, [atomOf(ctx, v)], { axes: ax }));
  return keep ? reshape(ctx, r, keptShape) : r;
}

// ---- data movement -----------------------------------------------------------------------------

function numelOf(shape: ShapeItem[]): Dim | undefined {
  let n = dimConst(1);
  for (const it of shape) {
    if (it.k === 'spread') return undefined;
    n = dimMul(n, it.d);
  }
  return n;
}

export function reshape(ctx: OpCtx, v: TVal, shape: ShapeItem[]): TVal {
  if (v.t.shape.length === shape.length && v.t.shape.every((it, i) => dimsEqual(it, shape[i]!))) return v;
  return emitted(ctx, v.t.dtype, shape, (b) => b.emit1('reshape', [atomOf(ctx, v)], { shape: cshape(shape) }));
}

/** Reshape with a checked element count; `...` in the target keeps the operand's own prefix. */
export function reshapeChecked(ctx: OpCtx, v: TVal, target: ShapeItem[], span: Span): TVal {
  // strip a common spread prefix from both sides before comparing counts
  let src = v.t.shape;
  let dst = target;
  while (
    src.length &&
    dst.length &&
    src[0]!.k === 'spread' &&
    dst[0]!.k === 'spread' &&
    src[0]!.name === dst[0]!.name
  ) {
    src = src.slice(1);
    dst = dst.slice(1);
  }
  const a = numelOf(src);
  const b = numelOf(dst);
  if (!a || !b)
    throw new UserError(
      `reshape of [${shapeToString(v.t.shape)}] to [${shapeToString(target)}]: '...' may only lead both shapes`,
      span,
    );
  if (!dimEq(a, b))
    throw new UserError(
      `reshape: [${shapeToString(v.t.shape)}] has ${dimToString(a)} elements, [${shapeToString(target)}] has ${dimToString(b)}`,
      span,
    );
  return reshape(ctx, v, target);
}

export function transpose(ctx: OpCtx, v: TVal, perm: number[]): TVal {
  if (perm.every((p, i) => p === i)) return v;
  const shape = perm.map((p) => v.t.shape[p]!);
  return emitted(ctx, v.t.dtype, shape, (b) => b.emit1('transpose', [atomOf(ctx, v)], { perm }));
}

export function dotGeneral(
  ctx: OpCtx,
  a: TVal,
  b: TVal,
  batch: [number[], number[]],
  contract: [number[], number[]],
  span: Span,
): TVal {
  const dtype = joinDtype(a, b, span, 'matmul');
  if (dtype === 'bool' || dtype === 'sign')
    throw new UserError(
      `matmul is not defined on ${dtype}`,
      span,
      dtype === 'sign' ? 'use signlinear for packed signs' : undefined,
    );
  const ai = a.t.shape;
  const bi = b.t.shape;
  for (let i = 0; i < contract[0].length; i++) {
    const x = ai[contract[0][i]!]!;
    const y = bi[contract[1][i]!]!;
    if (!dimsEqual(x, y))
      throw new UserError(
        `matmul: contracted dims differ: ${showT(a)} and ${showT(b)} (${itemStr(x)} vs ${itemStr(y)})`,
        span,
      );
  }
  for (let i = 0; i < batch[0].length; i++) {
    if (!dimsEqual(ai[batch[0][i]!]!, bi[batch[1][i]!]!))
      throw new UserError(`matmul: batch dims differ: ${showT(a)} and ${showT(b)}`, span);
  }
  const freeA = ai.map((_, i) => i).filter((i) => !batch[0].includes(i) && !contract[0].includes(i));
  const freeB = bi.map((_, i) => i).filter((i) => !batch[1].includes(i) && !contract[1].includes(i));
  const shape = [...batch[0].map((i) => ai[i]!), ...freeA.map((i) => ai[i]!), ...freeB.map((i) => bi[i]!)];
  a = retype(ctx, a, dtype);
  b = retype(ctx, b, dtype);
  return emitted(ctx, dtype, shape, (bb) =>
    bb.emit1('dot_general', [atomOf(ctx, a), atomOf(ctx, b)], { batch, contract }),
  );
}

const itemStr = (it: ShapeItem) => (it.k === 'spread' ? '...' : dimToString(it.d));

/** NumPy matmul: 1-D operands are promoted; a 2-D right operand contracts any left prefix. */
export function matmul(ctx: OpCtx, a: TVal, b: TVal, span: Span): TVal {
  const ra = a.t.shape.length;
  const rb = b.t.shape.length;
  if (ra === 0 || rb === 0)
    throw new UserError(
      `matmul needs tensors of rank >= 1, found ${showT(a)} @ ${showT(b)}`,
      span,
      'use * for scaling',
    );
  if (b.t.shape.some((it) => it.k === 'spread') && rb > 2)
    throw new UserError(`matmul: the right operand may not be rank-polymorphic`, span);
  const bSpread = b.t.shape.some((it) => it.k === 'spread');
  if (bSpread) throw new UserError(`matmul: the right operand ${showT(b)} may not be rank-polymorphic`, span);
  if (rb === 1) return dotGeneral(ctx, a, b, [[], []], [[ra - 1], [0]], span);
  if (rb === 2) return dotGeneral(ctx, a, b, [[], []], [[ra - 1], [0]], span);
  // batched: equal batch prefixes (after broadcasting by rank)
  if (ra === 1) {
    const r = dotGeneral(ctx, a, b, [[], []], [[0], [rb - 2]], span);
    return r;
  }
  if (a.t.shape.some((it) => it.k === 'spread'))
    throw new UserError(`matmul: batched right operand with a rank-polymorphic left operand`, span);
  if (ra !== rb)
    throw new UserError(
      `matmul: batch ranks differ: ${showT(a)} @ ${showT(b)}`,
      span,
      'broadcast explicitly to equal batch dims',
    );
  const nb = ra - 2;
  const bat = [...Array(nb).keys()];
  return dotGeneral(ctx, a, b, [bat, bat], [[ra - 1], [rb - 2]], span);
}

export function isStaticInt(v: Val): v is TVal & { st: { k: 'int'; d: Dim } } {
  return v.k === 'tensor' && v.t.shape.length === 0 && v.st?.k === 'int';
}
