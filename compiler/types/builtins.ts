// The language's built-in functions: each one types its arguments (symbolic shapes) and lowers to
// Core primitives through the op layer, so the same code checks and lowers.
import { UserError, type Span } from '../syntax/diag.ts';
import type { UnaryPrim } from '../../runtime/core/prim_names.ts';
import { lit } from '../../runtime/core/ir.ts';
import { dimConst, dimEq, dimMul, dimToString, dimValue, type Dim } from './dim.ts';
import { hasError, D, isDType, isFloat, shapeToString, typeEq, typeToString, type DType, type ShapeItem, type Type } from './types.ts';
import { ERRV, staticNumber, type Val } from './vals.ts';
import * as ops from './ops.ts';
import { CoreBuilder } from './builder.ts';
import { gradFunc } from '../ad/vjp.ts';
import { Reported, type Elab, type Fx } from './elab.ts';

export interface CallInfo {
  el: Elab;
  fx: Fx;
  args: Val[];
  spans: Span[];
  named: Map<string, { v: Val; span: Span }>;
  span: Span;
  name: string;
}

type Builtin = (c: CallInfo) => Val;

// ---- argument helpers ------------------------------------------------------------------------

function arity(c: CallInfo, min: number, max = min, namedOk: string[] = []): void {
  if (c.args.length < min || c.args.length > max)
    throw new UserError(`${c.name} takes ${min === max ? min : `${min} to ${max}`} positional argument(s), found ${c.args.length}`, c.span);
  for (const [n, { span }] of c.named) if (!namedOk.includes(n)) throw new UserError(`${c.name} has no parameter named ${n}`, span, namedOk.length ? `its named parameters: ${namedOk.join(', ')}` : undefined);
}

function tensorArg(c: CallInfo, i: number, what = 'a tensor'): ops.TVal {
  const v = c.args[i]!;
  if (v.k === 'list') return ops.expectTensor(c.el.listToTensor(v), c.spans[i]!, what);
  return ops.expectTensor(v, c.spans[i]!, what);
}

function namedOr(c: CallInfo, name: string): { v: Val; span: Span } | undefined {
  return c.named.get(name);
}

function intConst(v: Val, span: Span, what: string): number {
  if (!ops.isStaticInt(v)) throw new UserError(`${what} must be an integer known at compile time`, span);
  const n = dimValue(v.st.d);
  if (n === undefined) throw new UserError(`${what} must be a constant, found ${dimToString(v.st.d)}`, span);
  return n;
}

function boolConst(v: Val, span: Span, what: string): boolean {
  if (v.k !== 'tensor' || v.st?.k !== 'bool') throw new UserError(`${what} must be true or false`, span);
  return v.st.v;
}

function staticDim(v: Val, span: Span, what: string): Dim {
  if (!ops.isStaticInt(v)) throw new UserError(`${what} must be a dim (an integer known at compile time)`, span);
  return v.st.d;
}

/** `axis: -1` or `axis: [0, 1]`; undefined means all axes. */
function axesArg(c: CallInfo): number[] | undefined {
  const a = c.named.get('axis') ?? c.named.get('axes');
  if (!a) return undefined;
  if (a.v.k === 'list') return a.v.items.map((it) => (it.spread ? bad(it.span) : intConst(it.v, it.span, 'an axis')));
  return [intConst(a.v, a.span, 'axis')];
}
const bad = (span: Span): never => {
  throw new UserError(`'...' is not an axis`, span);
};

function keepArg(c: CallInfo): boolean {
  const k = c.named.get('keep');
  return k ? boolConst(k.v, k.span, 'keep') : false;
}

/** A shape argument `[T, H * Dh]`, optionally with `...` (the operand's prefix). */
function shapeArg(c: CallInfo, v: Val, span: Span, prefix?: ShapeItem[]): ShapeItem[] {
  if (v.k !== 'list') throw new UserError(`expected a shape such as [T, D]`, span);
  const out: ShapeItem[] = [];
  for (const it of v.items) {
    if (it.spread) {
      if (!prefix) throw new UserError(`'...' has no meaning in this shape`, it.span);
      out.push(...prefix);
    } else {
      const d = staticDim(it.v, it.span, 'a shape entry');
      const n = dimValue(d);
      if (n !== undefined && (n < 0 || !Number.isInteger(n))) throw new UserError(`a dim must be a whole number >= 0, found ${n}`, it.span);
      out.push(D(d));
    }
  }
  void c;
  return out;
}

function spreadOfEnv(b: import('./unify.ts').Bindings): ShapeItem[] | undefined {
  return b.spread ?? (b.outer ? spreadOfEnv(b.outer) : undefined);
}

function dtypeArg(c: CallInfo, dflt: DType): DType {
  const d = c.named.get('dtype');
  if (!d) return dflt;
  if (d.v.k === 'closure' && d.v.builtin && isDType(d.v.builtin)) return d.v.builtin;
  throw new UserError(`dtype must be one of f32, f16, i32, u32, bool`, d.span);
}

// ---- elementwise -------------------------------------------------------------------------------

const unaryB =
  (prim: UnaryPrim): Builtin =>
  (c) => {
    arity(c, 1);
    return ops.unary(c.el, prim, tensorArg(c, 0), c.span, c.name);
  };

function reduceOrBinary(red: 'reduce_max' | 'reduce_min', bin: 'max' | 'min'): Builtin {
  return (c) => {
    if (c.args.length === 2) {
      arity(c, 2);
      return ops.binary(c.el, bin, tensorArg(c, 0), tensorArg(c, 1), c.span, c.name);
    }
    arity(c, 1, 1, ['axis', 'axes', 'keep']);
    return ops.reduce(c.el, red, tensorArg(c, 0), axesArg(c) ?? 'all', keepArg(c), c.span, c.name);
  };
}

function countOf(x: ops.TVal, axes: number[] | 'all', span: Span): Dim {
  const idx = axes === 'all' ? x.t.shape.map((_, i) => i) : axes.map((a) => ops.normAxis(x.t.shape, a, span));
  let n = dimConst(1);
  for (const i of idx) {
    const it = x.t.shape[i]!;
    if (it.k === 'spread') throw new UserError(`mean over the rank-polymorphic '...'`, span);
    n = dimMul(n, it.d);
  }
  return n;
}

const sum: Builtin = (c) => {
  arity(c, 1, 1, ['axis', 'axes', 'keep']);
  return ops.reduce(c.el, 'reduce_sum', tensorArg(c, 0), axesArg(c) ?? 'all', keepArg(c), c.span, 'sum');
};

const mean: Builtin = (c) => {
  arity(c, 1, 1, ['axis', 'axes', 'keep']);
  const x = tensorArg(c, 0);
  if (!isFloat(x.t.dtype)) throw new UserError(`mean expects a float tensor, found ${ops.showT(x)}`, c.span, 'convert with f32(x)');
  const axes = axesArg(c) ?? 'all';
  const s = ops.reduce(c.el, 'reduce_sum', x, axes, keepArg(c), c.span, 'mean');
  const n = ops.tval(x.t.dtype, [], undefined, { k: 'int', d: countOf(x, axes, c.span) });
  return ops.binary(c.el, 'div', s, { ...n, weak: true }, c.span, 'mean');
};

