// The types of the elaborator's values: struct fields, placeholders of a type, values built from /
// flattened to tensor leaves — functions of the elaborator (elab.ts), which reaches them through
// methods of the same names.
import { InternalError, UserError, type Span } from '../../syntax/diag.ts';
import type { ModuleInfo } from '../../resolve/modules.ts';
import type { CoreBuilder } from './builder.ts';
import type { Atom, TensorType } from '../../../runtime/core/ir.ts';
import type { Elab } from './elab.ts';
import { dimValue } from '../dim.ts';
import type { Type } from '../types.ts';
import { structFieldTypes, type Bindings } from '../unify.ts';
import { ERRV, type Scope, type Val } from './vals.ts';
import * as ops from './ops.ts';
import { buildTree, leafTypes as treeLeafTypes } from '../tree.ts';

export interface Fx {
  module: ModuleInfo;
  env: Bindings; // generic names: dims, types, '...'
  scope: Scope;
  /** description of the instantiation being checked, for notes */
  inst?: string;
}

/** Sentinel thrown to abandon a function after its errors were reported. */
export class Reported extends Error {}

// ---------------------------------------------------------------------------------------------
// Types of values
export function structFields(el: Elab, t: Extract<Type, { k: 'struct' }>): { name: string; t: Type; span: Span }[] {
  return structFieldTypes(t, !!el.b);
}

/** A value of a type with no atoms (checking). */
export function placeholder(el: Elab, t: Type): Val {
  switch (t.k) {
    case 'tensor':
      return ops.tval(t.dtype, t.shape);
    case 'tuple':
      return { k: 'tuple', t, elems: t.elems.map((e) => placeholder(el, e)) };
    case 'array':
      return { k: 'array', t };
    case 'struct':
      return { k: 'struct', t };
    case 'fn':
      return ERRV;
    case 'error':
      return ERRV;
  }
}

export function fieldsOf(el: Elab, v: Extract<Val, { k: 'struct' }>): Map<string, Val> {
  if (!v.fields) {
    v.fields = new Map(structFields(el, v.t).map((f) => [f.name, placeholder(el, f.t)]));
  }
  return v.fields;
}

/** One element of an array (any element when checking). */
export function arrayElem(el: Elab, v: Extract<Val, { k: 'array' }>, i: number | undefined, span: Span): Val {
  if (v.elems) {
    if (i === undefined) return v.elems[0] ?? placeholder(el, v.t.elem);
    if (i < 0 || i >= v.elems.length)
      throw new UserError(`index ${i} is out of range for an array of length ${v.elems.length}`, span);
    return v.elems[i]!;
  }
  const n = dimValue(v.t.len);
  if (i !== undefined && n !== undefined && (i < 0 || i >= n))
    throw new UserError(`index ${i} is out of range for an array of length ${n}`, span);
  return placeholder(el, v.t.elem);
}

/** Builds a value from Core leaves in flattening order (lowering). */
export function fromLeaves(el: Elab, t: Type, next: () => Atom): Val {
  return buildTree<Val>(t, el.fields, {
    tensor: (dtype, shape) => ops.tval(dtype, shape, next()),
    tuple: (elems, tt) => ({ k: 'tuple', t: tt, elems }),
    array: (elems, tt) => ({ k: 'array', t: tt, elems }),
    struct: (fs, tt) => ({ k: 'struct', t: tt, fields: new Map(fs) }),
  });
}

/** A value of type t made of fresh parameters of a builder (one per leaf). */
export function paramValue(el: Elab, b: CoreBuilder, t: Type, name: string): Val {
  const vars = leafTypes(el, t, name).map((l) => b.param(l.t));
  let k = 0;
  return fromLeaves(el, t, () => vars[k++]!);
}

/** Leaf tensor types and path names of a type (flattening order). */
export function leafTypes(el: Elab, t: Type, path: string): { path: string; t: TensorType }[] {
  return treeLeafTypes(t, el.fields, path);
}

/** All tensor atoms of a value in flattening order (lowering). */
export function atoms(el: Elab, v: Val, out: Atom[] = []): Atom[] {
  switch (v.k) {
    case 'tensor':
      out.push(ops.atomOf(el, v));
      break;
    case 'tuple':
      v.elems.forEach((e) => atoms(el, e, out));
      break;
    case 'array':
      (v.elems ?? []).forEach((e) => atoms(el, e, out));
      break;
    case 'struct':
      for (const f of fieldsOf(el, v).values()) atoms(el, f, out);
      break;
    case 'error':
      throw new InternalError('lowering an erroneous value');
    default:
      throw new UserError(`a ${v.k === 'closure' ? 'function' : v.k} cannot be stored in a tensor program value`);
  }
  return out;
}
