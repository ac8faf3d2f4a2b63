// Type expressions → types, and matching a generic signature against argument types: binds dim
// variables (solving `H * Dh = 64` style constraints), the rank-polymorphic prefix `...`, type and
// layer-type parameters.
import { UserError, type Span } from '../syntax/diag.ts';
import type * as A from '../syntax/ast.ts';
import { lookupStruct, type ModuleInfo } from '../resolve/modules.ts';
import { LAYERS_TYPE } from '../resolve/symbols.ts';
import { firstLayer, modelLayersType } from './layers.ts';
import {
  dimAdd,
  dimConst,
  dimDiv,
  dimEq,
  dimMul,
  dimSolve,
  dimSubst,
  dimToString,
  dimValue,
  dimVar,
  dimVars,
  type Dim,
} from './dim.ts';
import {
  D,
  isDType,
  shapeEq,
  shapeToString,
  targEq,
  typeEq,
  typeToString,
  type GenericKind,
  type ShapeItem,
  type StructInfo,
  type TArg,
  type Type,
} from './types.ts';

/** What generic names mean while resolving a type expression. */
export interface Bindings {
  kinds: Map<string, GenericKind>; // the generics being solved (empty when only resolving)
  dims: Map<string, Dim>;
  spread?: ShapeItem[];
  types: Map<string, TArg>;
  deferred: { e: A.DimExpr; actual: Dim; no?: (why?: string) => never }[];
  module: ModuleInfo;
  /** outer names (the enclosing function's dims/types) visible to lambdas and lets */
  outer?: Bindings;
  /** lowering: every dim must be a whole number */
  concrete: boolean;
}

export function newBindings(
  module: ModuleInfo,
  kinds = new Map<string, GenericKind>(),
  concrete = false,
  outer?: Bindings,
): Bindings {
  return { kinds, dims: new Map(), types: new Map(), deferred: [], module, outer, concrete };
}

function lookupDim(b: Bindings, name: string): Dim | undefined {
  return b.dims.get(name) ?? (b.kinds.has(name) ? undefined : b.outer ? lookupDim(b.outer, name) : undefined);
}
function lookupTypeArg(b: Bindings, name: string): TArg | undefined {
  return b.types.get(name) ?? (b.kinds.has(name) ? undefined : b.outer ? lookupTypeArg(b.outer, name) : undefined);
}
function isGenericHere(b: Bindings, name: string): boolean {
  return b.kinds.has(name);
}
function knownDimName(b: Bindings, name: string): boolean {
  if (b.kinds.has(name)) return b.kinds.get(name)!.k === 'dim';
  if (b.dims.has(name)) return true;
  return b.outer ? knownDimName(b.outer, name) : false;
}
function spreadOf(b: Bindings): ShapeItem[] | undefined {
  return b.spread ?? (b.outer ? spreadOf(b.outer) : undefined);
}

/** Evaluates a dim expression; unknown generic variables stay symbolic when `partial`. */
export function evalDim(e: A.DimExpr, b: Bindings, partial = false): Dim {
  switch (e.kind) {
    case 'int':
      return dimConst(e.value);
    case 'var': {
      const d = lookupDim(b, e.name);
      if (d) return d;
      if (partial && isGenericHere(b, e.name)) return dimVar('?' + e.name);
      if (isGenericHere(b, e.name))
        throw new UserError(`cannot infer dim ${e.name}`, e.span, 'pass an argument whose shape fixes it');
      if (lookupTypeArg(b, e.name)) throw new UserError(`${e.name} is a type, not a dim`, e.span);
      throw new UserError(`unknown dim ${e.name}`, e.span, `declare it as a generic parameter: fn f[${e.name}](...)`);
    }
    case 'bin': {
      const x = evalDim(e.a, b, partial);
      const y = evalDim(e.b, b, partial);
      if (e.op === '+') return dimAdd(x, y);
      if (e.op === '-') return dimAdd(x, y, -1);
      if (e.op === '*') return dimMul(x, y);
      const q = dimDiv(x, y);
      if (!q)
        throw new UserError(
          `cannot divide by the sum ${dimToString(y)}`,
          e.span,
          'a dim may be divided only by a product of dims',
        );
      return q;
    }
  }
}

function checkWhole(d: Dim, span: Span, b: Bindings, what: string): Dim {
  const v = dimValue(d);
  if (v !== undefined && (!Number.isInteger(v) || v < 0))
    throw new UserError(
      `${what} evaluates to ${Number.isInteger(v) ? v : v.toFixed(4)}, which is not a valid dim`,
      span,
      v < 0 ? undefined : 'the division in it is not exact for these sizes',
    );
  void b;
  return d;
}