const logsumexp: Builtin = (c) => {
  arity(c, 1, 1, ['axis', 'axes', 'keep']);
  const x = tensorArg(c, 0);
  const axes = axesArg(c) ?? 'all';
  const keep = keepArg(c);
  const m = ops.reduce(c.el, 'reduce_max', x, axes, true, c.span, 'logsumexp');
  const mg = ops.tval(m.t.dtype, m.t.shape, m.atom && c.el.b ? c.el.b.emit1('stop_gradient', [m.atom], {}) : undefined);
  const e = ops.unary(c.el, 'exp', ops.binary(c.el, 'sub', x, mg, c.span, '-'), c.span, 'exp');
  const s = ops.unary(c.el, 'log', ops.reduce(c.el, 'reduce_sum', e, axes, true, c.span, 'logsumexp'), c.span, 'log');
  const r = ops.binary(c.el, 'add', s, mg, c.span, '+');
  if (keep) return r;
  const outShape = r.t.shape.filter((_, i) => !(axes === 'all' ? true : axes.map((a) => ops.normAxis(x.t.shape, a, c.span)).includes(i)));
  return ops.reshape(c.el, r, outShape);
};

const argmax: Builtin = (c) => {
  arity(c, 1, 1, ['axis', 'keep']);
  const axes = axesArg(c) ?? [-1];
  return ops.reduce(c.el, 'argmax', tensorArg(c, 0), axes, keepArg(c), c.span, 'argmax');
};

const where: Builtin = (c) => {
  arity(c, 3);
  return ops.select(c.el, tensorArg(c, 0), tensorArg(c, 1), tensorArg(c, 2), c.span);
};

const castB: Builtin = (c) => {
  arity(c, 1);
  const x = tensorArg(c, 0);
  const to = c.name as DType;
  if (to === 'sign' || x.t.dtype === 'sign') throw new UserError(`use pack_sign / unpack_sign to convert to and from sign`, c.span);
  return ops.cast(c.el, x, to);
};

// ---- shapes ------------------------------------------------------------------------------------

const transposeB: Builtin = (c) => {
  arity(c, 1);
  const x = tensorArg(c, 0);
  const r = x.t.shape.length;
  if (r < 2) throw new UserError(`transpose needs rank >= 2 (it swaps the last two axes), found ${ops.showT(x)}`, c.span);
  if (x.t.shape[r - 1]!.k === 'spread' || x.t.shape[r - 2]!.k === 'spread') throw new UserError(`transpose of ${ops.showT(x)}: the last two axes must be dims`, c.span);
  if (!c.el.b) {
    const s = x.t.shape.slice();
    [s[r - 2], s[r - 1]] = [s[r - 1]!, s[r - 2]!];
    return ops.tval(x.t.dtype, s);
  }
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [r - 1, r - 2];
  return ops.transpose(c.el, x, perm);
};

const permute: Builtin = (c) => {
  arity(c, 2);
  const x = tensorArg(c, 0);
  const p = c.args[1]!;
  if (p.k !== 'list') throw new UserError(`permute expects a list of axes such as [1, 0, 2]`, c.spans[1]!);
  const perm = p.items.map((it) => (it.spread ? bad(it.span) : intConst(it.v, it.span, 'an axis')));
  if (x.t.shape.some((it) => it.k === 'spread')) throw new UserError(`permute of a rank-polymorphic tensor ${ops.showT(x)}`, c.span);
  const r = x.t.shape.length;
  const ok = perm.length === r && [...perm].sort((a, b) => a - b).every((v, i) => v === i);
  if (!ok) throw new UserError(`permute: [${perm}] is not a permutation of the ${r} axes of ${ops.showT(x)}`, c.spans[1]!);
  if (!c.el.b) return ops.tval(x.t.dtype, perm.map((i) => x.t.shape[i]!));
  return ops.transpose(c.el, x, perm);
};

const reshapeB: Builtin = (c) => {
  arity(c, 2);
  const x = tensorArg(c, 0);
  // '...' is the enclosing function's rank-polymorphic prefix, as in its signature
  const target = shapeArg(c, c.args[1]!, c.spans[1]!, spreadOfEnv(c.fx.env));
  return ops.reshapeChecked(c.el, x, target, c.span);
};

const broadcastB: Builtin = (c) => {
  arity(c, 2);
  const x = tensorArg(c, 0);
  const target = shapeArg(c, c.args[1]!, c.spans[1]!);
  const s = ops.broadcastShapes(x.t.shape, target);
  if (!s || s.length !== target.length || !s.every((it, i) => ops.dimsEqual(it, target[i]!)))
    throw new UserError(`cannot broadcast ${ops.showT(x)} to [${shapeToString(target)}]`, c.span);
  return ops.broadcastTo(c.el, x, target);
};

/** Tensors from a list literal or an array value. */
function tensorList(c: CallInfo, i: number): { v: ops.TVal; span: Span }[] {
  const a = c.args[i]!;
  if (a.k === 'list') return a.items.map((it) => (it.spread ? bad(it.span) : { v: ops.expectTensor(it.v, it.span), span: it.span }));
  if (a.k === 'array') {
    const n = dimValue(a.t.len);
    if (!a.elems) {
      if (a.t.elem.k !== 'tensor') throw new UserError(`expected an array of tensors, found ${typeToString(a.t)}`, c.spans[i]!);
      return [{ v: ops.tval(a.t.elem.dtype, a.t.elem.shape), span: c.spans[i]! }];
    }
    void n;
    return a.elems.map((e) => ({ v: ops.expectTensor(e, c.spans[i]!), span: c.spans[i]! }));
  }
  throw new UserError(`expected a list [a, b, ...] or an array of tensors`, c.spans[i]!);
}

function arrayLen(c: CallInfo, i: number): Dim {
  const a = c.args[i]!;
  if (a.k === 'array') return a.t.len;
  if (a.k === 'list') return dimConst(a.items.length);
  throw new UserError(`expected a list or an array`, c.spans[i]!);
}

