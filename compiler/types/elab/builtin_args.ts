// What every built-in function uses: the call it receives (CallInfo) and readers of its arguments
// (arity, tensors, static integers, axes, shapes, dtypes).
import { UserError, type Span } from '../../syntax/diag.ts';
import { dimToString, dimValue, type Dim } from '../dim.ts';
import { D, isDType, type DType, type ShapeItem } from '../types.ts';
import type { Val } from './vals.ts';
import * as ops from './ops.ts';
import type { Elab, Fx } from './elab.ts';

export interface CallInfo {
  el: Elab;
  fx: Fx;
  args: Val[];
  spans: Span[];
  named: Map<string, { v: Val; span: Span }>;
  span: Span;
  name: string;
}

export type Builtin = (c: CallInfo) => Val;

// ---- argument helpers ------------------------------------------------------------------------

export function arity(c: CallInfo, min: number, max = min, namedOk: string[] = []): void {
  if (c.args.length < min || c.args.length > max)
    throw new UserError(
      `${c.name} takes ${min === max ? min : `${min} to ${max}`} positional argument(s), found ${c.args.length}`,
      c.span,
    );
  for (const [n, { span }] of c.named)
    if (!namedOk.includes(n))
      throw new UserError(
        `${c.name} has no parameter named ${n}`,
        span,
        namedOk.length ? `its named parameters: ${namedOk.join(', ')}` : undefined,
      );
}

export function tensorArg(c: CallInfo, i: number, what = 'a tensor'): ops.TVal {
  const v = c.args[i]!;
  if (v.k === 'list') return ops.expectTensor(c.el.listToTensor(v), c.spans[i]!, what);
  return ops.expectTensor(v, c.spans[i]!, what);
}

export function namedOr(c: CallInfo, name: string): { v: Val; span: Span } | undefined {
  return c.named.get(name);
}

export function intConst(v: Val, span: Span, what: string): number {
  if (!ops.isStaticInt(v)) throw new UserError(`${what} must be an integer known at compile time`, span);
  const n = dimValue(v.st.d);
  if (n === undefined) throw new UserError(`${what} must be a constant, found ${dimToString(v.st.d)}`, span);
  return n;
}

function boolConst(v: Val, span: Span, what: string): boolean {
  if (v.k !== 'tensor' || v.st?.k !== 'bool') throw new UserError(`${what} must be true or false`, span);
  return v.st.v;
}

export function staticDim(v: Val, span: Span, what: string): Dim {
  if (!ops.isStaticInt(v)) throw new UserError(`${what} must be a dim (an integer known at compile time)`, span);
  return v.st.d;
}

/** `axis: -1` or `axis: [0, 1]`; undefined means all axes. */
export function axesArg(c: CallInfo): number[] | undefined {
  const a = c.named.get('axis') ?? c.named.get('axes');
  if (!a) return undefined;
  if (a.v.k === 'list') return a.v.items.map((it) => (it.spread ? bad(it.span) : intConst(it.v, it.span, 'an axis')));
  return [intConst(a.v, a.span, 'axis')];
}
export const bad = (span: Span): never => {
  throw new UserError(`'...' is not an axis`, span);
};

export function keepArg(c: CallInfo): boolean {
  const k = c.named.get('keep');
  return k ? boolConst(k.v, k.span, 'keep') : false;
}

/** A shape argument `[T, H * Dh]`, optionally with `...` (the operand's prefix). */
export function shapeArg(c: CallInfo, v: Val, span: Span, prefix?: ShapeItem[]): ShapeItem[] {
  if (v.k !== 'list') throw new UserError(`expected a shape such as [T, D]`, span);
  const out: ShapeItem[] = [];
  for (const it of v.items) {
    if (it.spread) {
      if (!prefix) throw new UserError(`'...' has no meaning in this shape`, it.span);
      out.push(...prefix);
    } else {
      const d = staticDim(it.v, it.span, 'a shape entry');
      const n = dimValue(d);
      if (n !== undefined && (n < 0 || !Number.isInteger(n)))
        throw new UserError(`a dim must be a whole number >= 0, found ${n}`, it.span);
      out.push(D(d));
    }
  }
  void c;
  return out;
}

export function spreadOfEnv(b: import('../unify.ts').Bindings): ShapeItem[] | undefined {
  return b.spread ?? (b.outer ? spreadOfEnv(b.outer) : undefined);
}

export function dtypeArg(c: CallInfo, dflt: DType): DType {
  const d = c.named.get('dtype');
  if (!d) return dflt;
  if (d.v.k === 'closure' && d.v.builtin && isDType(d.v.builtin)) return d.v.builtin;
  throw new UserError(`dtype must be one of f32, f16, i32, u32, bool`, d.span);
}