/** Resolves a type expression under bindings (all its generics must be known). */
export function resolveType(t: A.TypeExpr, b: Bindings): Type {
  switch (t.kind) {
    case 'tuple':
      return { k: 'tuple', elems: t.elems.map((e) => resolveType(e, b)) };
    case 'array':
      return {
        k: 'array',
        elem: resolveType(t.elem, b),
        len: checkWhole(evalDim(t.len, b), t.len.span, b, 'array length'),
      };
    case 'name': {
      if (isDType(t.name)) return { k: 'tensor', dtype: t.name, shape: [] };
      const ta = lookupTypeArg(b, t.name);
      if (ta) {
        if (ta.k === 'type') return ta.t;
        if (ta.k === 'ctor') throw new UserError(`layer type ${t.name} needs its dims: ${t.name}[...]`, t.span);
        throw new UserError(`${t.name} is a dim, not a type`, t.span);
      }
      if (isGenericHere(b, t.name)) throw new UserError(`cannot infer type ${t.name}`, t.span);
      if (knownDimName(b, t.name)) throw new UserError(`${t.name} is a dim, not a type`, t.span);
      const s = lookupStruct(b.module, t.name);
      if (s) return applyStruct(s, [], t, b);
      throw new UserError(`unknown type ${t.name}`, t.span);
    }
    case 'applied': {
      if (isDType(t.name)) return { k: 'tensor', dtype: t.name, shape: resolveShape(t.args, b, t.span) };
      if (t.name === LAYERS_TYPE) return resolveLayers(t, b);
      const ta = lookupTypeArg(b, t.name);
      if (ta) {
        if (ta.k !== 'ctor') throw new UserError(`${t.name} takes no arguments`, t.span);
        return applyStruct(ta.s, t.args, t, b);
      }
      if (isGenericHere(b, t.name)) throw new UserError(`cannot infer layer type ${t.name}`, t.span);
      const s = lookupStruct(b.module, t.name);
      if (s) return applyStruct(s, t.args, t, b);
      throw new UserError(`unknown type ${t.name}`, t.span);
    }
  }
}

function resolveShape(args: A.TypeArg[], b: Bindings, span: Span): ShapeItem[] {
  const out: ShapeItem[] = [];
  let spreads = 0;
  for (const a of args) {
    if (a.kind === 'spread') {
      spreads++;
      const sp = spreadOf(b);
      if (!sp) throw new UserError(`'...' is not bound here`, a.span);
      out.push(...sp);
    } else out.push(D(checkWhole(argDim(a, b), a.span, b, 'dim')));
  }
  if (spreads > 1) throw new UserError(`at most one '...' per shape`, span);
  return out;
}

function argDim(a: Exclude<A.TypeArg, { kind: 'spread' }>, b: Bindings): Dim {
  if (a.kind === 'dim') return evalDim(a.dim, b);
  if (a.type.kind === 'name') return evalDim({ kind: 'var', name: a.type.name, span: a.type.span }, b);
  throw new UserError(`expected a dim, found the type ${typeExprToString(a.type)}`, a.span);
}

function applyStruct(s: StructInfo, args: A.TypeArg[], t: A.TypeExpr, b: Bindings): Type {
  if (args.length !== s.params.length)
    throw new UserError(
      `${s.name} takes ${s.params.length} argument(s), found ${args.length}`,
      t.span,
      s.params.length ? `${s.name}[${s.params.map((p) => p.name).join(', ')}]` : undefined,
    );
  const targs: TArg[] = args.map((a, i) => {
    const k = s.params[i]!.kind;
    if (a.kind === 'spread') throw new UserError(`'...' is not allowed in a struct's arguments`, a.span);
    if (k.k === 'dim') return { k: 'dim', d: checkWhole(argDim(a, b), a.span, b, 'dim') };
    if (a.kind !== 'type')
      throw new UserError(
        `${s.name}'s parameter ${s.params[i]!.name} is a ${k.k === 'ctor' ? 'layer type' : 'type'}, found a dim expression`,
        a.span,
      );
    if (k.k === 'type') return { k: 'type', t: resolveType(a.type, b) };
    // ctor
    if (a.type.kind !== 'name')
      throw new UserError(`expected a layer type name (e.g. Dense), found ${typeExprToString(a.type)}`, a.span);
    const bound = lookupTypeArg(b, a.type.name);
    if (bound) {
      if (bound.k !== 'ctor') throw new UserError(`${a.type.name} is not a layer type`, a.span);
      return bound;
    }
    const ls = lookupStruct(b.module, a.type.name);
    if (!ls) throw new UserError(`unknown layer type ${a.type.name}`, a.span);
    if (k.k === 'ctor' && ls.params.length !== k.arity)
      throw new UserError(
        `${a.type.name} takes ${ls.params.length} dim(s) but ${s.name} uses it with ${k.arity}`,
        a.span,
      );
    return { k: 'ctor', s: ls };
  });
  return { k: 'struct', s, args: targs };
}

