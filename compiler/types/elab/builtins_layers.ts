// Built-ins over the layers of a model (see layers.ts for what the layers of a model type are):
// lmap(model, f) maps them to another layer type; layers(model) takes them out as a tree, the
// value a training step differentiates and an optimiser updates; with_layers(model, ls) puts a
// layer tree back into a model (of the same or another layer type), keeping its other fields.
import { UserError } from '../../syntax/diag.ts';
import { dimConst, dimEq } from '../dim.ts';
import { typeEq, typeToString, type StructInfo, type Type } from '../types.ts';
import type { Val } from './vals.ts';
import * as ops from './ops.ts';
import { arity, type Builtin, type CallInfo } from './builtin_args.ts';
import { call, fnArg } from './builtins_control.ts';
import { firstLayer, joinParts, layerParts, layersTypeOf, modelCtor, namedParts, retarget } from '../layers.ts';

type StructVal = Extract<Val, { k: 'struct' }>;

/** The parts of a struct or tuple value, in field order. */
function partsOf(c: CallInfo, v: Val): Val[] {
  return v.k === 'tuple' ? v.elems : v.k === 'struct' ? [...c.el.fieldsOf(v).values()] : [];
}

/** Rebuilds a struct or tuple value from new parts, checking a re-instantiated struct's field types. */
function rebuild(c: CallInfo, v: Val, parts: Val[], from: StructInfo, to: StructInfo | undefined, what: string): Val {
  if (v.k === 'tuple') return c.el.tuple(parts, v.t.names);
  const s = v as StructVal;
  const t = (to ? retarget(s.t, from, to) : s.t) as StructVal['t'];
  const fields = new Map<string, Val>();
  c.el.structFields(t).forEach((fd, i) => {
    const got = parts[i]!;
    if (!typeEq(fd.t, got.t as Type))
      throw new UserError(
        `${what}: field ${fd.name} of ${typeToString(t)} must be ${typeToString(fd.t)}, found ${typeToString(got.t as Type)}`,
        c.spans[1] ?? c.span,
      );
    fields.set(fd.name, got);
  });
  return { k: 'struct', t, fields };
}

/** The elements of an array value, or (checking) one placeholder element standing for all. */
function elemsOf(c: CallInfo, v: Extract<Val, { k: 'array' }>): { elems: Val[]; known: boolean } {
  return v.elems ? { elems: v.elems, known: true } : { elems: [c.el.arrayElem(v, undefined, c.span)], known: false };
}

/**
 * lmap(model, f): the model with every layer replaced by f(layer), and every struct around the
 * layers re-instantiated with the layer type f returns (`Llama[Dense, …]` → `Llama[OneBitTrain, …]`).
 * f taking two parameters also gets the layer's ordinal in flattening order (per-layer seeds).
 * Every layer must map to the same layer type.
 */
export const lmap: Builtin = (c) => {
  arity(c, 2);
  const model = c.args[0]!;
  const f = fnArg(c, 1);
  const from = modelCtor(model.t as Type, 'lmap', c.spans[0]!);
  const takes = f.lam ? f.lam.params.length : f.fns ? f.fns[0]!.decl.params.length : 1;
  const st = { to: undefined as StructInfo | undefined, n: 0, lowering: !!c.el.b };
  return lmapRec(c, f, takes === 2, model, from, st);
};

function lmapRec(
  c: CallInfo,
  f: Extract<Val, { k: 'closure' }>,
  indexed: boolean,
  v: Val,
  from: StructInfo,
  st: { to: StructInfo | undefined; n: number; lowering: boolean },
): Val {
  const t = v.t as Type;
  if (v.k === 'struct' && v.t.s === from) {
    // the ordinal is a constant once arrays are unrolled (lowering); a plain i32 when checking
    const k = st.lowering ? ops.tval('i32', [], undefined, { k: 'int', d: dimConst(st.n) }) : ops.tval('i32', []);
    st.n++;
    const r = call(c, f, indexed ? [v, k] : [v]);
    if (r.k !== 'struct')
      throw new UserError(
        `lmap: the function must return a layer struct, found ${typeToString(r.t as Type)}`,
        c.spans[1]!,
      );
    if (st.to && r.t.s !== st.to)
      throw new UserError(
        `lmap: every layer must map to one layer type, found ${st.to.name} and ${r.t.s.name}`,
        c.spans[1]!,
      );
    st.to = r.t.s;
    return r;
  }
  if (!layersTypeOf(t, from, c.el.fields)) return v;
  if (v.k === 'array') {
    const { elems, known } = elemsOf(c, v);
    const out = elems.map((e) => lmapRec(c, f, indexed, e, from, st));
    return { k: 'array', t: { k: 'array', elem: out[0]!.t as Type, len: v.t.len }, elems: known ? out : undefined };
  }
  const parts = partsOf(c, v).map((p) => lmapRec(c, f, indexed, p, from, st));
  return rebuild(c, v, parts, from, st.to, 'lmap');
}