const concatB: Builtin = (c) => {
  arity(c, 1, 1, ['axis']);
  const xs = tensorList(c, 0);
  const axis = axesArg(c)?.[0] ?? 0;
  const first = xs[0]!.v;
  const ax = ops.normAxis(first.t.shape, axis, c.span);
  let total: Dim = dimConst(0);
  let dtype = first.t.dtype;
  for (const { v, span } of xs) {
    if (v.t.shape.length !== first.t.shape.length || v.t.shape.some((it, j) => j !== ax && !ops.dimsEqual(it, first.t.shape[j]!)))
      throw new UserError(`concat: ${ops.showT(v)} does not match ${ops.showT(first)} outside axis ${axis}`, span);
    dtype = ops.joinDtype({ ...first, t: { ...first.t, dtype } }, v, span, 'concat');
    const it = v.t.shape[ax]!;
    total = addDims(total, (it as { d: Dim }).d);
  }
  const c0 = c.args[0]!;
  if (c0.k === 'array' && !c0.elems) total = dimMul(c0.t.len, (first.t.shape[ax] as { d: Dim }).d);
  const shape = first.t.shape.map((it, j) => (j === ax ? D(total) : it));
  return ops.emitted(c.el, dtype, shape, (b) => b.emit1('concat', xs.map((x) => ops.atomOf(c.el, ops.retype(c.el, x.v, dtype))), { axis: ax }));
};

import { dimAdd as addDims } from './dim.ts';

const stackB: Builtin = (c) => {
  arity(c, 1, 1, ['axis']);
  const xs = tensorList(c, 0);
  const n = arrayLen(c, 0);
  const first = xs[0]!.v;
  const axis = axesArg(c)?.[0] ?? 0;
  const r = first.t.shape.length + 1;
  const ax = axis < 0 ? axis + r : axis;
  if (ax < 0 || ax >= r) throw new UserError(`stack: axis ${axis} is out of range`, c.span);
  for (const { v, span } of xs) if (!typeEq(v.t, first.t)) throw new UserError(`stack: ${ops.showT(v)} differs from ${ops.showT(first)}`, span);
  const one = [...first.t.shape.slice(0, ax), D(dimConst(1)), ...first.t.shape.slice(ax)];
  const shape = [...first.t.shape.slice(0, ax), D(n), ...first.t.shape.slice(ax)];
  if (!c.el.b) return ops.tval(first.t.dtype, shape);
  const parts = xs.map((x) => ops.atomOf(c.el, ops.reshape(c.el, x.v, one)));
  return ops.tval(first.t.dtype, shape, parts.length === 1 ? parts[0] : c.el.b.emit1('concat', parts, { axis: ax }));
};

const repeatB: Builtin = (c) => {
  arity(c, 1, 1, ['axis', 'times']);
  const x = tensorArg(c, 0);
  const t = namedOr(c, 'times');
  if (!t) throw new UserError(`repeat needs times: n`, c.span);
  const times = staticDim(t.v, t.span, 'times');
  const axis = axesArg(c)?.[0] ?? 0;
  const ax = ops.normAxis(x.t.shape, axis, c.span);
  const s = x.t.shape;
  const n = (s[ax] as { d: Dim }).d;
  const expanded = [...s.slice(0, ax + 1), D(dimConst(1)), ...s.slice(ax + 1)];
  const bcast = [...s.slice(0, ax + 1), D(times), ...s.slice(ax + 1)];
  const out = [...s.slice(0, ax), D(dimMul(n, times)), ...s.slice(ax + 1)];
  if (!c.el.b) return ops.tval(x.t.dtype, out);
  return ops.reshape(c.el, ops.broadcastTo(c.el, ops.reshape(c.el, x, expanded), bcast), out);
};

const iotaB: Builtin = (c) => {
  arity(c, 1, 1, ['dtype']);
  const n = staticDim(c.args[0]!, c.spans[0]!, 'the length of iota');
  const dtype = dtypeArg(c, 'i32');
  const shape = [D(n)];
  return ops.emitted(c.el, dtype, shape, (b) => b.emit1('iota', [], { shape: ops.cshape(shape), axis: 0, dtype }));
};

function fill(c: CallInfo, value: number | ops.TVal, shape: ShapeItem[], dtype: DType): ops.TVal {
  const v = typeof value === 'number' ? ops.tval(dtype, [], undefined, isFloat(dtype) ? { k: 'float', v: value } : { k: 'int', d: dimConst(value) }) : value;
  if (!c.el.b) return ops.tval(dtype, shape);
  const atom = typeof value === 'number' ? lit(value, dtype) : ops.atomOf(c.el, ops.retype(c.el, v, dtype));
  const scalar = ops.tval(dtype, [], atom);
  return ops.tval(dtype, shape, c.el.b.emit1('broadcast_in_dim', [atom], { shape: ops.cshape(shape), dims: [] }) ?? scalar.atom);
}

const zerosB =
  (value: number): Builtin =>
  (c) => {
    arity(c, 1, 1, ['dtype']);
    return fill(c, value, shapeArg(c, c.args[0]!, c.spans[0]!), dtypeArg(c, 'f32'));
  };

const fullB: Builtin = (c) => {
  arity(c, 2, 2, ['dtype']);
  const v = tensorArg(c, 1);
  if (v.t.shape.length) throw new UserError(`full expects a scalar fill value, found ${ops.showT(v)}`, c.spans[1]!);
  return fill(c, v, shapeArg(c, c.args[0]!, c.spans[0]!), c.named.has('dtype') ? dtypeArg(c, 'f32') : v.weak && v.t.dtype === 'i32' ? 'f32' : v.t.dtype);
};

const oneHot: Builtin = (c) => {
  arity(c, 2, 2, ['dtype']);
  const idx = tensorArg(c, 0);
  if (idx.t.dtype !== 'i32') throw new UserError(`one_hot expects i32 indices, found ${ops.showT(idx)}`, c.spans[0]!);
  const n = staticDim(c.args[1]!, c.spans[1]!, 'the number of classes');
  const io = ops.emitted(c.el, 'i32', [D(n)], (b) => b.emit1('iota', [], { shape: [dimValue(n)!], axis: 0, dtype: 'i32' }));
  const col = ops.reshape(c.el, idx, [...idx.t.shape, D(dimConst(1))]);
  return ops.cast(c.el, ops.compare(c.el, 'eq', col, io, c.span, 'one_hot'), dtypeArg(c, 'f32'));
};

const gatherB: Builtin = (c) => {
  arity(c, 2, 2, ['axis']);
  const x = tensorArg(c, 0);
  const idx = tensorArg(c, 1);
  if (idx.t.dtype !== 'i32') throw new UserError(`take expects i32 indices, found ${ops.showT(idx)}`, c.spans[1]!);
  const ax = ops.normAxis(x.t.shape, axesArg(c)?.[0] ?? 0, c.span);
  const shape = [...x.t.shape.slice(0, ax), ...idx.t.shape, ...x.t.shape.slice(ax + 1)];
  return ops.emitted(c.el, x.t.dtype, shape, (b) => b.emit1('gather', [ops.atomOf(c.el, x), ops.atomOf(c.el, idx)], { axis: ax }));
};

