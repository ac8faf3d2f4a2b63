// The elaborator's calls — struct literals, overload resolution, argument matching, inlining a
// function body, closures, and functions with a user gradient rule (custom_vjp) — as functions of
// the elaborator (elab.ts), which reaches them through methods of the same names.
import { UserError, type Note, type Span } from '../../syntax/diag.ts';
import type * as A from '../../syntax/ast.ts';
import { lookupStruct, type FnInfo } from '../../resolve/modules.ts';
import type { StructInfo } from '../../resolve/symbols.ts';
import { CoreBuilder } from './builder.ts';
import { spend } from '../../core/budget.ts';
import { isDType, isFloat, typeToString, type DType, type TArg, type Type } from '../types.ts';
import { Mismatch, newBindings, resolveType, showPattern, solveDeferred, unifyType, type Bindings } from '../unify.ts';
import { ERRV, type Scope, type Val } from './vals.ts';
import * as ops from './ops.ts';
import { BUILTINS, type CallInfo } from './builtins.ts';
import { Reported, atoms, fieldsOf, fromLeaves, paramValue, placeholder, structFields, type Fx } from './values.ts';
import type { Elab } from './elab.ts';
import { nameSpan, resultSpan, substType } from '../elab_util.ts';

// ---------------------------------------------------------------------------------------------
// Struct literals
export function structLit(el: Elab, e: Extract<A.Expr, { kind: 'structLit' }>, fx: Fx): Val {
  const s = lookupStruct(fx.module, e.name) ?? (e.base ? structParam(el, e.name, e.span, fx) : undefined);
  if (!s) throw new UserError(`unknown struct ${e.name}`, e.span);
  const vals = new Map<string, { v: Val; span: Span }>();
  for (const f of e.fields) {
    if (vals.has(f.name)) throw new UserError(`field ${f.name} is given twice`, f.span);
    vals.set(f.name, { v: el.expr(f.value, fx), span: f.span });
  }
  if ([...vals.values()].some((x) => x.v.k === 'error')) return ERRV;
  const declNames = s.decl.fields.map((f) => f.name);
  for (const [n, { span }] of vals)
    if (!declNames.includes(n))
      throw new UserError(`${s.name} has no field ${n}`, span, `its fields are ${declNames.join(', ')}`);
  let t: Extract<Type, { k: 'struct' }>;
  if (e.base) {
    // `S { ..base, f: v }`: the other fields come from base; the type is inferred again, so an
    // update may change a type parameter (e.g. a model's layer type)
    const base = el.expr(e.base, fx);
    if (base.k === 'error') return base;
    if (base.k !== 'struct' || base.t.s !== s)
      throw new UserError(
        `the base of ${s.name} { ..base } must be a ${s.name}, found ${typeToString(base.t as Type)}`,
        e.base.span,
      );
    for (const [n, v] of fieldsOf(el, base)) if (!vals.has(n)) vals.set(n, { v, span: e.base.span });
  }
  if (e.args) {
    const missing = declNames.filter((n) => !vals.has(n));
    if (missing.length) throw new UserError(`${s.name} is missing field(s) ${missing.join(', ')}`, e.span);
    const rt = resolveType({ kind: 'applied', name: e.name, args: e.args, span: e.span }, fx.env);
    if (rt.k !== 'struct' || rt.s !== s) throw new UserError(`${e.name}[...] is not the struct ${s.name}`, e.span);
    t = rt;
  } else {
    const missing = declNames.filter((n) => !vals.has(n));
    if (missing.length) throw new UserError(`${s.name} is missing field(s) ${missing.join(', ')}`, e.span);
    const m = s.module;
    const b = newBindings(m, new Map(s.params.map((p) => [p.name, p.kind])));
    for (const f of s.decl.fields) {
      const { v, span } = vals.get(f.name)!;
      try {
        unifyType(f.type, v.t as Type, b);
      } catch (err) {
        if (err instanceof Mismatch) throw new UserError(`field ${f.name} of ${s.name}: ${err.why}`, span);
        throw err;
      }
    }
    try {
      solveDeferred(b);
    } catch (err) {
      if (err instanceof Mismatch) throw new UserError(`${s.name}: ${err.why}`, e.span);
      throw err;
    }
    const args: TArg[] = s.params.map((p) => {
      if (p.kind.k === 'dim') {
        const d = b.dims.get(p.name);
        if (!d) throw new UserError(`cannot infer ${s.name}'s dim ${p.name} from its fields`, e.span);
        return { k: 'dim', d };
      }
      const ta = b.types.get(p.name);
      if (!ta) throw new UserError(`cannot infer ${s.name}'s parameter ${p.name} from its fields`, e.span);
      return ta;
    });
    t = { k: 'struct', s, args };
  }
  const fieldTypes = structFields(el, t);
  const fields = new Map<string, Val>();
  for (const f of fieldTypes) {
    const given = vals.get(f.name);
    fields.set(f.name, el.coerceTo(given!.v, f.t, given!.span, `field ${f.name} of ${s.name}`));
  }
  return { k: 'struct', t, fields };
}