/** The fields of a struct type with its arguments substituted, resolved in the struct's module. */
export function structFieldTypes(
  t: Extract<Type, { k: 'struct' }>,
  concrete: boolean,
): { name: string; t: Type; span: Span }[] {
  const s = t.s;
  const b = newBindings(s.module, new Map(), concrete);
  s.params.forEach((p, i) => {
    const a = t.args[i]!;
    if (a.k === 'dim') b.dims.set(p.name, a.d);
    else b.types.set(p.name, a);
  });
  return s.decl.fields.map((f) => ({ name: f.name, t: resolveType(f.type, b), span: f.span }));
}

/** `Layers[M]`: the type of layers(m) for a model type M (resolved under b). */
function resolveLayers(t: Extract<A.TypeExpr, { kind: 'applied' }>, b: Bindings): Type {
  const a = t.args[0];
  if (t.args.length !== 1 || a?.kind !== 'type')
    throw new UserError(
      `${LAYERS_TYPE} takes one model type, e.g. ${LAYERS_TYPE}[Llama[Lin, V, D, F, H, KV, L]]`,
      t.span,
    );
  const m = resolveType(a.type, b);
  return modelLayersType(m, (st) => structFieldTypes(st, b.concrete), t.span);
}

// ---------------------------------------------------------------------------------------------
// Matching (callee pattern against caller argument types)

export class Mismatch {
  constructor(readonly why: string) {}
}

export function unifyType(te: A.TypeExpr, actual: Type, b: Bindings): void {
  if (actual.k === 'error') return;
  const no = (why?: string): never => {
    throw new Mismatch(why ?? `expected ${showPattern(te, b)}, found ${typeToString(actual)}`);
  };
  switch (te.kind) {
    case 'tuple':
      if (actual.k !== 'tuple' || actual.elems.length !== te.elems.length) no();
      te.elems.forEach((e, i) => unifyType(e, (actual as { elems: Type[] }).elems[i]!, b));
      return;
    case 'array':
      if (actual.k !== 'array') no();
      unifyDim(te.len, (actual as { len: Dim }).len, b, no);
      unifyType(te.elem, (actual as { elem: Type }).elem, b);
      return;
    case 'name':
    case 'applied': {
      const args = te.kind === 'applied' ? te.args : [];
      if (isDType(te.name)) {
        if (actual.k !== 'tensor' || actual.dtype !== te.name) no();
        unifyShape(args, (actual as { shape: ShapeItem[] }).shape, b, no);
        return;
      }
      if (te.kind === 'applied' && te.name === LAYERS_TYPE) {
        // M's layer type comes from the tree (its first layer); M's dims from earlier arguments
        bindLayerType(te, actual, b);
        let want: Type;
        try {
          want = resolveLayers(te, b);
        } catch (e) {
          if (e instanceof UserError)
            no(`${typeExprToString(te)} needs its model type fixed by an earlier argument (${e.message})`);
          throw e;
        }
        if (!typeEq(want!, actual)) no(`expected ${typeToString(want!)}, found ${typeToString(actual)}`);
        return;
      }
      if (isGenericHere(b, te.name)) {
        const k = b.kinds.get(te.name)!;
        if (k.k === 'type') {
          const prev = b.types.get(te.name);
          if (prev) {
            if (!targEq(prev, { k: 'type', t: actual }))
              no(
                `${te.name} is ${typeToString((prev as { t: Type }).t)} from an earlier argument, found ${typeToString(actual)}`,
              );
          } else b.types.set(te.name, { k: 'type', t: actual });
          return;
        }
        if (k.k === 'ctor') {
          if (actual.k !== 'struct') no();
          const st = actual as Extract<Type, { k: 'struct' }>;
          const prev = b.types.get(te.name);
          if (prev && !(prev.k === 'ctor' && prev.s === st.s)) no();
          b.types.set(te.name, { k: 'ctor', s: st.s });
          if (st.args.length !== args.length) no();
          args.forEach((a, i) => unifyArg(a, st.args[i]!, b, no));
          return;
        }
        no(`${te.name} is a dim, not a type`);
      }
      const outerT = lookupTypeArg(b, te.name);
      const s = outerT?.k === 'ctor' ? outerT.s : outerT ? undefined : lookupStruct(b.module, te.name);
      if (outerT?.k === 'type') {
        if (!typeEq(outerT.t, actual)) no();
        return;
      }
      if (!s) throw new UserError(`unknown type ${te.name}`, te.span);
      if (actual.k !== 'struct' || actual.s !== s) no();
      const st = actual as Extract<Type, { k: 'struct' }>;
      if (args.length !== s.params.length)
        throw new UserError(`${s.name} takes ${s.params.length} argument(s), found ${args.length}`, te.span);
      args.forEach((a, i) => unifyArg(a, st.args[i]!, b, no));
      return;
    }
  }
}