/** Start indices: a list of scalars (static or run-time), missing trailing ones are 0. */
function startsArg(c: CallInfo, v: Val, span: Span, rank: number): ops.TVal[] {
  if (v.k !== 'list') throw new UserError(`expected a list of start indices such as [pos, 0]`, span);
  if (v.items.length > rank) throw new UserError(`${v.items.length} start indices for a tensor of rank ${rank}`, span);
  const out = v.items.map((it) => {
    if (it.spread) return bad(it.span);
    const t = ops.expectTensor(it.v, it.span, 'an index');
    if (t.t.shape.length || (t.t.dtype !== 'i32' && t.t.dtype !== 'u32')) throw new UserError(`a start index must be an integer scalar, found ${ops.showT(t)}`, it.span);
    return ops.retype(c.el, t, 'i32');
  });
  while (out.length < rank) out.push(ops.tval('i32', [], undefined, { k: 'int', d: dimConst(0) }));
  return out;
}

const updateSlice: Builtin = (c) => {
  arity(c, 3);
  const x = tensorArg(c, 0);
  const u = tensorArg(c, 1);
  if (x.t.shape.some((it) => it.k === 'spread') || u.t.shape.some((it) => it.k === 'spread'))
    throw new UserError(`update_slice needs tensors of known rank`, c.span);
  if (u.t.dtype !== x.t.dtype && !(u.weak && isFloat(x.t.dtype))) throw new UserError(`update_slice: update ${ops.showT(u)} has a different dtype from ${ops.showT(x)}`, c.spans[1]!);
  if (u.t.shape.length !== x.t.shape.length) throw new UserError(`update_slice: update ${ops.showT(u)} must have the rank of ${ops.showT(x)}`, c.spans[1]!);
  u.t.shape.forEach((it, i) => {
    const a = dimValue((it as { d: Dim }).d);
    const b = dimValue((x.t.shape[i] as { d: Dim }).d);
    if (a !== undefined && b !== undefined && a > b) throw new UserError(`update_slice: update ${ops.showT(u)} does not fit in ${ops.showT(x)}`, c.spans[1]!);
  });
  const starts = startsArg(c, c.args[2]!, c.spans[2]!, x.t.shape.length);
  const uu = ops.retype(c.el, u, x.t.dtype);
  return ops.emitted(c.el, x.t.dtype, x.t.shape, (b) => b.emit1('dynamic_update_slice', [ops.atomOf(c.el, x), ops.atomOf(c.el, uu), ...starts.map((s) => ops.atomOf(c.el, s))], {}));
};

const sliceAt: Builtin = (c) => {
  arity(c, 3);
  const x = tensorArg(c, 0);
  if (x.t.shape.some((it) => it.k === 'spread')) throw new UserError(`slice_at needs a tensor of known rank`, c.span);
  const starts = startsArg(c, c.args[1]!, c.spans[1]!, x.t.shape.length);
  const sizes = shapeArg(c, c.args[2]!, c.spans[2]!);
  if (sizes.length !== x.t.shape.length) throw new UserError(`slice_at: ${sizes.length} sizes for a tensor of rank ${x.t.shape.length}`, c.spans[2]!);
  return ops.emitted(c.el, x.t.dtype, sizes, (b) => b.emit1('dynamic_slice', [ops.atomOf(c.el, x), ...starts.map((s) => ops.atomOf(c.el, s))], { sizes: ops.cshape(sizes) }));
};

// ---- contractions ------------------------------------------------------------------------------

const matmulB: Builtin = (c) => {
  arity(c, 2);
  return ops.matmul(c.el, tensorArg(c, 0), tensorArg(c, 1), c.span);
};

const einsum: Builtin = (c) => {
  const spec = c.args[0];
  if (!spec || spec.k !== 'str') throw new UserError(`einsum expects a spec string such as "ij,jk->ik" first`, c.span);
  const m = /^\s*([a-zA-Z]*)\s*(?:,\s*([a-zA-Z]*)\s*)?->\s*([a-zA-Z]*)\s*$/.exec(spec.v);
  if (!m) throw new UserError(`einsum spec "${spec.v}" is not of the form "ab,bc->ac" (letters only; '...' is not supported)`, c.spans[0]!);
  const ins = m[2] !== undefined ? [m[1]!, m[2]] : [m[1]!];
  const out = m[3]!;
  arity(c, ins.length + 1);
  const xs = ins.map((_, i) => tensorArg(c, i + 1));
  const dims = new Map<string, ShapeItem>();
  ins.forEach((s, k) => {
    const x = xs[k]!;
    if (x.t.shape.some((it) => it.k === 'spread')) throw new UserError(`einsum operands must have known rank, found ${ops.showT(x)}`, c.spans[k + 1]!);
    if (s.length !== x.t.shape.length) throw new UserError(`einsum: "${s}" names ${s.length} axes but operand ${k + 1} is ${ops.showT(x)}`, c.spans[k + 1]!);
    if (new Set(s).size !== s.length) throw new UserError(`einsum: repeated index in "${s}" (diagonals are not supported)`, c.spans[0]!);
    [...s].forEach((ch, i) => {
      const prev = dims.get(ch);
      const it = x.t.shape[i]!;
      if (prev && !ops.dimsEqual(prev, it))
        throw new UserError(`einsum: index ${ch} is ${shapeToString([prev])} in one operand and ${shapeToString([it])} in another`, c.span, `operands: ${xs.map((v) => ops.showT(v)).join(', ')}`);
      dims.set(ch, it);
    });
  });
  for (const ch of out) if (!dims.has(ch)) throw new UserError(`einsum: output index ${ch} appears in no operand`, c.spans[0]!);
  if (new Set(out).size !== out.length) throw new UserError(`einsum: repeated output index`, c.spans[0]!);
  // sum away indices that appear in one operand only and not in the output
  const reduced = xs.map((x, k) => {
    const s = ins[k]!;
    const others = ins.filter((_, j) => j !== k).join('');
    const drop = [...s].map((ch, i) => (!out.includes(ch) && !others.includes(ch) ? i : -1)).filter((i) => i >= 0);
    const keep = [...s].filter((_, i) => !drop.includes(i)).join('');
    return { v: drop.length ? ops.reduce(c.el, 'reduce_sum', x, drop, false, c.span, 'einsum') : x, s: keep };
  });
  let res: ops.TVal;
  let order: string;
  if (reduced.length === 1) {
    res = reduced[0]!.v;
    order = reduced[0]!.s;
  } else {
    const [a, b] = reduced as [{ v: ops.TVal; s: string }, { v: ops.TVal; s: string }];
    const batch = [...a.s].filter((ch) => b.s.includes(ch) && out.includes(ch));
    const contract = [...a.s].filter((ch) => b.s.includes(ch) && !out.includes(ch));
    const freeA = [...a.s].filter((ch) => !b.s.includes(ch));
    const freeB = [...b.s].filter((ch) => !a.s.includes(ch));
    res = ops.dotGeneral(c.el, a.v, b.v, [batch.map((ch) => a.s.indexOf(ch)), batch.map((ch) => b.s.indexOf(ch))], [contract.map((ch) => a.s.indexOf(ch)), contract.map((ch) => b.s.indexOf(ch))], c.span);
    order = [...batch, ...freeA, ...freeB].join('');
  }
  const perm = [...out].map((ch) => order.indexOf(ch));
  if (!c.el.b) return ops.tval(res.t.dtype, perm.map((i) => res.t.shape[i]!));
  return ops.transpose(c.el, res, perm);
};