/** layers(model): the model's layer tree (the type Layers[M]). */
export const layersB: Builtin = (c) => {
  arity(c, 1);
  const m = c.args[0]!;
  const from = modelCtor(m.t as Type, 'layers', c.spans[0]!);
  const r = layersRec(c, m, from);
  if (!r) throw new UserError(`${typeToString(m.t as Type)} holds no ${from.name} layers`, c.spans[0]!);
  return r;
};

function layersRec(c: CallInfo, v: Val, from: StructInfo): Val | undefined {
  const t = v.t as Type;
  if (v.k === 'struct' && v.t.s === from) return v;
  const lt = layersTypeOf(t, from, c.el.fields);
  if (!lt) return undefined;
  if (v.k === 'array') {
    const { elems, known } = elemsOf(c, v);
    const out = elems.map((e) => layersRec(c, e, from)!);
    return { k: 'array', t: lt as Extract<Type, { k: 'array' }>, elems: known ? out : undefined };
  }
  const lp = layerParts(t, from, c.el.fields);
  const at = new Set(lp.map((p) => p.at));
  const parts = partsOf(c, v)
    .filter((_, i) => at.has(i))
    .map((p) => layersRec(c, p, from)!);
  // a struct's parts keep their field names; a tuple's join as before
  if (v.k === 'struct') return namedParts(lp, parts, (xs, names) => c.el.tuple(xs, names));
  return joinParts(parts, (xs) => c.el.tuple(xs));
}

/** with_layers(model, ls): the model with its layers replaced by the tree ls (Layers of the model
 *  at ls's layer type); the model's other fields are kept. */
export const withLayers: Builtin = (c) => {
  arity(c, 2);
  const m = c.args[0]!;
  const ls = c.args[1]!;
  const from = modelCtor(m.t as Type, 'with_layers', c.spans[0]!);
  const want = layersTypeOf(m.t as Type, from, c.el.fields);
  if (!want) throw new UserError(`${typeToString(m.t as Type)} holds no ${from.name} layers`, c.spans[0]!);
  const to = firstLayer(ls.t as Type);
  if (!to || !typeEq(retarget(want, from, to), ls.t as Type))
    throw new UserError(
      `with_layers: ${typeToString(ls.t as Type)} is not a layer tree of ${typeToString(m.t as Type)}`,
      c.spans[1]!,
      `expected ${typeToString(want)} with any one layer type in place of ${from.name}`,
    );
  return withRec(c, m, ls, from, to);
};

function withRec(c: CallInfo, v: Val, ls: Val, from: StructInfo, to: StructInfo): Val {
  if (v.k === 'struct' && v.t.s === from) return ls;
  if (v.k === 'array' && ls.k === 'array') {
    if (!dimEq(v.t.len, ls.t.len)) throw new UserError('with_layers: array lengths differ', c.spans[1]!);
    const { elems, known } = elemsOf(c, v);
    const lel = elemsOf(c, ls).elems;
    const out = elems.map((e, i) => withRec(c, e, lel[known ? i : 0]!, from, to));
    return { k: 'array', t: retarget(v.t, from, to) as Extract<Type, { k: 'array' }>, elems: known ? out : undefined };
  }
  const holds = layerParts(v.t as Type, from, c.el.fields).map((p) => p.at);
  const given = holds.length === 1 && v.k !== 'struct' ? [ls] : (ls as Extract<Val, { k: 'tuple' }>).elems;
  const parts = partsOf(c, v).map((p, i) =>
    holds.includes(i) ? withRec(c, p, given[holds.indexOf(i)]!, from, to) : p,
  );
  return rebuild(c, v, parts, from, to, 'with_layers');
}
