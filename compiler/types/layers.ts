// The layers of a model, at the type level. A model type is a struct with exactly one layer-type
// parameter (`Llama[Lin, …]`); its layers are the values of the struct bound to that parameter,
// wherever they sit. `Layers[M]` (and the value `layers(m)`) is the model with everything else
// pruned away: a layer stays itself; a struct becomes a tuple of the layer trees of its fields that
// hold layers, named by those fields (so leaf paths read `blocks[3].<layer>.w`); a tuple becomes the
// layer trees of its elements that hold layers — one such element is that element's tree, several
// a tuple of them; an array stays an array of its element's layer tree. For models/llama.obt:
// (blocks: [(<seven projections by name>); L]), one field holding an array of the blocks' seven projections.
import { UserError, type Span } from '../syntax/diag.ts';
import { typeToString, type StructInfo, type Type } from './types.ts';
import type { FieldsOf } from './tree.ts';

type StructType = Extract<Type, { k: 'struct' }>;

/** The one layer-type argument of a model type. */
export function modelCtor(t: Type, what: string, span: Span): StructInfo {
  if (t.k !== 'struct')
    throw new UserError(`${what} expects a model (a struct of layers), found ${typeToString(t)}`, span);
  const ctors = t.args.flatMap((a) => (a.k === 'ctor' ? [a.s] : []));
  if (ctors.length !== 1)
    throw new UserError(
      `${what} needs a struct with exactly one layer-type parameter, ${typeToString(t)} has ${ctors.length}`,
      span,
    );
  return ctors[0]!;
}

/** The parts of a struct or tuple type that hold layers of type `from`, with their positions (and
 *  a struct's field names). */
export function layerParts(t: Type, from: StructInfo, fields: FieldsOf): { at: number; t: Type; name?: string }[] {
  const parts: { t: Type; name?: string }[] =
    t.k === 'tuple' ? t.elems.map((e) => ({ t: e })) : t.k === 'struct' ? fields(t) : [];
  const out: { at: number; t: Type; name?: string }[] = [];
  parts.forEach((p, at) => {
    const lt = layersTypeOf(p.t, from, fields);
    if (lt) out.push({ at, t: lt, name: p.name });
  });
  return out;
}

/** A struct's layer parts as one tuple named by its fields (undefined: none hold layers). */
export function namedParts<T>(
  parts: { name?: string }[],
  values: T[],
  tuple: (xs: T[], names: string[]) => T,
): T | undefined {
  return parts.length
    ? tuple(
        values,
        parts.map((p) => p.name!),
      )
    : undefined;
}

/** Joins the layer trees of a struct's or tuple's parts: none, the one, or a tuple of several. */
export function joinParts<T>(parts: T[], tuple: (xs: T[]) => T): T | undefined {
  return parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : tuple(parts);
}

/** The layer tree type of t (undefined: t holds no layers of type `from`). */
export function layersTypeOf(t: Type, from: StructInfo, fields: FieldsOf): Type | undefined {
  switch (t.k) {
    case 'struct': {
      if (t.s === from) return t;
      const parts = layerParts(t, from, fields);
      return namedParts(
        parts,
        parts.map((p) => p.t),
        (elems, names) => ({ k: 'tuple', elems, names }),
      );
    }
    case 'tuple':
      return joinParts(
        layerParts(t, from, fields).map((p) => p.t),
        (elems) => ({ k: 'tuple', elems }),
      );
    case 'array': {
      const e = layersTypeOf(t.elem, from, fields);
      return e && { k: 'array', elem: e, len: t.len };
    }
    default:
      return undefined;
  }
}

/** `Layers[M]` for a model type M. */
export function modelLayersType(m: Type, fields: FieldsOf, span: Span): Type {
  const from = modelCtor(m, 'Layers', span);
  const t = layersTypeOf(m, from, fields);
  if (!t) throw new UserError(`${typeToString(m)} holds no ${from.name} layers`, span);
  return t;
}

/** A type with the layer type `from` replaced by `to`: in struct arguments, and the layers themselves. */
export function retarget(t: Type, from: StructInfo, to: StructInfo): Type {
  switch (t.k) {
    case 'struct': {
      const args = t.args.map((a) =>
        a.k === 'ctor' && a.s === from
          ? ({ k: 'ctor', s: to } as const)
          : a.k === 'type'
            ? ({ k: 'type', t: retarget(a.t, from, to) } as const)
            : a,
      );
      return { k: 'struct', s: t.s === from ? to : t.s, args } satisfies StructType;
    }
    case 'tuple':
      return { ...t, elems: t.elems.map((e) => retarget(e, from, to)) };
    case 'array':
      return { k: 'array', elem: retarget(t.elem, from, to), len: t.len };
    default:
      return t;
  }
}

/** The first layer struct in a layer tree type (the layer type it holds). */
export function firstLayer(t: Type): StructInfo | undefined {
  switch (t.k) {
    case 'struct':
      return t.s;
    case 'tuple':
      for (const e of t.elems) {
        const s = firstLayer(e);
        if (s) return s;
      }
      return undefined;
    case 'array':
      return firstLayer(t.elem);
    default:
      return undefined;
  }
}