/** `M { ..base, f: v }` in a function generic over a type M: the struct M is bound to in el
 *  instantiation (a generic update of a model's fields, e.g. models/kd.obt's student). */
export function structParam(el: Elab, name: string, span: Span, fx: Fx): StructInfo | undefined {
  let t: Type;
  try {
    t = resolveType({ kind: 'name', name, span }, fx.env);
  } catch {
    return undefined;
  }
  return t.k === 'struct' ? t.s : undefined;
}

// ---------------------------------------------------------------------------------------------
// Calls
export function callExpr(el: Elab, e: Extract<A.Expr, { kind: 'call' }>, fx: Fx): Val {
  const callee = calleeOf(el, e, fx);
  if (callee.k === 'error') return callee;
  if (callee.k !== 'closure')
    throw new UserError(`${callee.k === 'tensor' ? typeToString(callee.t) : callee.k} is not a function`, e.fn.span);
  const keepLists = !!callee.builtin;
  const pos: Val[] = [];
  const posSpans: Span[] = [];
  const named = new Map<string, { v: Val; span: Span }>();
  for (const a of e.args) {
    const v = keepLists && a.value.kind === 'list' ? el.listVal(a.value, fx) : el.expr(a.value, fx);
    if (a.name) {
      if (named.has(a.name)) throw new UserError(`argument ${a.name} is given twice`, a.span);
      named.set(a.name, { v, span: a.value.span });
    } else {
      if (named.size) throw new UserError(`a positional argument after a named one`, a.span);
      pos.push(v);
      posSpans.push(a.value.span);
    }
  }
  if (pos.some((v) => v.k === 'error') || [...named.values()].some((x) => x.v.k === 'error')) return ERRV;
  return applyCallable(el, callee, pos, posSpans, named, e.span, fx);
}

/** The function a call names. A name visible nowhere may still be found next to the argument
 *  struct types (ADL, as for visible overload sets): `apply(l, x)` for a layer of a module the
 *  caller does not import. */
export function calleeOf(el: Elab, e: Extract<A.Expr, { kind: 'call' }>, fx: Fx): Val {
  try {
    return el.expr(e.fn, fx);
  } catch (err) {
    if (!(err instanceof UserError) || e.fn.kind !== 'var' || !e.args.length) throw err;
    const name = e.fn.name;
    const first = el.expr(e.args[0]!.value, fx);
    if (first.k !== 'struct' || !(first.t.s.module.fns.get(name) ?? []).some((f) => f.decl.pub)) throw err;
    return { k: 'closure', t: { k: 'fn' }, scope: new Map(), env: fx.env, module: fx.module, fns: [], name };
  }
}

export function applyCallable(
  el: Elab,
  callee: Extract<Val, { k: 'closure' }>,
  pos: Val[],
  posSpans: Span[],
  named: Map<string, { v: Val; span: Span }>,
  span: Span,
  fx: Fx | undefined,
): Val {
  if (callee.builtin) {
    const bi = BUILTINS[callee.builtin] ?? BUILTINS['$cast'];
    const info: CallInfo = {
      el: el,
      fx: fx ?? closureFx(el, callee),
      args: pos,
      spans: posSpans,
      named,
      span,
      name: callee.builtin,
    };
    return bi!(info);
  }
  if (callee.fns) {
    // overloads: the visible ones plus those next to the argument struct types (ADL)
    const cands = [...callee.fns];
    for (const v of pos)
      if (v.k === 'struct') {
        const m = v.t.s.module;
        for (const f of m?.fns.get(callee.name) ?? []) if (f.decl.pub && !cands.includes(f)) cands.push(f);
      }
    return callOverloaded(el, cands, pos, posSpans, named, span, callee.name);
  }
  return applyLambda(el, callee, pos, posSpans, named, span);
}

