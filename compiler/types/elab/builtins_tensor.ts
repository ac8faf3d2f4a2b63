// Built-in tensor functions: elementwise math and reductions, shapes, contractions (matmul,
// einsum), the packed sign dtype and randomness.
import { UserError, type Span } from '../../syntax/diag.ts';
import type { UnaryPrim } from '../../../runtime/core/prim_names.ts';
import { lit } from '../../../runtime/core/ir.ts';
import { dimConst, dimEq, dimMul, dimValue, type Dim } from '../dim.ts';
import { D, isFloat, shapeToString, typeEq, typeToString, type DType, type ShapeItem } from '../types.ts';
import type { Val } from './vals.ts';
import * as ops from './ops.ts';
import {
  arity,
  axesArg,
  bad,
  dtypeArg,
  intConst,
  keepArg,
  namedOr,
  shapeArg,
  spreadOfEnv,
  staticDim,
  tensorArg,
  type Builtin,
  type CallInfo,
} from './builtin_args.ts';

// ---- elementwise -------------------------------------------------------------------------------

export const unaryB =
  (prim: UnaryPrim): Builtin =>
  (c) => {
    arity(c, 1);
    return ops.unary(c.el, prim, tensorArg(c, 0), c.span, c.name);
  };

export function reduceOrBinary(red: 'reduce_max' | 'reduce_min', bin: 'max' | 'min'): Builtin {
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

export const sum: Builtin = (c) => {
  arity(c, 1, 1, ['axis', 'axes', 'keep']);
  return ops.reduce(c.el, 'reduce_sum', tensorArg(c, 0), axesArg(c) ?? 'all', keepArg(c), c.span, 'sum');
};

export const mean: Builtin = (c) => {
  arity(c, 1, 1, ['axis', 'axes', 'keep']);
  const x = tensorArg(c, 0);
  if (!isFloat(x.t.dtype))
    throw new UserError(`mean expects a float tensor, found ${ops.showT(x)}`, c.span, 'convert with f32(x)');
  const axes = axesArg(c) ?? 'all';
  const s = ops.reduce(c.el, 'reduce_sum', x, axes, keepArg(c), c.span, 'mean');
  const n = ops.tval(x.t.dtype, [], undefined, { k: 'int', d: countOf(x, axes, c.span) });
  return ops.binary(c.el, 'div', s, { ...n, weak: true }, c.span, 'mean');
};

export const logsumexp: Builtin = (c) => {
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
  const outShape = r.t.shape.filter(
    (_, i) => !(axes === 'all' ? true : axes.map((a) => ops.normAxis(x.t.shape, a, c.span)).includes(i)),
  );
  return ops.reshape(c.el, r, outShape);
};

export const argmax: Builtin = (c) => {
  arity(c, 1, 1, ['axis', 'keep']);
  const axes = axesArg(c) ?? [-1];
  return ops.reduce(c.el, 'argmax', tensorArg(c, 0), axes, keepArg(c), c.span, 'argmax');
};

export const where: Builtin = (c) => {
  arity(c, 3);
  return ops.select(c.el, tensorArg(c, 0), tensorArg(c, 1), tensorArg(c, 2), c.span);
};

export const castB: Builtin = (c) => {
  arity(c, 1);
  const x = tensorArg(c, 0);
  const to = c.name as DType;
  if (to === 'sign' || x.t.dtype === 'sign')
    throw new UserError(`use pack_sign / unpack_sign to convert to and from sign`, c.span);
  return ops.cast(c.el, x, to);
};

// ---- shapes ------------------------------------------------------------------------------------

export const transposeB: Builtin = (c) => {
  arity(c, 1);
  const x = tensorArg(c, 0);
  const r = x.t.shape.length;
  if (r < 2)
    throw new UserError(`transpose needs rank >= 2 (it swaps the last two axes), found ${ops.showT(x)}`, c.span);
  if (x.t.shape[r - 1]!.k === 'spread' || x.t.shape[r - 2]!.k === 'spread')
    throw new UserError(`transpose of ${ops.showT(x)}: the last two axes must be dims`, c.span);
  if (!c.el.b) {
    const s = x.t.shape.slice();
    [s[r - 2], s[r - 1]] = [s[r - 1]!, s[r - 2]!];
    return ops.tval(x.t.dtype, s);
  }
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [r - 1, r - 2];
  return ops.transpose(c.el, x, perm);
};

export const permute: Builtin = (c) => {
  arity(c, 2);
  const x = tensorArg(c, 0);
  const p = c.args[1]!;
  if (p.k !== 'list') throw new UserError(`permute expects a list of axes such as [1, 0, 2]`, c.spans[1]!);
  const perm = p.items.map((it) => (it.spread ? bad(it.span) : intConst(it.v, it.span, 'an axis')));
  if (x.t.shape.some((it) => it.k === 'spread'))
    throw new UserError(`permute of a rank-polymorphic tensor ${ops.showT(x)}`, c.span);
  const r = x.t.shape.length;
  const ok = perm.length === r && [...perm].sort((a, b) => a - b).every((v, i) => v === i);
  if (!ok)
    throw new UserError(`permute: [${perm}] is not a permutation of the ${r} axes of ${ops.showT(x)}`, c.spans[1]!);
  if (!c.el.b)
    return ops.tval(
      x.t.dtype,
      perm.map((i) => x.t.shape[i]!),
    );
  return ops.transpose(c.el, x, perm);
};

export const reshapeB: Builtin = (c) => {
  arity(c, 2);
  const x = tensorArg(c, 0);
  // '...' is the enclosing function's rank-polymorphic prefix, as in its signature
  const target = shapeArg(c, c.args[1]!, c.spans[1]!, spreadOfEnv(c.fx.env));
  return ops.reshapeChecked(c.el, x, target, c.span);
};

export const broadcastB: Builtin = (c) => {
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
  if (a.k === 'list')
    return a.items.map((it) => (it.spread ? bad(it.span) : { v: ops.expectTensor(it.v, it.span), span: it.span }));
  if (a.k === 'array') {
    const n = dimValue(a.t.len);
    if (!a.elems) {
      if (a.t.elem.k !== 'tensor')
        throw new UserError(`expected an array of tensors, found ${typeToString(a.t)}`, c.spans[i]!);
      return [{ v: ops.tval(a.t.elem.dtype, a.t.elem.shape), span: c.spans[i]! }];
    }
    void n;
    return a.elems.map((e) => ({ v: ops.expectTensor(e, c.spans[i]!), span: c.spans[i]! }));
  }
  throw new UserError(`expected a list [a, b, ...] or an array of tensors`, c.spans[i]!);
}

export function arrayLen(c: CallInfo, i: number): Dim {
  const a = c.args[i]!;
  if (a.k === 'array') return a.t.len;
  if (a.k === 'list') return dimConst(a.items.length);
  throw new UserError(`expected a list or an array`, c.spans[i]!);
}

/** concat and stack need a tensor to take the result's shape and dtype from. */
function nonEmpty<T>(c: CallInfo, what: string, xs: T[]): T[] {
  if (!xs.length) throw new UserError(`${what} of an empty list: give at least one tensor`, c.spans[0] ?? c.span);
  return xs;
}

export const concatB: Builtin = (c) => {
  arity(c, 1, 1, ['axis']);
  const xs = nonEmpty(c, 'concat', tensorList(c, 0));
  const axis = axesArg(c)?.[0] ?? 0;
  const first = xs[0]!.v;
  const ax = ops.normAxis(first.t.shape, axis, c.span);
  let total: Dim = dimConst(0);
  let dtype = first.t.dtype;
  for (const { v, span } of xs) {
    if (
      v.t.shape.length !== first.t.shape.length ||
      v.t.shape.some((it, j) => j !== ax && !ops.dimsEqual(it, first.t.shape[j]!))
    )
      throw new UserError(`concat: ${ops.showT(v)} does not match ${ops.showT(first)} outside axis ${axis}`, span);
    dtype = ops.joinDtype({ ...first, t: { ...first.t, dtype } }, v, span, 'concat');
    const it = v.t.shape[ax]!;
    total = addDims(total, (it as { d: Dim }).d);
  }
  const c0 = c.args[0]!;
  if (c0.k === 'array' && !c0.elems) total = dimMul(c0.t.len, (first.t.shape[ax] as { d: Dim }).d);
  const shape = first.t.shape.map((it, j) => (j === ax ? D(total) : it));
  return ops.emitted(c.el, dtype, shape, (b) =>
    b.emit1(
      'concat',
      xs.map((x) => ops.atomOf(c.el, ops.retype(c.el, x.v, dtype))),
      { axis: ax },
    ),
  );
};

import { dimAdd as addDims } from '../dim.ts';

export const stackB: Builtin = (c) => {
  arity(c, 1, 1, ['axis']);
  const xs = nonEmpty(c, 'stack', tensorList(c, 0));
  const n = arrayLen(c, 0);
  const first = xs[0]!.v;
  const axis = axesArg(c)?.[0] ?? 0;
  const r = first.t.shape.length + 1;
  const ax = axis < 0 ? axis + r : axis;
  if (ax < 0 || ax >= r) throw new UserError(`stack: axis ${axis} is out of range`, c.span);
  for (const { v, span } of xs)
    if (!typeEq(v.t, first.t)) throw new UserError(`stack: ${ops.showT(v)} differs from ${ops.showT(first)}`, span);
  const one = [...first.t.shape.slice(0, ax), D(dimConst(1)), ...first.t.shape.slice(ax)];
  const shape = [...first.t.shape.slice(0, ax), D(n), ...first.t.shape.slice(ax)];
  if (!c.el.b) return ops.tval(first.t.dtype, shape);
  const parts = xs.map((x) => ops.atomOf(c.el, ops.reshape(c.el, x.v, one)));
  return ops.tval(first.t.dtype, shape, parts.length === 1 ? parts[0] : c.el.b.emit1('concat', parts, { axis: ax }));
};

export const repeatB: Builtin = (c) => {
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

export const iotaB: Builtin = (c) => {
  arity(c, 1, 1, ['dtype']);
  const n = staticDim(c.args[0]!, c.spans[0]!, 'the length of iota');
  const dtype = dtypeArg(c, 'i32');
  const shape = [D(n)];
  return ops.emitted(c.el, dtype, shape, (b) => b.emit1('iota', [], { shape: ops.cshape(shape), axis: 0, dtype }));
};

export function fill(c: CallInfo, value: number | ops.TVal, shape: ShapeItem[], dtype: DType): ops.TVal {
  const v =
    typeof value === 'number'
      ? ops.tval(dtype, [], undefined, isFloat(dtype) ? { k: 'float', v: value } : { k: 'int', d: dimConst(value) })
      : value;
  if (!c.el.b) return ops.tval(dtype, shape);
  const atom = typeof value === 'number' ? lit(value, dtype) : ops.atomOf(c.el, ops.retype(c.el, v, dtype));
  const scalar = ops.tval(dtype, [], atom);
  return ops.tval(
    dtype,
    shape,
    c.el.b.emit1('broadcast_in_dim', [atom], { shape: ops.cshape(shape), dims: [] }) ?? scalar.atom,
  );
}

export const zerosB =
  (value: number): Builtin =>
  (c) => {
    arity(c, 1, 1, ['dtype']);
    return fill(c, value, shapeArg(c, c.args[0]!, c.spans[0]!), dtypeArg(c, 'f32'));
  };

export const fullB: Builtin = (c) => {
  arity(c, 2, 2, ['dtype']);
  const v = tensorArg(c, 1);
  if (v.t.shape.length) throw new UserError(`full expects a scalar fill value, found ${ops.showT(v)}`, c.spans[1]!);
  return fill(
    c,
    v,
    shapeArg(c, c.args[0]!, c.spans[0]!),
    c.named.has('dtype') ? dtypeArg(c, 'f32') : v.weak && v.t.dtype === 'i32' ? 'f32' : v.t.dtype,
  );
};

export const oneHot: Builtin = (c) => {
  arity(c, 2, 2, ['dtype']);
  const idx = tensorArg(c, 0);
  if (idx.t.dtype !== 'i32') throw new UserError(`one_hot expects i32 indices, found ${ops.showT(idx)}`, c.spans[0]!);
  const n = staticDim(c.args[1]!, c.spans[1]!, 'the number of classes');
  const io = ops.emitted(c.el, 'i32', [D(n)], (b) =>
    b.emit1('iota', [], { shape: [dimValue(n)!], axis: 0, dtype: 'i32' }),
  );
  const col = ops.reshape(c.el, idx, [...idx.t.shape, D(dimConst(1))]);
  return ops.cast(c.el, ops.compare(c.el, 'eq', col, io, c.span, 'one_hot'), dtypeArg(c, 'f32'));
};

export const gatherB: Builtin = (c) => {
  arity(c, 2, 2, ['axis']);
  const x = tensorArg(c, 0);
  const idx = tensorArg(c, 1);
  if (idx.t.dtype !== 'i32') throw new UserError(`take expects i32 indices, found ${ops.showT(idx)}`, c.spans[1]!);
  const ax = ops.normAxis(x.t.shape, axesArg(c)?.[0] ?? 0, c.span);
  const shape = [...x.t.shape.slice(0, ax), ...idx.t.shape, ...x.t.shape.slice(ax + 1)];
  return ops.emitted(c.el, x.t.dtype, shape, (b) =>
    b.emit1('gather', [ops.atomOf(c.el, x), ops.atomOf(c.el, idx)], { axis: ax }),
  );
};

/** Start indices: a list of scalars (static or run-time), missing trailing ones are 0. */
function startsArg(c: CallInfo, v: Val, span: Span, rank: number): ops.TVal[] {
  if (v.k !== 'list') throw new UserError(`expected a list of start indices such as [pos, 0]`, span);
  if (v.items.length > rank) throw new UserError(`${v.items.length} start indices for a tensor of rank ${rank}`, span);
  const out = v.items.map((it) => {
    if (it.spread) return bad(it.span);
    const t = ops.expectTensor(it.v, it.span, 'an index');
    if (t.t.shape.length || (t.t.dtype !== 'i32' && t.t.dtype !== 'u32'))
      throw new UserError(`a start index must be an integer scalar, found ${ops.showT(t)}`, it.span);
    return ops.retype(c.el, t, 'i32');
  });
  while (out.length < rank) out.push(ops.tval('i32', [], undefined, { k: 'int', d: dimConst(0) }));
  return out;
}

export const updateSlice: Builtin = (c) => {
  arity(c, 3);
  const x = tensorArg(c, 0);
  const u = tensorArg(c, 1);
  if (x.t.shape.some((it) => it.k === 'spread') || u.t.shape.some((it) => it.k === 'spread'))
    throw new UserError(`update_slice needs tensors of known rank`, c.span);
  if (u.t.dtype !== x.t.dtype && !(u.weak && isFloat(x.t.dtype)))
    throw new UserError(`update_slice: update ${ops.showT(u)} has a different dtype from ${ops.showT(x)}`, c.spans[1]!);
  if (u.t.shape.length !== x.t.shape.length)
    throw new UserError(`update_slice: update ${ops.showT(u)} must have the rank of ${ops.showT(x)}`, c.spans[1]!);
  u.t.shape.forEach((it, i) => {
    const a = dimValue((it as { d: Dim }).d);
    const b = dimValue((x.t.shape[i] as { d: Dim }).d);
    if (a !== undefined && b !== undefined && a > b)
      throw new UserError(`update_slice: update ${ops.showT(u)} does not fit in ${ops.showT(x)}`, c.spans[1]!);
  });
  const starts = startsArg(c, c.args[2]!, c.spans[2]!, x.t.shape.length);
  const uu = ops.retype(c.el, u, x.t.dtype);
  return ops.emitted(c.el, x.t.dtype, x.t.shape, (b) =>
    b.emit1(
      'dynamic_update_slice',
      [ops.atomOf(c.el, x), ops.atomOf(c.el, uu), ...starts.map((s) => ops.atomOf(c.el, s))],
      {},
    ),
  );
};

export const sliceAt: Builtin = (c) => {
  arity(c, 3);
  const x = tensorArg(c, 0);
  if (x.t.shape.some((it) => it.k === 'spread')) throw new UserError(`slice_at needs a tensor of known rank`, c.span);
  const starts = startsArg(c, c.args[1]!, c.spans[1]!, x.t.shape.length);
  const sizes = shapeArg(c, c.args[2]!, c.spans[2]!);
  if (sizes.length !== x.t.shape.length)
    throw new UserError(`slice_at: ${sizes.length} sizes for a tensor of rank ${x.t.shape.length}`, c.spans[2]!);
  return ops.emitted(c.el, x.t.dtype, sizes, (b) =>
    b.emit1('dynamic_slice', [ops.atomOf(c.el, x), ...starts.map((s) => ops.atomOf(c.el, s))], {
      sizes: ops.cshape(sizes),
    }),
  );
};

// ---- contractions ------------------------------------------------------------------------------

export const matmulB: Builtin = (c) => {
  arity(c, 2);
  return ops.matmul(c.el, tensorArg(c, 0), tensorArg(c, 1), c.span);
};

export const einsum: Builtin = (c) => {
  const spec = c.args[0];
  if (!spec || spec.k !== 'str') throw new UserError(`einsum expects a spec string such as "ij,jk->ik" first`, c.span);
  const m = /^\s*([a-zA-Z]*)\s*(?:,\s*([a-zA-Z]*)\s*)?->\s*([a-zA-Z]*)\s*$/.exec(spec.v);
  if (!m)
    throw new UserError(
      `einsum spec "${spec.v}" is not of the form "ab,bc->ac" (letters only; '...' is not supported)`,
      c.spans[0]!,
    );
  const ins = m[2] !== undefined ? [m[1]!, m[2]] : [m[1]!];
  const out = m[3]!;
  arity(c, ins.length + 1);
  const xs = ins.map((_, i) => tensorArg(c, i + 1));
  const dims = new Map<string, ShapeItem>();
  ins.forEach((s, k) => {
    const x = xs[k]!;
    if (x.t.shape.some((it) => it.k === 'spread'))
      throw new UserError(`einsum operands must have known rank, found ${ops.showT(x)}`, c.spans[k + 1]!);
    if (s.length !== x.t.shape.length)
      throw new UserError(
        `einsum: "${s}" names ${s.length} axes but operand ${k + 1} is ${ops.showT(x)}`,
        c.spans[k + 1]!,
      );
    if (new Set(s).size !== s.length)
      throw new UserError(`einsum: repeated index in "${s}" (diagonals are not supported)`, c.spans[0]!);
    [...s].forEach((ch, i) => {
      const prev = dims.get(ch);
      const it = x.t.shape[i]!;
      if (prev && !ops.dimsEqual(prev, it))
        throw new UserError(
          `einsum: index ${ch} is ${shapeToString([prev])} in one operand and ${shapeToString([it])} in another`,
          c.span,
          `operands: ${xs.map((v) => ops.showT(v)).join(', ')}`,
        );
      dims.set(ch, it);
    });
  });
  for (const ch of out)
    if (!dims.has(ch)) throw new UserError(`einsum: output index ${ch} appears in no operand`, c.spans[0]!);
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
    res = ops.dotGeneral(
      c.el,
      a.v,
      b.v,
      [batch.map((ch) => a.s.indexOf(ch)), batch.map((ch) => b.s.indexOf(ch))],
      [contract.map((ch) => a.s.indexOf(ch)), contract.map((ch) => b.s.indexOf(ch))],
      c.span,
    );
    order = [...batch, ...freeA, ...freeB].join('');
  }
  const perm = [...out].map((ch) => order.indexOf(ch));
  if (!c.el.b)
    return ops.tval(
      res.t.dtype,
      perm.map((i) => res.t.shape[i]!),
    );
  return ops.transpose(c.el, res, perm);
};

// ---- the packed sign dtype ---------------------------------------------------------------------

export const packSign: Builtin = (c) => {
  arity(c, 1);
  const x = tensorArg(c, 0);
  if (!isFloat(x.t.dtype) || x.t.shape.length === 0)
    throw new UserError(`pack_sign expects a float matrix, found ${ops.showT(x)}`, c.spans[0]!);
  if (x.t.shape.some((it) => it.k === 'spread')) throw new UserError(`pack_sign needs a tensor of known rank`, c.span);
  return ops.emitted(c.el, 'sign', x.t.shape, (b) => b.emit1('pack_sign', [ops.atomOf(c.el, x)], {}));
};

export const unpackSign: Builtin = (c) => {
  arity(c, 1);
  const s = tensorArg(c, 0);
  if (s.t.dtype !== 'sign')
    throw new UserError(`unpack_sign expects a sign tensor, found ${ops.showT(s)}`, c.spans[0]!);
  return ops.emitted(c.el, 'f32', s.t.shape, (b) => b.emit1('unpack_sign', [ops.atomOf(c.el, s)], {}));
};

export const signlinear: Builtin = (c) => {
  arity(c, 4);
  const [x, s, g, h] = [0, 1, 2, 3].map((i) => tensorArg(c, i)) as [ops.TVal, ops.TVal, ops.TVal, ops.TVal];
  if (s.t.dtype !== 'sign' || s.t.shape.length !== 2 || s.t.shape.some((it) => it.k === 'spread'))
    throw new UserError(
      `signlinear expects s: sign[O, I], found ${ops.showT(s)}`,
      c.spans[1]!,
      s.t.dtype === 'f32' ? 'pack a ±1 matrix with pack_sign(w)' : undefined,
    );
  const [O, I] = s.t.shape as [ShapeItem, ShapeItem];
  const xl = x.t.shape[x.t.shape.length - 1];
  if (x.t.dtype !== 'f32' || !xl || !ops.dimsEqual(xl, I))
    throw new UserError(`signlinear expects x: f32[..., ${shapeToString([I])}], found ${ops.showT(x)}`, c.spans[0]!);
  if (g.t.dtype !== 'f32' || g.t.shape.length !== 1 || !ops.dimsEqual(g.t.shape[0]!, I))
    throw new UserError(`signlinear expects g: f32[${shapeToString([I])}], found ${ops.showT(g)}`, c.spans[2]!);
  if (h.t.dtype !== 'f32' || h.t.shape.length !== 1 || !ops.dimsEqual(h.t.shape[0]!, O))
    throw new UserError(`signlinear expects h: f32[${shapeToString([O])}], found ${ops.showT(h)}`, c.spans[3]!);
  const shape = [...x.t.shape.slice(0, -1), O];
  return ops.emitted(c.el, 'f32', shape, (b) =>
    b.emit1(
      'signlinear',
      [x, s, g, h].map((v) => ops.atomOf(c.el, v)),
      {},
    ),
  );
};

/** blocksignlinear(x: f32[..., I], s: sign[O, I], d: f32[O, K]): block k (I / K columns, whole sign
 *  words) of row o of s scaled by d[o, k]; sizes are checked once they are known. */
export const blocksignlinear: Builtin = (c) => {
  arity(c, 3);
  const [x, s, d] = [0, 1, 2].map((i) => tensorArg(c, i)) as [ops.TVal, ops.TVal, ops.TVal];
  if (s.t.dtype !== 'sign' || s.t.shape.length !== 2 || s.t.shape.some((it) => it.k === 'spread'))
    throw new UserError(`blocksignlinear expects s: sign[O, I], found ${ops.showT(s)}`, c.spans[1]!);
  const [O, I] = s.t.shape as [ShapeItem, ShapeItem];
  const xl = x.t.shape[x.t.shape.length - 1];
  if (x.t.dtype !== 'f32' || !xl || !ops.dimsEqual(xl, I))
    throw new UserError(
      `blocksignlinear expects x: f32[..., ${shapeToString([I])}], found ${ops.showT(x)}`,
      c.spans[0]!,
    );
  if (d.t.dtype !== 'f32' || d.t.shape.length !== 2 || d.t.shape[1]!.k === 'spread' || !ops.dimsEqual(d.t.shape[0]!, O))
    throw new UserError(
      `blocksignlinear expects d: f32[${shapeToString([O])}, K] (one scale per block of a row), found ${ops.showT(d)}`,
      c.spans[2]!,
    );
  const [i, k] = [I, d.t.shape[1]!].map((it) => (it.k === 'dim' ? dimValue(it.d) : undefined));
  if (i !== undefined && k !== undefined && (k < 1 || i % k !== 0 || (i / k) % 32 !== 0))
    throw new UserError(
      `blocksignlinear: ${k} blocks of a ${i}-column row are not whole sign words`,
      c.spans[2]!,
      'a block is a multiple of 32 columns (Q1_0: 128, TQ1_0/TQ2_0: 256)',
    );
  const shape = [...x.t.shape.slice(0, -1), O];
  return ops.emitted(c.el, 'f32', shape, (b) =>
    b.emit1(
      'blocksignlinear',
      [x, s, d].map((v) => ops.atomOf(c.el, v)),
      {},
    ),
  );
};

// ---- randomness ------------------------------------------------------------------------------

function keyArg(c: CallInfo, i: number): ops.TVal {
  const k = tensorArg(c, i);
  if (
    k.t.dtype !== 'u32' ||
    k.t.shape.length !== 1 ||
    !dimEq((k.t.shape[0] as { d: Dim }).d ?? dimConst(0), dimConst(2))
  )
    throw new UserError(`expected a PRNG key u32[2] (from key(seed) or split), found ${ops.showT(k)}`, c.spans[i]!);
  return k;
}

export function bits(c: CallInfo, key: ops.TVal, shape: ShapeItem[]): ops.TVal {
  return ops.emitted(c.el, 'u32', shape, (b) =>
    b.emit1('random_bits', [ops.atomOf(c.el, key)], { shape: ops.cshape(shape) }),
  );
}

/** Uniform floats in [0, 1) (or (0, 1) with `open`) from 24 random bits. */
function uniformFrom(c: CallInfo, b: ops.TVal, open: boolean): ops.TVal {
  const hi = ops.binary(
    c.el,
    'shr',
    b,
    { ...ops.tval('u32', [], undefined, { k: 'int', d: dimConst(8) }), weak: true },
    c.span,
    '>>',
  );
  let f = ops.cast(c.el, hi, 'f32');
  if (open)
    f = ops.binary(
      c.el,
      'add',
      f,
      { ...ops.tval('f32', [], undefined, { k: 'float', v: 0.5 }), weak: true },
      c.span,
      '+',
    );
  return ops.binary(
    c.el,
    'mul',
    f,
    { ...ops.tval('f32', [], undefined, { k: 'float', v: 1 / 16777216 }), weak: true },
    c.span,
    '*',
  );
}

export const keyB: Builtin = (c) => {
  arity(c, 1);
  const s = tensorArg(c, 0);
  if (s.t.shape.length || (s.t.dtype !== 'i32' && s.t.dtype !== 'u32'))
    throw new UserError(`key expects an integer seed, found ${ops.showT(s)}`, c.spans[0]!);
  const seed = ops.retype(c.el, s, 'u32');
  const zero = ops.tval('u32', [D(dimConst(1))], undefined);
  if (!c.el.b) return ops.tval('u32', [D(dimConst(2))]);
  const z = ops.tval(
    'u32',
    [D(dimConst(1))],
    c.el.b.emit1('broadcast_in_dim', [lit(0, 'u32')], { shape: [1], dims: [] }),
  );
  void zero;
  const sv = ops.reshape(c.el, ops.tval('u32', [], ops.atomOf(c.el, seed)), [D(dimConst(1))]);
  return ops.tval(
    'u32',
    [D(dimConst(2))],
    c.el.b.emit1('concat', [ops.atomOf(c.el, z), ops.atomOf(c.el, sv)], { axis: 0 }),
  );
};

export const splitB: Builtin = (c) => {
  arity(c, 1, 2);
  const k = keyArg(c, 0);
  const n = c.args[1] ? staticDim(c.args[1], c.spans[1]!, 'the number of keys') : dimConst(2);
  return bits(c, k, [D(n), D(dimConst(2))]);
};

export const randUniform: Builtin = (c) => {
  arity(c, 2);
  return uniformFrom(c, bits(c, keyArg(c, 0), shapeArg(c, c.args[1]!, c.spans[1]!)), false);
};

export const randNormal: Builtin = (c) => {
  arity(c, 2);
  const shape = shapeArg(c, c.args[1]!, c.spans[1]!);
  const key = keyArg(c, 0);
  const b = bits(c, key, [D(dimConst(2)), ...shape]);
  const half = (i: number) => {
    const sl = ops.emitted(c.el, 'u32', [D(dimConst(1)), ...shape], (bb) => {
      const cs = ops.cshape(shape);
      return bb.emit1('slice', [ops.atomOf(c.el, b)], {
        start: [i, ...cs.map(() => 0)],
        stop: [i + 1, ...cs],
        step: [1, ...cs.map(() => 1)],
      });
    });
    return ops.reshape(c.el, sl, shape);
  };
  const u1 = uniformFrom(c, half(0), true);
  const u2 = uniformFrom(c, half(1), false);
  const w = (v: number) => ({ ...ops.tval('f32', [], undefined, { k: 'float' as const, v }), weak: true });
  const r = ops.unary(
    c.el,
    'sqrt',
    ops.binary(c.el, 'mul', w(-2), ops.unary(c.el, 'log', u1, c.span, 'log'), c.span, '*'),
    c.span,
    'sqrt',
  );
  const th = ops.unary(c.el, 'cos', ops.binary(c.el, 'mul', w(2 * Math.PI), u2, c.span, '*'), c.span, 'cos');
  return ops.binary(c.el, 'mul', r, th, c.span, '*');
};

export const categorical: Builtin = (c) => {
  arity(c, 2, 2, ['axis']);
  const key = keyArg(c, 0);
  const logits = tensorArg(c, 1);
  if (!isFloat(logits.t.dtype))
    throw new UserError(`categorical expects float logits, found ${ops.showT(logits)}`, c.spans[1]!);
  const u = uniformFrom(c, bits(c, key, logits.t.shape), true);
  const g = ops.unary(
    c.el,
    'neg',
    ops.unary(
      c.el,
      'log',
      ops.unary(c.el, 'neg', ops.unary(c.el, 'log', u, c.span, 'log'), c.span, '-'),
      c.span,
      'log',
    ),
    c.span,
    '-',
  );
  const axis = axesArg(c)?.[0] ?? -1;
  return ops.reduce(
    c.el,
    'argmax',
    ops.binary(c.el, 'add', logits, g, c.span, '+'),
    [axis],
    false,
    c.span,
    'categorical',
  );
};