/** Layers[S[…, Lin, …]] against a layer tree: an unbound generic layer type Lin is the tree's. */
function bindLayerType(te: Extract<A.TypeExpr, { kind: 'applied' }>, actual: Type, b: Bindings): void {
  const m = te.args[0];
  if (m?.kind !== 'type' || m.type.kind !== 'applied') return;
  const s = lookupStruct(b.module, m.type.name);
  const to = firstLayer(actual);
  if (!s || !to || s.params.length !== m.type.args.length) return;
  s.params.forEach((p, i) => {
    const a = m.type.kind === 'applied' ? m.type.args[i] : undefined;
    if (p.kind.k !== 'ctor' || a?.kind !== 'type' || a.type.kind !== 'name') return;
    if (isGenericHere(b, a.type.name) && !b.types.has(a.type.name)) b.types.set(a.type.name, { k: 'ctor', s: to });
  });
}

function unifyArg(a: A.TypeArg, actual: TArg, b: Bindings, no: (why?: string) => never): void {
  if (a.kind === 'spread') throw new UserError(`'...' is not allowed in a struct's arguments`, a.span);
  if (actual.k === 'dim') {
    if (a.kind === 'dim') return unifyDim(a.dim, actual.d, b, no);
    if (a.type.kind === 'name') return unifyDim({ kind: 'var', name: a.type.name, span: a.type.span }, actual.d, b, no);
    no();
  }
  if (a.kind !== 'type') no();
  const te = (a as { type: A.TypeExpr }).type;
  if (actual.k === 'type') return unifyType(te, actual.t, b);
  // ctor argument: a layer-type name or a generic layer-type parameter
  if (te.kind !== 'name') no();
  const name = (te as { name: string }).name;
  if (isGenericHere(b, name)) {
    const prev = b.types.get(name);
    if (prev && !(prev.k === 'ctor' && prev.s === actual.s))
      no(`${name} is ${targShow(prev)} from an earlier argument, found ${actual.s.name}`);
    b.types.set(name, actual);
    return;
  }
  const bound = lookupTypeArg(b, name);
  const s = bound?.k === 'ctor' ? bound.s : lookupStruct(b.module, name);
  if (s !== actual.s) no();
}

function targShow(t: TArg): string {
  return t.k === 'ctor' ? t.s.name : t.k === 'type' ? typeToString(t.t) : dimToString(t.d);
}

function unifyDim(e: A.DimExpr, actual: Dim, b: Bindings, no: (why?: string) => never): void {
  if (e.kind === 'var' && isGenericHere(b, e.name)) {
    const prev = b.dims.get(e.name);
    if (!prev) {
      b.dims.set(e.name, actual);
      return;
    }
    if (!dimEq(prev, actual)) no();
    return;
  }
  // decide now when everything in the expression is known; otherwise once more is bound
  let val: Dim | undefined;
  try {
    val = evalDim(e, b, true);
  } catch {
    val = undefined;
  }
  if (val && ![...dimVars(val)].some((v) => v.startsWith('?'))) {
    if (!dimEq(val, actual)) no();
    return;
  }
  b.deferred.push({ e, actual, no });
}