export function closureFx(el: Elab, c: Extract<Val, { k: 'closure' }>): Fx {
  return { module: c.module, env: c.env, scope: c.scope };
}

/** Applies a lambda: parameters are bound (checked against annotations), the body elaborated. */
export function applyLambda(
  el: Elab,
  c: Extract<Val, { k: 'closure' }>,
  pos: Val[],
  posSpans: Span[],
  named: Map<string, { v: Val; span: Span }>,
  span: Span,
): Val {
  const lam = c.lam!;
  if (named.size) throw new UserError(`a lambda takes positional arguments only`, span);
  if (pos.length !== lam.params.length)
    throw new UserError(`el function takes ${lam.params.length} argument(s), found ${pos.length}`, span, undefined, [
      { span: lam.span, message: 'the function' },
    ]);
  const outer = closureFx(el, c);
  if (el.b) spend('inlined', span);
  const scope: Scope = new Map(c.scope);
  lam.params.forEach((p, i) => {
    let v = pos[i]!;
    if (p.type) v = el.coerceTo(v, resolveType(p.type, outer.env), posSpans[i] ?? span, `argument ${p.name}`);
    scope.set(p.name, v);
    el.observe?.(nameSpan(p.span, p.name), v);
  });
  enter(el, span);
  try {
    const r = el.expr(lam.body, { ...outer, scope });
    if (lam.ret) return el.coerceTo(r, resolveType(lam.ret, outer.env), resultSpan(lam.body), 'lambda result');
    return r;
  } finally {
    el.depth--;
  }
}

export function enter(el: Elab, span: Span): void {
  if (++el.depth > 200) {
    el.depth = 0;
    throw new UserError(
      `calls nest more than 200 deep (mutual recursion?)`,
      span,
      'recursion is not supported; use iterate, fold or map',
    );
  }
}

/** Matches arguments to a function's parameters; returns the bindings or a reason. */
export function matchArgs(
  el: Elab,
  f: FnInfo,
  pos: Val[],
  named: Map<string, { v: Val; span: Span }>,
): { b: Bindings; args: (Val | undefined)[] } | Mismatch {
  const ps = f.decl.params;
  if (pos.length > ps.length)
    return new Mismatch(`${f.name} takes ${ps.length} argument(s), found ${pos.length + named.size}`);
  const args: (Val | undefined)[] = ps.map((_, i) => pos[i]);
  for (const [n, { v }] of named) {
    const i = ps.findIndex((p) => p.name === n);
    if (i < 0) return new Mismatch(`${f.name} has no parameter named ${n}`);
    if (args[i]) return new Mismatch(`argument ${n} is given twice`);
    args[i] = v;
  }
  const missing = ps.filter((p, i) => !args[i] && !p.default);
  if (missing.length) return new Mismatch(`missing argument ${missing.map((p) => p.name).join(', ')}`);
  const b = newBindings(f.module, f.kinds, !!el.b);
  try {
    ps.forEach((p, i) => {
      let v = args[i];
      if (!v) return;
      if (v.k === 'closure' || v.k === 'str' || v.k === 'module')
        throw new Mismatch(
          `argument ${p.name}: expected ${showPattern(p.type, b)}, found a ${v.k === 'str' ? 'string' : 'function'}`,
        );
      // weak literals adopt a scalar parameter's dtype
      if (
        v.k === 'tensor' &&
        v.weak &&
        v.t.shape.length === 0 &&
        p.type.kind === 'name' &&
        isDType(p.type.name) &&
        p.type.name !== v.t.dtype
      ) {
        if (isFloat(p.type.name as DType) || !isFloat(v.t.dtype)) v = ops.retype(el, v, p.type.name as DType);
        args[i] = v;
      }
      try {
        unifyType(p.type, v.t as Type, b);
      } catch (e) {
        if (e instanceof Mismatch) {
          const lit = v.k === 'tensor' && v.weak && v.st?.k === 'float' ? ` (the non-integer literal ${v.st.v})` : '';
          const want = showPattern(p.type, b);
          const found = typeToString(v.t as Type);
          // in a tensor shape mismatch (one dtype on both sides), a dim parameter of the callee
          // still unknown here is named as the callee's, not to be read as the caller's
          const head = (t: string) => t.split('[')[0]!;
          const open = [...f.kinds]
            .filter(([n, k]) => k.k === 'dim' && !b.dims.has(n) && new RegExp(`\\b${n}\\b`).test(want))
            .filter(() => isDType(head(want)) && head(want) === head(found))
            .map(([n]) => n);
          const dims = open.length
            ? ` (${open.join(', ')}: ${f.name}'s dim parameter${open.length > 1 ? 's' : ''})`
            : '';
          const why = e.why.startsWith('expected') ? `expected ${want}${dims}, found ${found}${lit}` : e.why;
          throw new Mismatch(`argument ${p.name}: ${why}`);
        }
        throw e;
      }
    });
    solveDeferred(b);
  } catch (e) {
    if (e instanceof Mismatch) return e;
    throw e;
  }
  return { b, args };
}