// ---- the packed sign dtype ---------------------------------------------------------------------

const packSign: Builtin = (c) => {
  arity(c, 1);
  const x = tensorArg(c, 0);
  if (!isFloat(x.t.dtype) || x.t.shape.length === 0) throw new UserError(`pack_sign expects a float matrix, found ${ops.showT(x)}`, c.spans[0]!);
  if (x.t.shape.some((it) => it.k === 'spread')) throw new UserError(`pack_sign needs a tensor of known rank`, c.span);
  return ops.emitted(c.el, 'sign', x.t.shape, (b) => b.emit1('pack_sign', [ops.atomOf(c.el, x)], {}));
};

const unpackSign: Builtin = (c) => {
  arity(c, 1);
  const s = tensorArg(c, 0);
  if (s.t.dtype !== 'sign') throw new UserError(`unpack_sign expects a sign tensor, found ${ops.showT(s)}`, c.spans[0]!);
  return ops.emitted(c.el, 'f32', s.t.shape, (b) => b.emit1('unpack_sign', [ops.atomOf(c.el, s)], {}));
};

const signlinear: Builtin = (c) => {
  arity(c, 4);
  const [x, s, g, h] = [0, 1, 2, 3].map((i) => tensorArg(c, i)) as [ops.TVal, ops.TVal, ops.TVal, ops.TVal];
  if (s.t.dtype !== 'sign' || s.t.shape.length !== 2 || s.t.shape.some((it) => it.k === 'spread'))
    throw new UserError(`signlinear expects s: sign[O, I], found ${ops.showT(s)}`, c.spans[1]!, s.t.dtype === 'f32' ? 'pack a ±1 matrix with pack_sign(w)' : undefined);
  const [O, I] = s.t.shape as [ShapeItem, ShapeItem];
  const xl = x.t.shape[x.t.shape.length - 1];
  if (x.t.dtype !== 'f32' || !xl || !ops.dimsEqual(xl, I))
    throw new UserError(`signlinear expects x: f32[..., ${shapeToString([I])}], found ${ops.showT(x)}`, c.spans[0]!);
  if (g.t.dtype !== 'f32' || g.t.shape.length !== 1 || !ops.dimsEqual(g.t.shape[0]!, I)) throw new UserError(`signlinear expects g: f32[${shapeToString([I])}], found ${ops.showT(g)}`, c.spans[2]!);
  if (h.t.dtype !== 'f32' || h.t.shape.length !== 1 || !ops.dimsEqual(h.t.shape[0]!, O)) throw new UserError(`signlinear expects h: f32[${shapeToString([O])}], found ${ops.showT(h)}`, c.spans[3]!);
  const shape = [...x.t.shape.slice(0, -1), O];
  return ops.emitted(c.el, 'f32', shape, (b) => b.emit1('signlinear', [x, s, g, h].map((v) => ops.atomOf(c.el, v)), {}));
};

// ---- randomness ------------------------------------------------------------------------------

function keyArg(c: CallInfo, i: number): ops.TVal {
  const k = tensorArg(c, i);
  if (k.t.dtype !== 'u32' || k.t.shape.length !== 1 || !dimEq((k.t.shape[0] as { d: Dim }).d ?? dimConst(0), dimConst(2)))
    throw new UserError(`expected a PRNG key u32[2] (from key(seed) or split), found ${ops.showT(k)}`, c.spans[i]!);
  return k;
}

function bits(c: CallInfo, key: ops.TVal, shape: ShapeItem[]): ops.TVal {
  return ops.emitted(c.el, 'u32', shape, (b) => b.emit1('random_bits', [ops.atomOf(c.el, key)], { shape: ops.cshape(shape) }));
}

/** Uniform floats in [0, 1) (or (0, 1) with `open`) from 24 random bits. */
function uniformFrom(c: CallInfo, b: ops.TVal, open: boolean): ops.TVal {
  const hi = ops.binary(c.el, 'shr', b, { ...ops.tval('u32', [], undefined, { k: 'int', d: dimConst(8) }), weak: true }, c.span, '>>');
  let f = ops.cast(c.el, hi, 'f32');
  if (open) f = ops.binary(c.el, 'add', f, { ...ops.tval('f32', [], undefined, { k: 'float', v: 0.5 }), weak: true }, c.span, '+');
  return ops.binary(c.el, 'mul', f, { ...ops.tval('f32', [], undefined, { k: 'float', v: 1 / 16777216 }), weak: true }, c.span, '*');
}

const keyB: Builtin = (c) => {
  arity(c, 1);
  const s = tensorArg(c, 0);
  if (s.t.shape.length || (s.t.dtype !== 'i32' && s.t.dtype !== 'u32')) throw new UserError(`key expects an integer seed, found ${ops.showT(s)}`, c.spans[0]!);
  const seed = ops.retype(c.el, s, 'u32');
  const zero = ops.tval('u32', [D(dimConst(1))], undefined);
  if (!c.el.b) return ops.tval('u32', [D(dimConst(2))]);
  const z = ops.tval('u32', [D(dimConst(1))], c.el.b.emit1('broadcast_in_dim', [lit(0, 'u32')], { shape: [1], dims: [] }));
  void zero;
  const sv = ops.reshape(c.el, ops.tval('u32', [], ops.atomOf(c.el, seed)), [D(dimConst(1))]);
  return ops.tval('u32', [D(dimConst(2))], c.el.b.emit1('concat', [ops.atomOf(c.el, z), ops.atomOf(c.el, sv)], { axis: 0 }));
};

const splitB: Builtin = (c) => {
  arity(c, 1, 2);
  const k = keyArg(c, 0);
  const n = c.args[1] ? staticDim(c.args[1], c.spans[1]!, 'the number of keys') : dimConst(2);
  return bits(c, k, [D(n), D(dimConst(2))]);
};

const randUniform: Builtin = (c) => {
  arity(c, 2);
  return uniformFrom(c, bits(c, keyArg(c, 0), shapeArg(c, c.args[1]!, c.spans[1]!)), false);
};

const randNormal: Builtin = (c) => {
  arity(c, 2);
  const shape = shapeArg(c, c.args[1]!, c.spans[1]!);
  const key = keyArg(c, 0);
  const b = bits(c, key, [D(dimConst(2)), ...shape]);
  const half = (i: number) => {
    const sl = ops.emitted(c.el, 'u32', [D(dimConst(1)), ...shape], (bb) => {
      const cs = ops.cshape(shape);
      return bb.emit1('slice', [ops.atomOf(c.el, b)], { start: [i, ...cs.map(() => 0)], stop: [i + 1, ...cs], step: [1, ...cs.map(() => 1)] });
    });
    return ops.reshape(c.el, sl, shape);
  };
  const u1 = uniformFrom(c, half(0), true);
  const u2 = uniformFrom(c, half(1), false);
  const w = (v: number) => ({ ...ops.tval('f32', [], undefined, { k: 'float' as const, v }), weak: true });
  const r = ops.unary(c.el, 'sqrt', ops.binary(c.el, 'mul', w(-2), ops.unary(c.el, 'log', u1, c.span, 'log'), c.span, '*'), c.span, 'sqrt');
  const th = ops.unary(c.el, 'cos', ops.binary(c.el, 'mul', w(2 * Math.PI), u2, c.span, '*'), c.span, 'cos');
  return ops.binary(c.el, 'mul', r, th, c.span, '*');
};

