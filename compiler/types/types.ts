// Semantic types of the checker: tensors with symbolic shapes, structs, tuples, arrays, closures.
import { dimEq, dimToString, dimValue, type Dim } from './dim.ts';

import type { DType } from '../../runtime/core/dtype.ts';
import type { StructInfo } from '../resolve/symbols.ts';

export type { GenericKind, StructInfo } from '../resolve/symbols.ts';

export { DTYPES, isDType, isFloat, isInt, type DType } from '../../runtime/core/dtype.ts';

/** One item of a shape: a dim, or the rank-polymorphic prefix `...` of the function being checked. */
export type ShapeItem = { k: 'dim'; d: Dim } | { k: 'spread'; name: string };
export const D = (d: Dim): ShapeItem => ({ k: 'dim', d });

export type TArg = { k: 'dim'; d: Dim } | { k: 'type'; t: Type } | { k: 'ctor'; s: StructInfo };

export type Type =
  | { k: 'tensor'; dtype: DType; shape: ShapeItem[] }
  | { k: 'struct'; s: StructInfo; args: TArg[] }
  /** names: a layer tree's parts keep their fields' names (Layers[M]: leaf paths read
   *  `blocks[3].<layer>.w`); positional all the same (`.0`), and equal to the unnamed tuple */
  | { k: 'tuple'; elems: Type[]; names?: string[] }
  | { k: 'array'; elem: Type; len: Dim }
  | { k: 'fn' }
  | { k: 'error' };

export const tensor = (dtype: DType, shape: ShapeItem[] = []): Type => ({ k: 'tensor', dtype, shape });

export function shapeToString(shape: ShapeItem[]): string {
  return shape.map((it) => (it.k === 'spread' ? '...' : dimToString(it.d))).join(', ');
}

export function typeToString(t: Type): string {
  switch (t.k) {
    case 'tensor':
      return t.shape.length ? `${t.dtype}[${shapeToString(t.shape)}]` : t.dtype;
    case 'struct':
      return t.args.length ? `${t.s.name}[${t.args.map(targToString).join(', ')}]` : t.s.name;
    case 'tuple':
      return `(${t.elems.map((e, i) => (t.names ? `${t.names[i]}: ` : '') + typeToString(e)).join(', ')})`;
    case 'array':
      return `[${typeToString(t.elem)}; ${dimToString(t.len)}]`;
    case 'fn':
      return 'fn';
    case 'error':
      return '<error>';
  }
}

function targToString(a: TArg): string {
  return a.k === 'dim' ? dimToString(a.d) : a.k === 'type' ? typeToString(a.t) : a.s.name;
}

export function shapeEq(a: ShapeItem[], b: ShapeItem[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i]!;
      if (x.k === 'spread') return y.k === 'spread' && x.name === y.name;
      if (y.k === 'spread') return false;
      return dimEq(x.d, y.d);
    })
  );
}

export function typeEq(a: Type, b: Type): boolean {
  if (a.k === 'error' || b.k === 'error') return true;
  if (a.k !== b.k) return false;
  switch (a.k) {
    case 'tensor': {
      const y = b as typeof a;
      return a.dtype === y.dtype && shapeEq(a.shape, y.shape);
    }
    case 'struct': {
      const y = b as typeof a;
      return a.s === y.s && a.args.length === y.args.length && a.args.every((x, i) => targEq(x, y.args[i]!));
    }
    case 'tuple': {
      const y = b as typeof a;
      return a.elems.length === y.elems.length && a.elems.every((x, i) => typeEq(x, y.elems[i]!));
    }
    case 'array': {
      const y = b as typeof a;
      return dimEq(a.len, y.len) && typeEq(a.elem, y.elem);
    }
    case 'fn':
      return true;
  }
}

export function targEq(a: TArg, b: TArg): boolean {
  if (a.k !== b.k) return false;
  if (a.k === 'dim') return dimEq(a.d, (b as typeof a).d);
  if (a.k === 'type') return typeEq(a.t, (b as typeof a).t);
  return a.s === (b as typeof a).s;
}

export function hasError(t: Type): boolean {
  switch (t.k) {
    case 'error':
      return true;
    case 'tuple':
      return t.elems.some(hasError);
    case 'array':
      return hasError(t.elem);
    case 'struct':
      return t.args.some((a) => a.k === 'type' && hasError(a.t));
    default:
      return false;
  }
}

/** The concrete shape of a tensor type whose dims are all known integers; undefined otherwise. */
export function concreteShape(shape: ShapeItem[]): number[] | undefined {
  const out: number[] = [];
  for (const it of shape) {
    if (it.k === 'spread') return undefined;
    const v = dimValue(it.d);
    if (v === undefined || !Number.isInteger(v)) return undefined;
    out.push(v);
  }
  return out;
}