export function callOverloaded(
  el: Elab,
  cands: FnInfo[],
  pos: Val[],
  posSpans: Span[],
  named: Map<string, { v: Val; span: Span }>,
  span: Span,
  name: string,
): Val {
  const ok: { f: FnInfo; m: { b: Bindings; args: (Val | undefined)[] } }[] = [];
  const fails: { f: FnInfo; why: string }[] = [];
  for (const f of cands) {
    const m = matchArgs(el, f, pos, named);
    if (m instanceof Mismatch) fails.push({ f, why: m.why });
    else ok.push({ f, m });
  }
  if (ok.length === 0) {
    const argTypes = [
      ...pos.map((v) => typeToString(v.t as Type)),
      ...[...named].map(([n, x]) => `${n}: ${typeToString(x.v.t as Type)}`),
    ].join(', ');
    if (fails.length === 1)
      throw new UserError(`${name}: ${fails[0]!.why}`, span, undefined, [
        { span: fails[0]!.f.decl.nameSpan, message: `${name} is defined here` },
      ]);
    const notes: Note[] = fails.map((x) => ({ span: x.f.decl.nameSpan, message: `candidate: ${x.why}` }));
    throw new UserError(`no overload of ${name} takes (${argTypes})`, span, undefined, notes);
  }
  if (ok.length > 1) {
    throw new UserError(
      `call to ${name} is ambiguous`,
      span,
      undefined,
      ok.map((x) => ({ span: x.f.decl.nameSpan, message: 'candidate' })),
    );
  }
  const { f, m } = ok[0]!;
  return invoke(el, f, m.b, m.args, span, posSpans);
}

/** Calls one known function (entry lowering and direct calls). */
export function callFn(
  el: Elab,
  f: FnInfo,
  pos: Val[],
  named: Map<string, { v: Val; span: Span }>,
  span: Span,
  _fx: Fx | undefined,
): Val {
  return callOverloaded(el, [f], pos, [], named, span, f.name);
}