const categorical: Builtin = (c) => {
  arity(c, 2, 2, ['axis']);
  const key = keyArg(c, 0);
  const logits = tensorArg(c, 1);
  if (!isFloat(logits.t.dtype)) throw new UserError(`categorical expects float logits, found ${ops.showT(logits)}`, c.spans[1]!);
  const u = uniformFrom(c, bits(c, key, logits.t.shape), true);
  const g = ops.unary(c.el, 'neg', ops.unary(c.el, 'log', ops.unary(c.el, 'neg', ops.unary(c.el, 'log', u, c.span, 'log'), c.span, '-'), c.span, 'log'), c.span, '-');
  const axis = axesArg(c)?.[0] ?? -1;
  return ops.reduce(c.el, 'argmax', ops.binary(c.el, 'add', logits, g, c.span, '+'), [axis], false, c.span, 'categorical');
};

// ---- higher-order --------------------------------------------------------------------------------

function fnArg(c: CallInfo, i: number): Extract<Val, { k: 'closure' }> {
  const f = c.args[i];
  if (!f || f.k !== 'closure') throw new UserError(`${c.name} expects a function as argument ${i + 1}, such as fn(x) { ... }`, c.spans[i] ?? c.span);
  return f;
}

/** Applies a function argument; an erroneous result (already reported) abandons the builtin. */
function call(c: CallInfo, f: Extract<Val, { k: 'closure' }>, args: Val[]): Val {
  const r = c.el.applyCallable(f, args, args.map(() => c.span), new Map(), c.span, c.fx);
  if (r.k === 'error' || hasError(r.t as Type)) throw new Reported();
  return r;
}

const iterate: Builtin = (c) => {
  arity(c, 3);
  const nv = c.args[0]!;
  const init = c.args[1]!;
  const f = fnArg(c, 2);
  if (nv.k !== 'tensor' || nv.t.shape.length || (nv.t.dtype !== 'i32' && nv.t.dtype !== 'u32'))
    throw new UserError(`iterate expects an integer count, found ${typeToString(nv.t as Type)}`, c.spans[0]!);
  if (!c.el.b) {
    const r = call(c, f, [init]);
    c.el.coerceTo(r, init.t as Type, c.span, 'the step of iterate must return the state it takes');
    return init.k === 'tensor' ? ops.tval(init.t.dtype, init.t.shape) : c.el.placeholder(init.t as Type);
  }
  const n = staticNumber(nv.st);
  if (n === undefined || !Number.isInteger(n) || n < 0) throw new UserError(`the count of iterate must be a non-negative integer known at compile time`, c.spans[0]!, 'pass a literal, or a parameter given a literal by its caller');
  const outer = c.el.b;
  const t = init.t as Type;
  const body = new (outer.constructor as typeof import('./builder.ts').CoreBuilder)(c.el.supply, outer, true);
  c.el.b = body;
  let res;
  try {
    const leaves = c.el.leafTypes(t, 'carry').map((l) => body.param(l.t, 'carry'));
    let k = 0;
    const state = c.el.fromLeaves(t, () => leaves[k++]!);
    const r = c.el.coerceTo(call(c, f, [state]), t, c.span, 'the step of iterate must return the state it takes');
    res = body.finish(c.el.atoms(r), true);
  } finally {
    c.el.b = outer;
  }
  const initAtoms = c.el.atoms(init);
  const outs = outer.emit('iterate', [...res.captured, ...initAtoms], { n, nconst: res.captured.length, body: res.func });
  let j = 0;
  return c.el.fromLeaves(t, () => outs[j++]!);
};

function arrayArg(c: CallInfo, i: number): Extract<Val, { k: 'array' }> {
  const a0 = c.args[i];
  const a = a0?.k === 'list' ? c.el.listToTensor(a0) : a0;
  if (!a || a.k !== 'array') throw new UserError(`${c.name} expects an array of structs or tensors, found ${a ? typeToString(a.t as Type) : 'nothing'}`, c.spans[i] ?? c.span);
  return a;
}

/** fold(xs..., init, fn(acc, x...)) and scan(...): the arrays, the initial carry, the step. */
function loopArgs(c: CallInfo): { arrs: Extract<Val, { k: 'array' }>[]; init: Val; f: Extract<Val, { k: 'closure' }> } {
  if (c.args.length < 3) throw new UserError(`${c.name} expects arrays, an initial value and a function: ${c.name}(xs, init, fn(acc, x) { ... })`, c.span);
  const f = fnArg(c, c.args.length - 1);
  const init = c.args[c.args.length - 2]!;
  const arrs = c.args.slice(0, -2).map((_, i) => arrayArg(c, i));
  const len = arrs[0]!.t.len;
  arrs.forEach((a, i) => {
    if (!dimEq(a.t.len, len)) throw new UserError(`${c.name}: arrays differ in length (${dimToString(len)} and ${dimToString(a.t.len)})`, c.spans[i]!);
  });
  return { arrs, init, f };
}

const fold: Builtin = (c) => {
  const { arrs, init, f } = loopArgs(c);
  let acc = init;
  const t = acc.t as Type;
  if (!arrs[0]!.elems) {
    const r = call(c, f, [acc, ...arrs.map((a) => c.el.arrayElem(a, undefined, c.span))]);
    c.el.coerceTo(r, t, c.span, 'the step of fold must return the accumulator type');
    return c.el.placeholder(t);
  }
  for (let i = 0; i < arrs[0]!.elems.length; i++)
    acc = c.el.coerceTo(call(c, f, [acc, ...arrs.map((a) => a.elems![i]!)]), t, c.span, 'the step of fold must return the accumulator type');
  return acc;
};

const mapB: Builtin = (c) => {
  if (c.args.length < 2) throw new UserError(`map expects arrays and a function: map(xs, fn(x) { ... })`, c.span);
  const f = fnArg(c, c.args.length - 1);
  const arrs = c.args.slice(0, -1).map((_, i) => arrayArg(c, i));
  const len = arrs[0]!.t.len;
  arrs.forEach((a, i) => {
    if (!dimEq(a.t.len, len)) throw new UserError(`map: arrays differ in length (${dimToString(len)} and ${dimToString(a.t.len)})`, c.spans[i]!);
  });
  if (!arrs[0]!.elems) {
    const r = call(c, f, arrs.map((a) => c.el.arrayElem(a, undefined, c.span)));
    if (r.k === 'error') return r;
    return { k: 'array', t: { k: 'array', elem: r.t as Type, len } };
  }
  const outs = arrs[0]!.elems.map((_, i) => call(c, f, arrs.map((a) => a.elems![i]!)));
  if (outs.some((o) => o.k === 'error')) return ERRV;
  const rt = outs[0]!.t as Type;
  return { k: 'array', t: { k: 'array', elem: rt, len }, elems: outs };
};

