// Tensor indexing `x[a:b:s, i, ..., idx]`: static ranges and indices become one slice, run-time
// scalar indices a dynamic_slice, a tensor of indices a gather; indexed axes are then dropped.
import { UserError, type Span } from '../../syntax/diag.ts';
import type * as A from '../../syntax/ast.ts';
import { lit, type Atom } from '../../../runtime/core/ir.ts';
import { dimAdd, dimConst, dimDiv, dimToString, dimValue, type Dim } from '../dim.ts';
import { D, shapeToString, type ShapeItem } from '../types.ts';
import type { Val } from './vals.ts';
import * as ops from './ops.ts';
import type { Elab, Fx } from './elab.ts';

type Axis =
  | { k: 'keep' }
  | { k: 'range'; start: Dim; stop: Dim; step: number; out: Dim }
  | { k: 'static'; i: Dim }
  | { k: 'dyn'; v: ops.TVal }
  | { k: 'gather'; idx: ops.TVal };

function staticIndex(el: Elab, e: A.Expr | undefined, fx: Fx, what: string): Dim | undefined {
  if (!e) return undefined;
  const v = el.expr(e, fx);
  if (!ops.isStaticInt(v))
    throw new UserError(
      `a slice ${what} must be an integer known at compile time`,
      e.span,
      'for a run-time position use x[i] with a scalar i, or slice_at(x, starts, sizes)',
    );
  return v.st.d;
}

/** Wraps a negative constant index around the dim; checks constant bounds. */
function wrap(i: Dim, dim: Dim, span: Span, allowEnd: boolean): Dim {
  const v = dimValue(i);
  const n = dimValue(dim);
  if (v === undefined) return i;
  const r = v < 0 ? dimAdd(dim, dimConst(v)) : i;
  const rv = dimValue(r);
  if (n !== undefined && rv !== undefined && (rv < 0 || rv > n || (!allowEnd && rv === n)))
    throw new UserError(`index ${v} is out of range for a dim of size ${n}`, span);
  return r;
}