export function invoke(
  el: Elab,
  f: FnInfo,
  b: Bindings,
  args0: (Val | undefined)[],
  span: Span,
  _posSpans: Span[],
): Val {
  // unbound generics
  for (const [n, k] of f.kinds) {
    if (k.k === 'dim' && !b.dims.has(n))
      throw new UserError(`${f.name}: cannot infer dim ${n} from the arguments`, span, undefined, [
        { span: f.decl.nameSpan, message: `${f.name} is defined here` },
      ]);
    if ((k.k === 'type' || k.k === 'ctor') && !b.types.has(n))
      throw new UserError(`${f.name}: cannot infer ${n} from the arguments`, span);
  }
  const env = newBindings(f.module, new Map(), !!el.b);
  for (const [n, d] of b.dims) env.dims.set(n, d);
  for (const [n, t] of b.types) env.types.set(n, t);
  env.spread = b.spread;
  // defaults
  const args = args0.slice();
  const scope: Scope = new Map();
  for (const [n, d] of env.dims) scope.set(n, ops.tval('i32', [], undefined, { k: 'int', d }));
  f.decl.params.forEach((p, i) => {
    if (!args[i]) {
      const dv = el.expr(p.default!, { module: f.module, env, scope: new Map(scope) });
      args[i] = el.coerceTo(dv, resolveType(p.type, env), p.default!.span, `default of ${p.name}`);
    }
  });
  if (!el.b) {
    // checking: the result type from the signature or from the checked body
    const typeArgs = new Map([...b.types]);
    const caller = el.active[el.active.length - 1];
    if (caller) {
      let out = el.callGraph.get(caller);
      if (!out) el.callGraph.set(caller, (out = new Map()));
      if (!out.has(f)) out.set(f, span);
    }
    if (el.active.includes(f))
      throw new UserError(`${f.name} calls itself; recursion is not supported (use iterate, fold or map)`, span);
    let rt: Type;
    if (f.typeGeneric) {
      rt = el.checkFnInstance(f, typeArgs, span);
      if (rt.k === 'error') throw new Reported();
      const rigid = el.rigidEnv(f, typeArgs);
      rt = substType(rt, rigid, env);
    } else if (f.decl.ret) rt = resolveType(f.decl.ret, env);
    else {
      rt = el.checkFnInstance(f, new Map(), span);
      if (rt.k === 'error') throw new Reported();
      rt = substType(rt, el.rigidEnv(f, new Map()), env);
    }
    return placeholder(el, rt);
  }
  // lowering: inline the body
  spend('inlined', span);
  f.decl.params.forEach((p, i) => scope.set(p.name, args[i]!));
  enter(el, span);
  try {
    if (f.decl.gradRule) return lowerCustomVjp(el, f, env, scope, args as Val[]);
    const r = el.expr(f.decl.body, { module: f.module, env, scope });
    if (f.decl.ret) return el.coerceTo(r, resolveType(f.decl.ret, env), resultSpan(f.decl.body), `result of ${f.name}`);
    return r;
  } finally {
    el.depth--;
  }
}

/** A function with a gradient rule lowers to custom_vjp(fwd, bwd) over its tensor leaves. */
export function lowerCustomVjp(el: Elab, f: FnInfo, env: Bindings, scope: Scope, args: Val[]): Val {
  const outer = el.b!;
  const argTypes = args.map((a) => a.t as Type);
  for (const [i, a] of args.entries())
    if (a.k === 'closure' || a.k === 'str' || a.k === 'module')
      throw new UserError(`a function with a gradient rule takes tensors and structs only`, f.decl.params[i]!.span);
  // both bodies start from the parameters as fresh leaves of a closed builder
  const open = (): { b: CoreBuilder; scope: Scope } => {
    const b = new CoreBuilder(el.supply, outer, false);
    el.b = b;
    const sc: Scope = new Map(scope);
    argTypes.forEach((t, i) => sc.set(f.decl.params[i]!.name, paramValue(el, b, t, f.decl.params[i]!.name)));
    return { b, scope: sc };
  };
  const fo = open();
  let r = el.expr(f.decl.body, { module: f.module, env, scope: fo.scope });
  if (f.decl.ret) r = el.coerceTo(r, resolveType(f.decl.ret, env), resultSpan(f.decl.body), `result of ${f.name}`);
  const fwd = fo.b.finish(atoms(el, r)).func;
  // backward body: (primals..., cotangents...) -> cotangent per primal leaf
  const bo = open();
  const bb = bo.b;
  const rt = r.t as Type;
  bo.scope.set(f.decl.gradRule!.dy, paramValue(el, bb, rt, 'dy'));
  const g = el.expr(f.decl.gradRule!.body, { module: f.module, env, scope: bo.scope });
  const bwd = bb.finish(atoms(el, g)).func;
  el.b = outer;
  const outs = outer.emit(
    'custom_vjp',
    args.flatMap((a) => atoms(el, a)),
    { fwd, bwd, name: f.name },
  );
  let j = 0;
  return fromLeaves(el, rt, () => outs[j++]!);
}