const scan: Builtin = (c) => {
  const { arrs, init, f } = loopArgs(c);
  let acc = init;
  const t = acc.t as Type;
  const split = (r: Val): [Val, Val] => {
    if (r.k !== 'tuple' || r.elems.length !== 2) throw new UserError(`the step of scan must return (carry, output), found ${typeToString(r.t as Type)}`, c.span);
    return [c.el.coerceTo(r.elems[0]!, t, c.span, 'the carry of scan'), r.elems[1]!];
  };
  const len = arrs[0]!.t.len;
  if (!arrs[0]!.elems) {
    const [, o] = split(call(c, f, [acc, ...arrs.map((a) => c.el.arrayElem(a, undefined, c.span))]));
    const at = { k: 'array' as const, elem: o.t as Type, len };
    return c.el.tuple([c.el.placeholder(t), { k: 'array', t: at }]);
  }
  const outs: Val[] = [];
  for (let i = 0; i < arrs[0]!.elems.length; i++) {
    const [a, o] = split(call(c, f, [acc, ...arrs.map((x) => x.elems![i]!)]));
    acc = a;
    outs.push(o);
  }
  const at = { k: 'array' as const, elem: outs[0]!.t as Type, len };
  return c.el.tuple([acc, { k: 'array', t: at, elems: outs }]);
};

/** Leafwise map over trees of one type (structs, tuples, arrays of tensors). */
const tmap: Builtin = (c) => {
  if (c.args.length < 2) throw new UserError(`tmap expects a function and trees: tmap(fn(p, g) { ... }, params, grads)`, c.span);
  const f = fnArg(c, 0);
  const trees = c.args.slice(1);
  const t0 = trees[0]!.t as Type;
  trees.forEach((tr, i) => {
    if (!typeEq(tr.t as Type, t0)) throw new UserError(`tmap: tree ${i + 1} is ${typeToString(tr.t as Type)}, but tree 1 is ${typeToString(t0)}`, c.spans[i + 1]!);
  });
  return tmapRec(c, f, trees);
};

function tmapRec(c: CallInfo, f: Extract<Val, { k: 'closure' }>, trees: Val[]): Val {
  const v0 = trees[0]!;
  switch (v0.k) {
    case 'tensor': {
      const r = call(c, f, trees);
      return c.el.coerceTo(r, v0.t, c.span, 'tmap must keep each leaf type');
    }
    case 'tuple':
      return c.el.tuple(v0.elems.map((_, i) => tmapRec(c, f, trees.map((t) => (t as typeof v0).elems[i]!))));
    case 'array': {
      if (!v0.elems) {
        tmapRec(c, f, trees.map((t) => c.el.arrayElem(t as typeof v0, undefined, c.span)));
        return { k: 'array', t: v0.t };
      }
      return { k: 'array', t: v0.t, elems: v0.elems.map((_, i) => tmapRec(c, f, trees.map((t) => (t as typeof v0).elems![i]!))) };
    }
    case 'struct': {
      const fields = new Map<string, Val>();
      const fs = trees.map((t) => c.el.fieldsOf(t as typeof v0));
      for (const name of fs[0]!.keys()) fields.set(name, tmapRec(c, f, fs.map((m) => m.get(name)!)));
      return { k: 'struct', t: v0.t, fields };
    }
    default:
      throw new UserError(`tmap cannot map over ${typeToString(v0.t as Type)}`, c.span);
  }
}

/** tree_sum(tree, fn(leaf) -> scalar): the sum over a tree's leaves (e.g. a global gradient norm). */
const treeSum: Builtin = (c) => {
  arity(c, 2);
  const f = fnArg(c, 1);
  let acc: ops.TVal | undefined;
  const visit = (v: Val): void => {
    switch (v.k) {
      case 'tensor': {
        const r = call(c, f, [v]);
        if (r.k !== 'tensor' || r.t.shape.length !== 0 || !isFloat(r.t.dtype)) throw new UserError(`the function of tree_sum must return a float scalar, found ${typeToString(r.t as Type)}`, c.spans[1]!);
        acc = acc ? ops.binary(c.el, 'add', acc, r, c.span, '+') : r;
        return;
      }
      case 'tuple':
        return v.elems.forEach(visit);
      case 'array':
        if (!v.elems) {
          // checking: one element stands for all; the result is a scalar either way
          return visit(c.el.arrayElem(v, undefined, c.span));
        }
        return v.elems.forEach(visit);
      case 'struct':
        return [...c.el.fieldsOf(v).values()].forEach(visit);
      default:
        throw new UserError(`tree_sum cannot walk ${typeToString(v.t as Type)}`, c.spans[0]!);
    }
  };
  visit(c.args[0]!);
  return acc ?? ops.tval('f32', [], undefined, { k: 'float', v: 0 });
};

const zerosLike: Builtin = (c) => {
  arity(c, 1);
  const zero: Builtin = (cc) => fill(cc, 0, (cc.args[0] as ops.TVal).t.shape, (cc.args[0] as ops.TVal).t.dtype);
  const f: Extract<Val, { k: 'closure' }> = { k: 'closure', t: { k: 'fn' }, name: '$zero', scope: new Map(), env: c.fx.env, module: c.fx.module, builtin: '$zero' };
  BUILTINS['$zero'] = zero;
  return tmapRec(c, f, [c.args[0]!]);
};

const lenB: Builtin = (c) => {
  arity(c, 1);
  return ops.tval('i32', [], undefined, { k: 'int', d: arrayLen(c, 0) });
};

const sizeB: Builtin = (c) => {
  arity(c, 1, 1, ['axis']);
  const x = tensorArg(c, 0);
  const ax = ops.normAxis(x.t.shape, axesArg(c)?.[0] ?? 0, c.span);
  return ops.tval('i32', [], undefined, { k: 'int', d: (x.t.shape[ax] as { d: Dim }).d });
};

const stopGradient: Builtin = (c) => {
  arity(c, 1);
  const x = tensorArg(c, 0);
  return ops.emitted(c.el, x.t.dtype, x.t.shape, (b) => b.emit1('stop_gradient', [ops.atomOf(c.el, x)], {}));
};

/** Float leaves only: the type of a gradient with respect to a value of type t. */
function checkDifferentiable(t: Type, span: Span): void {
  const walk = (x: Type): void => {
    if (x.k === 'tensor' && !isFloat(x.dtype)) throw new UserError(`cannot differentiate with respect to a ${typeToString(x)} value`, span, 'differentiate with respect to a struct of float tensors; pass integer data through the closure');
    if (x.k === 'tuple') x.elems.forEach(walk);
    if (x.k === 'array') walk(x.elem);
  };
  walk(t);
}

