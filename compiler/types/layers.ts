// The layers of a model, at the type level. A model type is a struct with exactly one layer-type
// parameter (`Llama[Lin, …]`); its layers are the values of the struct bound to that parameter,
// wherever they sit. `Layers[M]` (and the value `layers(m)`) is the model with everything else
// pruned away: a layer stays itself; a struct or tuple becomes the layer trees of its parts that
// hold layers — one such part is that part's tree, several are a tuple of them in field order;
// an array stays an array of its element's layer tree. For models/llama.obt: an array over the blocks of a tuple of each block's seven projections.
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

/** The parts of a struct or tuple type that hold layers of type `from`, with their positions. */
export function layerParts(t: Type, from: StructInfo, fields: FieldsOf): { at: number; t: Type }[] {
  const parts = t.k === 'tuple' ? t.elems : t.k === 'struct' ? fields(t).map((f) => f.t) : [];
  const out: { at: number; t: Type }[] = [];
  parts.forEach((p, at) => {
    const lt = layersTypeOf(p, from, fields);
    if (lt) out.push({ at, t: lt });
  });
  return out;
}

/** Joins the layer trees of a struct's or tuple's parts: none, the one, or a tuple of several. */
export function joinParts<T>(parts: T[], tuple: (xs: T[]) => T): T | undefined {
  return parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : tuple(parts);
}

/** The layer tree type of t (undefined: t holds no layers of type `from`). */
export function layersTypeOf(t: Type, from: StructInfo, fields: FieldsOf): Type | undefined {
  switch (t.k) {
    case 'struct':
      if (t.s === from) return t;
      return joinParts(
        layerParts(t, from, fields).map((p) => p.t),
        (elems) => ({ k: 'tuple', elems }),
      );
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
      return { k: 'tuple', elems: t.elems.map((e) => retarget(e, from, to)) };
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
