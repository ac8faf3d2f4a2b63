// Typed value trees: what a Type flattens to. A type's tensors are its leaves, in flattening order
// (tuple elements, array elements, struct fields in declaration order), each with its path
// (`x.blocks[0].<layer>.w`). The elaborator builds Core values, parameters and leaf lists with it; the
// API rebuilds host results with it. (Host trees without a type: runtime/core/tree.ts.)
import { InternalError, UserError } from '../syntax/diag.ts';
import type { TensorType } from '../../runtime/core/ir.ts';
import { dimValue } from './dim.ts';
import { concreteShape, typeToString, type ShapeItem, type Type } from './types.ts';
import type { DType } from '../../runtime/core/dtype.ts';

/** The fields of a struct type with its arguments substituted (the elaborator knows how). */
export type FieldsOf = (t: Extract<Type, { k: 'struct' }>) => { name: string; t: Type }[];

/** How to make each kind of node when building a tree of type t. */
export interface TreeBuilder<T> {
  tensor(dtype: DType, shape: ShapeItem[], path: string): T;
  tuple(elems: T[], t: Extract<Type, { k: 'tuple' }>): T;
  array(elems: T[], t: Extract<Type, { k: 'array' }>): T;
  struct(fields: [string, T][], t: Extract<Type, { k: 'struct' }>): T;
}

/** Builds a tree of type t bottom-up; leaves are made in flattening order. */
export function buildTree<T>(t: Type, fields: FieldsOf, b: TreeBuilder<T>, path = ''): T {
  switch (t.k) {
    case 'tensor':
      return b.tensor(t.dtype, t.shape, path);
    case 'tuple':
      return b.tuple(
        t.elems.map((e, i) => buildTree(e, fields, b, `${path}.${t.names?.[i] ?? i}`)),
        t,
      );
    case 'array': {
      const n = dimValue(t.len);
      if (n === undefined) throw new InternalError(`${path}: an array of symbolic length has no leaves`);
      return b.array(
        Array.from({ length: n }, (_, i) => buildTree(t.elem, fields, b, `${path}[${i}]`)),
        t,
      );
    }
    case 'struct':
      return b.struct(
        fields(t).map((f) => [f.name, buildTree(f.t, fields, b, `${path}.${f.name}`)]),
        t,
      );
    default:
      throw new UserError(`a ${typeToString(t)} cannot cross the program boundary`);
  }
}

/** The leaf tensor types of a type with their paths, in flattening order (shapes must be known). */
export function leafTypes(t: Type, fields: FieldsOf, path: string): { path: string; t: TensorType }[] {
  const out: { path: string; t: TensorType }[] = [];
  buildTree<void>(
    t,
    fields,
    {
      tensor(dtype, shape, p) {
        const s = concreteShape(shape);
        if (!s) throw new InternalError(`leaf ${p} has a symbolic shape`);
        out.push({ path: p, t: { dtype, shape: s } });
      },
      tuple: () => undefined,
      array: () => undefined,
      struct: () => undefined,
    },
    path,
  );
  return out;
}

/** A host value (nested arrays and objects) of type t from its flat leaves. */
export function unflattenHost<L>(t: Type, fields: FieldsOf, leaves: L[]): unknown {
  let i = 0;
  return buildTree<unknown>(t, fields, {
    tensor: () => leaves[i++],
    // a named tuple (a layer tree) is an object, as the struct it was pruned from
    tuple: (elems, t) => (t.names ? Object.fromEntries(elems.map((e, k) => [t.names![k]!, e])) : elems),
    array: (elems) => elems,
    struct: (fs) => Object.fromEntries(fs),
  });
}