const gradB =
  (withValue: boolean): Builtin =>
  (c) => {
    arity(c, 2);
    const f = fnArg(c, 0);
    const x = c.args[1]!;
    checkDifferentiable(x.t as Type, c.spans[1]!);
    if (x.k === 'struct') for (const fl of c.el.structFields(x.t)) checkDifferentiable(fl.t, c.spans[1]!);
    if (c.el.b) return lowerGrad(c, f, x, withValue);
    const r = call(c, f, [x]);
    if (r.k !== 'tensor' || r.t.shape.length !== 0 || !isFloat(r.t.dtype))
      throw new UserError(`${c.name} needs a function returning a float scalar, found ${typeToString(r.t as Type)}`, c.spans[0]!);
    const g = c.el.placeholder(x.t as Type);
    return withValue ? c.el.tuple([ops.tval(r.t.dtype, []), g]) : g;
  };

/**
 * Lowers a differentiation: the closure applied to fresh parameters (one per leaf of x) becomes a
 * closed Func whose captured values are extra, non-differentiated parameters; `outputs` turns its
 * result into [scalar to differentiate, values to return too]; the AD transform's gradient program
 * is inlined at the call. Returns the returned values and the gradient (of x's type).
 */
function differentiate(c: CallInfo, f: Extract<Val, { k: 'closure' }>, x: Val, outputs: (y: Val) => ops.TVal[]): { values: import('../../runtime/core/ir.ts').Atom[]; grad: Val } {
  const outer = c.el.b!;
  const t = x.t as Type;
  const sub = new CoreBuilder(c.el.supply, outer, true);
  c.el.b = sub;
  let res: { func: import('../../runtime/core/ir.ts').Func; captured: import('../../runtime/core/ir.ts').Var[] };
  let nx: number;
  let nout: number;
  try {
    const xv = c.el.paramValue(sub, t, 'x');
    nx = sub.params.length;
    const outs = outputs(call(c, f, [xv]));
    nout = outs.length;
    res = sub.finish(outs.map((o) => ops.atomOf(c.el, o)));
  } finally {
    c.el.b = outer;
  }
  const g = gradFunc(res.func, nx, c.el.supply);
  const outs = outer.inline(g, [...c.el.atoms(x), ...res.captured]);
  let k = nout;
  return { values: outs.slice(0, nout), grad: c.el.fromLeaves(t, () => outs[k++]!) };
}

/** grad / value_and_grad when lowering. */
function lowerGrad(c: CallInfo, f: Extract<Val, { k: 'closure' }>, x: Val, withValue: boolean): Val {
  const { values, grad } = differentiate(c, f, x, (r) => {
    if (r.k !== 'tensor' || r.t.shape.length !== 0 || !isFloat(r.t.dtype))
      throw new UserError(`${c.name} needs a function returning a float scalar, found ${typeToString(r.t as Type)}`, c.spans[0]!);
    return [r];
  });
  return withValue ? c.el.tuple([ops.tval('f32', [], values[0]), grad]) : grad;
}

/** vjp(f, x, ct) = (f(x), the cotangent of x for output cotangent ct): the gradient of ⟨f(x), ct⟩. */
const vjpB: Builtin = (c) => {
  arity(c, 3);
  const f = fnArg(c, 0);
  const x = c.args[1]!;
  const ct = tensorArg(c, 2);
  checkDifferentiable(x.t as Type, c.spans[1]!);
  const checkOut = (y: Val): ops.TVal => {
    if (y.k !== 'tensor' || !isFloat(y.t.dtype)) throw new UserError(`vjp needs a function returning a float tensor, found ${typeToString(y.t as Type)}`, c.spans[0]!);
    if (!typeEq(y.t, ct.t)) throw new UserError(`vjp: the cotangent must have the output's type ${typeToString(y.t)}, found ${typeToString(ct.t)}`, c.spans[2]!);
    return y;
  };
  if (!c.el.b) {
    const y = checkOut(call(c, f, [x]));
    return c.el.tuple([ops.tval(y.t.dtype, y.t.shape), c.el.placeholder(x.t as Type)]);
  }
  let yt!: ops.TVal;
  const { values, grad } = differentiate(c, f, x, (r) => {
    yt = checkOut(r);
    const prod = ops.binary(c.el, 'mul', yt, ct, c.span, '*');
    const dot = yt.t.shape.length ? ops.reduce(c.el, 'reduce_sum', prod, 'all', false, c.span, 'vjp') : prod;
    return [dot, yt];
  });
  return c.el.tuple([ops.tval(yt.t.dtype, yt.t.shape, values[1]), grad]);
};

export const BUILTINS: Record<string, Builtin> = {
  neg: unaryB('neg'),
  abs: unaryB('abs'),
  exp: unaryB('exp'),
  log: unaryB('log'),
  sqrt: unaryB('sqrt'),
  rsqrt: unaryB('rsqrt'),
  sin: unaryB('sin'),
  cos: unaryB('cos'),
  tanh: unaryB('tanh'),
  sigmoid: unaryB('sigmoid'),
  sign: unaryB('sign'),
  floor: unaryB('floor'),
  ceil: unaryB('ceil'),
  round: unaryB('round'),
  max: reduceOrBinary('reduce_max', 'max'),
  min: reduceOrBinary('reduce_min', 'min'),
  sum,
  mean,
  logsumexp,
  argmax,
  where,
  $cast: castB,
  transpose: transposeB,
  permute,
  reshape: reshapeB,
  broadcast: broadcastB,
  concat: concatB,
  stack: stackB,
  repeat: repeatB,
  iota: iotaB,
  zeros: zerosB(0),
  ones: zerosB(1),
  full: fullB,
  zeros_like: zerosLike,
  tree_sum: treeSum,
  one_hot: oneHot,
  take: gatherB,
  update_slice: updateSlice,
  slice_at: sliceAt,
  matmul: matmulB,
  einsum,
  pack_sign: packSign,
  unpack_sign: unpackSign,
  signlinear,
  key: keyB,
  split: splitB,
  rand_uniform: randUniform,
  rand_normal: randNormal,
  categorical,
  iterate,
  fold,
  map: mapB,
  scan,
  tmap,
  len: lenB,
  size: sizeB,
  stop_gradient: stopGradient,
  grad: gradB(false),
  value_and_grad: gradB(true),
  vjp: vjpB,
};

export const BUILTIN_CONSTS: Record<string, () => Val> = {
  inf: () => ({ ...ops.tval('f32', [], undefined, { k: 'float', v: Infinity }), weak: true }),
  nan: () => ({ ...ops.tval('f32', [], undefined, { k: 'float', v: NaN }), weak: true }),
  pi: () => ({ ...ops.tval('f32', [], undefined, { k: 'float', v: Math.PI }), weak: true }),
};