export function indexTensor(el: Elab, x: ops.TVal, items: A.IndexItem[], fx: Fx, span: Span): Val {
  const shape = x.t.shape;
  const spreadAt = items.findIndex((it) => it.kind === 'spread');
  if (items.filter((it) => it.kind === 'spread').length > 1) throw new UserError(`at most one '...' in an index`, span);
  const before = spreadAt < 0 ? items : items.slice(0, spreadAt);
  const after = spreadAt < 0 ? [] : items.slice(spreadAt + 1);
  const fixed = before.length + after.length;
  if (fixed > shape.length)
    throw new UserError(`${fixed} indices for a tensor of rank ${shape.length} (${ops.showT(x)})`, span);
  const axes: Axis[] = shape.map(() => ({ k: 'keep' }));
  const assign = (it: A.IndexItem, j: number) => {
    const item = shape[j]!;
    if (item.k === 'spread')
      throw new UserError(
        `this index falls inside the '...' of ${ops.showT(x)}`,
        it.span,
        "use '...' in the index to skip the rank-polymorphic prefix",
      );
    const dim = item.d;
    if (it.kind === 'range') {
      const step = it.step ? staticIndex(el, it.step, fx, 'step') : dimConst(1);
      const sv = dimValue(step!);
      if (sv === undefined || !Number.isInteger(sv) || sv < 1)
        throw new UserError(`a slice step must be a positive constant`, it.span);
      const start = wrap(staticIndex(el, it.start, fx, 'start') ?? dimConst(0), dim, it.span, true);
      const stop = wrap(staticIndex(el, it.stop, fx, 'stop') ?? dim, dim, it.span, true);
      const len = dimAdd(stop, start, -1);
      const lv = dimValue(len);
      if (lv !== undefined && lv < 0)
        throw new UserError(`empty slice ${dimToString(start)}:${dimToString(stop)}`, it.span);
      let out: Dim;
      if (sv === 1) out = len;
      else if (lv !== undefined) out = dimConst(Math.ceil(lv / sv));
      else out = dimDiv(len, dimConst(sv))!;
      axes[j] = { k: 'range', start, stop, step: sv, out };
      return;
    }
    if (it.kind !== 'single') return;
    const v = el.expr(it.value, fx);
    if (v.k === 'error') throw new UserError('', it.span);
    if (ops.isStaticInt(v)) {
      axes[j] = { k: 'static', i: wrap(v.st.d, dim, it.span, false) };
      return;
    }
    const t = ops.expectTensor(v, it.value.span, 'an index');
    if (t.t.dtype !== 'i32' && t.t.dtype !== 'u32')
      throw new UserError(`an index must be an integer, found ${ops.showT(t)}`, it.value.span);
    const ti = ops.retype(el, t, 'i32');
    if (ti.t.shape.length === 0) axes[j] = { k: 'dyn', v: ti };
    else {
      if (axes.some((a) => a.k === 'gather')) throw new UserError(`only one tensor of indices per indexing`, it.span);
      axes[j] = { k: 'gather', idx: ti };
    }
  };
  before.forEach((it, i) => assign(it, i));
  after.forEach((it, i) => assign(it, shape.length - after.length + i));

  // result type
  const outShape: ShapeItem[] = [];
  axes.forEach((a, j) => {
    if (a.k === 'keep') outShape.push(shape[j]!);
    else if (a.k === 'range') outShape.push(D(a.out));
    else if (a.k === 'gather') outShape.push(...a.idx.t.shape);
  });
  if (!el.b) return ops.tval(x.t.dtype, outShape);

  // lowering
  let cur = x;
  const cs = ops.cshape(x);
  if (axes.some((a) => a.k === 'range' || a.k === 'static')) {
    const start = axes.map((a) => (a.k === 'range' ? dimValue(a.start)! : a.k === 'static' ? dimValue(a.i)! : 0));
    const stop = axes.map((a, j) =>
      a.k === 'range' ? dimValue(a.stop)! : a.k === 'static' ? dimValue(a.i)! + 1 : cs[j]!,
    );
    const step = axes.map((a) => (a.k === 'range' ? a.step : 1));
    const sh = axes.map((a, j) => (a.k === 'range' ? dimValue(a.out)! : a.k === 'static' ? 1 : cs[j]!));
    cur = ops.tval(
      x.t.dtype,
      sh.map((n) => D(dimConst(n))),
      el.b.emit1('slice', [ops.atomOf(el, cur)], { start, stop, step }),
    );
  }
  if (axes.some((a) => a.k === 'dyn')) {
    const curShape = ops.cshape(cur);
    const starts: Atom[] = axes.map((a) => (a.k === 'dyn' ? ops.atomOf(el, a.v) : lit(0, 'i32')));
    const sizes = curShape.map((n, j) => (axes[j]!.k === 'dyn' ? 1 : n));
    cur = ops.tval(
      x.t.dtype,
      sizes.map((n) => D(dimConst(n))),
      el.b.emit1('dynamic_slice', [ops.atomOf(el, cur), ...starts], { sizes }),
    );
  }
  const dropped = ops.cshape(cur).filter((_, j) => axes[j]!.k !== 'static' && axes[j]!.k !== 'dyn');
  cur = ops.reshape(
    el,
    cur,
    dropped.map((n) => D(dimConst(n))),
  );
  const g = axes.filter((a) => a.k !== 'static' && a.k !== 'dyn').findIndex((a) => a.k === 'gather');
  if (g >= 0) {
    const idx = (axes.find((a) => a.k === 'gather') as { idx: ops.TVal }).idx;
    cur = ops.tval(x.t.dtype, outShape, el.b.emit1('gather', [ops.atomOf(el, cur), ops.atomOf(el, idx)], { axis: g }));
  }
  if (cur.t.shape.length !== outShape.length)
    throw new UserError(`internal: index result [${shapeToString(cur.t.shape)}]`, span);
  return ops.tval(x.t.dtype, outShape, cur.atom);
}