function unifyShape(pat: A.TypeArg[], actual: ShapeItem[], b: Bindings, no: (why?: string) => never): void {
  const sp = pat.findIndex((a) => a.kind === 'spread');
  const dimOf = (a: A.TypeArg): A.DimExpr => {
    if (a.kind === 'dim') return a.dim;
    if (a.kind === 'type' && a.type.kind === 'name') return { kind: 'var', name: a.type.name, span: a.type.span };
    throw new UserError('expected a dim', a.span);
  };
  const matchItem = (a: A.TypeArg, it: ShapeItem) => {
    if (it.k === 'spread') no();
    unifyDim(dimOf(a), (it as { d: Dim }).d, b, no);
  };
  if (sp < 0) {
    if (pat.length !== actual.length) no();
    pat.forEach((a, i) => matchItem(a, actual[i]!));
    return;
  }
  const before = pat.slice(0, sp);
  const after = pat.slice(sp + 1);
  if (actual.length < before.length + after.length) {
    // a rank-polymorphic actual may still cover the fixed items only if it has no spread
    no();
  }
  before.forEach((a, i) => matchItem(a, actual[i]!));
  after.forEach((a, i) => matchItem(a, actual[actual.length - after.length + i]!));
  const mid = actual.slice(before.length, actual.length - after.length);
  if (b.spread) {
    if (!shapeEq(b.spread, mid))
      no(`'...' is [${shapeToString(b.spread)}] from an earlier argument, found [${shapeToString(mid)}]`);
  } else b.spread = mid;
}

/** Resolves deferred dim constraints (`H * Dh = 64` once H is known). Throws Mismatch on conflict. */
export function solveDeferred(b: Bindings): void {
  let progress = true;
  while (progress && b.deferred.length) {
    progress = false;
    for (let i = 0; i < b.deferred.length; i++) {
      const { e, actual, no } = b.deferred[i]!;
      const val = evalDim(e, b, true);
      const unknown = [...dimVars(val)].filter((v) => v.startsWith('?'));
      if (unknown.length === 0) {
        if (!dimEq(val, actual)) {
          if (no) no();
          throw new Mismatch(`dim ${dimExprToString(e)} = ${dimToString(val)} does not match ${dimToString(actual)}`);
        }
      } else if (unknown.length === 1) {
        const x = dimSolve(val, unknown[0]!, actual);
        if (!x) continue;
        b.dims.set(unknown[0]!.slice(1), x);
      } else continue;
      b.deferred.splice(i, 1);
      i--;
      progress = true;
    }
  }
  if (b.deferred.length) {
    const { e } = b.deferred[0]!;
    throw new Mismatch(`cannot infer the dims of ${dimExprToString(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Printing type expressions (with what is known substituted)

function dimExprToString(e: A.DimExpr): string {
  if (e.kind === 'int') return String(e.value);
  if (e.kind === 'var') return e.name;
  const p = (x: A.DimExpr) =>
    x.kind === 'bin' && (x.op === '+' || x.op === '-') ? `(${dimExprToString(x)})` : dimExprToString(x);
  return `${p(e.a)} ${e.op} ${e.b.kind === 'bin' && e.op === '/' ? `(${dimExprToString(e.b)})` : p(e.b)}`;
}

function typeExprToString(t: A.TypeExpr): string {
  switch (t.kind) {
    case 'tuple':
      return `(${t.elems.map(typeExprToString).join(', ')})`;
    case 'array':
      return `[${typeExprToString(t.elem)}; ${dimExprToString(t.len)}]`;
    case 'name':
      return t.name;
    case 'applied':
      return `${t.name}[${t.args.map((a) => (a.kind === 'spread' ? '...' : a.kind === 'dim' ? dimExprToString(a.dim) : typeExprToString(a.type))).join(', ')}]`;
  }
}

/** A pattern with the bindings known so far substituted: `f32[..., D]` with D=64 → `f32[..., 64]`. */
export function showPattern(t: A.TypeExpr, b: Bindings): string {
  const dim = (e: A.DimExpr): string => {
    try {
      const d = evalDim(e, b, true);
      return [...dimVars(d)].some((v) => v.startsWith('?')) ? dimExprToString(e) : dimToString(d);
    } catch {
      return dimExprToString(e);
    }
  };
  switch (t.kind) {
    case 'tuple':
      return `(${t.elems.map((e) => showPattern(e, b)).join(', ')})`;
    case 'array':
      return `[${showPattern(t.elem, b)}; ${dim(t.len)}]`;
    case 'name': {
      const ta = b.types.get(t.name);
      return ta?.k === 'type' ? typeToString(ta.t) : t.name;
    }
    case 'applied': {
      const ta = b.types.get(t.name);
      const head = ta?.k === 'ctor' ? ta.s.name : t.name;
      const args = t.args.map((a) => {
        if (a.kind === 'spread') return b.spread ? shapeToString(b.spread) || '...' : '...';
        if (a.kind === 'dim') return dim(a.dim);
        if (a.type.kind === 'name' && (b.dims.has(a.type.name) || b.kinds.get(a.type.name)?.k === 'dim'))
          return dim({ kind: 'var', name: a.type.name, span: a.type.span });
        return showPattern(a.type, b);
      });
      return `${head}[${args.filter((x) => x !== '').join(', ')}]`;
    }
  }
}

export { dimSubst };
