// The elaborator: one walk over the typed AST that both checks (symbolic dims, every function on
// its own) and lowers (concrete dims, everything inlined into one Core IR function per entry).
// Checking a function generic only over dims happens once with its dims as rigid symbols;
// a function generic over a type or layer type is checked once per instantiation.
import { spend, within } from '../../core/budget.ts';
import { typeLeaves } from '../elab_util.ts';
import { createHash } from 'node:crypto';
import { UserError, type Span } from '../../syntax/diag.ts';
import type * as A from '../../syntax/ast.ts';
import { stdlibIndex, type FnInfo, type ModuleInfo } from '../../resolve/modules.ts';
import { DTYPES } from '../../../runtime/core/dtype.ts';
import { CoreBuilder } from './builder.ts';
import type { Func, TensorType } from '../../../runtime/core/ir.ts';
import { dimConst, dimValue, dimVar } from '../dim.ts';
import { D, hasError, isDType, isFloat, typeEq, typeToString, type TArg, type Type } from '../types.ts';
import { newBindings, resolveType, type Bindings } from '../unify.ts';
import { ERRV, staticNumber, type Scope, type Val } from './vals.ts';
import * as ops from './ops.ts';
import { BUILTINS, BUILTIN_CONSTS } from './builtins.ts';
import * as C from './calls.ts';
import * as V from './values.ts';
import { Reported, type Fx } from './values.ts';
import { Diagnostics } from '../../syntax/diag.ts';
import type { Program } from '../../resolve/modules.ts';
import { VarSupply } from '../../../runtime/core/ir.ts';
import type { FieldsOf } from '../tree.ts';
import { indexTensor } from './index_expr.ts';
import { closest, collectNames, nameSpan, patName, resultSpan, targKey } from '../elab_util.ts';

export { Reported, type Fx } from './values.ts';
export { resultSpan } from '../elab_util.ts';

/** Keys of modules that checked without a diagnostic (least recently seen first out). */
const cleanModules = new Set<string>();
const CLEAN_MODULES = 256;

/** Each module's key: a hash of every module it reaches by imports (itself included, import
 *  cycles too): their paths, texts and imports by alias. */
function moduleKeys(modules: Iterable<ModuleInfo>): Map<ModuleInfo, string> {
  const keys = new Map<ModuleInfo, string>();
  for (const m of modules) {
    const reach = new Set<ModuleInfo>([m]);
    for (const r of reach) for (const im of r.imports) reach.add(im.module);
    const h = createHash('sha256');
    for (const r of [...reach].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
      h.update(`${r.id}\0${r.file.text.length}\0`).update(r.file.text);
      for (const im of r.imports) h.update(`\0${im.alias}=${im.module.id}`);
      h.update('\0\0');
    }
    keys.set(m, h.digest('base64'));
  }
  return keys;
}

/** A function of the elaborator's, less its first parameter (the elaborator). */
type Rest<F> = F extends (el: Elab, ...a: infer R) => unknown ? R : never;

/** The elaborator: checks and lowers. Its state and its walk are here; the value-tree helpers
 *  (values.ts) and the calls (calls.ts) are functions of it, reached through the methods below. */
export class Elab implements ops.OpCtx {
  b?: CoreBuilder;
  /** Told every expression's value and every name a parameter, `let` or lambda binds, as checking
   *  meets them (the language server's hover; compiler/ide.ts). */
  observe?: (span: Span, v: Val) => void;
  readonly supply = new VarSupply();
  readonly checking = new Map<string, Type | 'busy'>();
  depth = 0;
  /** functions whose bodies are being checked (recursion detection) */
  readonly active: FnInfo[] = [];
  /** Calls seen while checking: caller → callee → the first such call's span (a cycle is recursion). */
  readonly callGraph = new Map<FnInfo, Map<FnInfo, Span>>();

  constructor(
    readonly prog: Program,
    readonly diags: Diagnostics,
  ) {}

  /** structFields as the value-tree walks take it. */
  readonly fields: FieldsOf = (t) => this.structFields(t);

  // ---------------------------------------------------------------------------------------------
  // Values (values.ts) and calls (calls.ts): functions of the elaborator, called through it

  structFields(...a: Rest<typeof V.structFields>): ReturnType<typeof V.structFields> {
    return V.structFields(this, ...a);
  }

  placeholder(...a: Rest<typeof V.placeholder>): ReturnType<typeof V.placeholder> {
    return V.placeholder(this, ...a);
  }

  fieldsOf(...a: Rest<typeof V.fieldsOf>): ReturnType<typeof V.fieldsOf> {
    return V.fieldsOf(this, ...a);
  }

  arrayElem(...a: Rest<typeof V.arrayElem>): ReturnType<typeof V.arrayElem> {
    return V.arrayElem(this, ...a);
  }

  fromLeaves(...a: Rest<typeof V.fromLeaves>): ReturnType<typeof V.fromLeaves> {
    return V.fromLeaves(this, ...a);
  }

  paramValue(...a: Rest<typeof V.paramValue>): ReturnType<typeof V.paramValue> {
    return V.paramValue(this, ...a);
  }

  leafTypes(...a: Rest<typeof V.leafTypes>): ReturnType<typeof V.leafTypes> {
    return V.leafTypes(this, ...a);
  }

  atoms(...a: Rest<typeof V.atoms>): ReturnType<typeof V.atoms> {
    return V.atoms(this, ...a);
  }

  structLit(...a: Rest<typeof C.structLit>): ReturnType<typeof C.structLit> {
    return C.structLit(this, ...a);
  }

  structParam(...a: Rest<typeof C.structParam>): ReturnType<typeof C.structParam> {
    return C.structParam(this, ...a);
  }

  callExpr(...a: Rest<typeof C.callExpr>): ReturnType<typeof C.callExpr> {
    return C.callExpr(this, ...a);
  }

  calleeOf(...a: Rest<typeof C.calleeOf>): ReturnType<typeof C.calleeOf> {
    return C.calleeOf(this, ...a);
  }

  applyCallable(...a: Rest<typeof C.applyCallable>): ReturnType<typeof C.applyCallable> {
    return C.applyCallable(this, ...a);
  }

  closureFx(...a: Rest<typeof C.closureFx>): ReturnType<typeof C.closureFx> {
    return C.closureFx(this, ...a);
  }

  applyLambda(...a: Rest<typeof C.applyLambda>): ReturnType<typeof C.applyLambda> {
    return C.applyLambda(this, ...a);
  }

  enter(...a: Rest<typeof C.enter>): ReturnType<typeof C.enter> {
    return C.enter(this, ...a);
  }

  matchArgs(...a: Rest<typeof C.matchArgs>): ReturnType<typeof C.matchArgs> {
    return C.matchArgs(this, ...a);
  }

  callOverloaded(...a: Rest<typeof C.callOverloaded>): ReturnType<typeof C.callOverloaded> {
    return C.callOverloaded(this, ...a);
  }

  callFn(...a: Rest<typeof C.callFn>): ReturnType<typeof C.callFn> {
    return C.callFn(this, ...a);
  }

  invoke(...a: Rest<typeof C.invoke>): ReturnType<typeof C.invoke> {
    return C.invoke(this, ...a);
  }

  lowerCustomVjp(...a: Rest<typeof C.lowerCustomVjp>): ReturnType<typeof C.lowerCustomVjp> {
    return C.lowerCustomVjp(this, ...a);
  }

  // ---------------------------------------------------------------------------------------------
  // Entry points

  /** Checks every function of every loaded module. An imported module checked before without a
   *  diagnostic, with the same text and the same imports (transitively), is not checked again:
   *  its functions' checks depend on nothing else (the functions a program calls are still checked
   *  at their calls). The root module is always checked (the editor observes its types). */
  checkProgram(): void {
    const keys = moduleKeys(this.prog.modules.values());
    for (const m of this.prog.modules.values()) {
      if (m !== this.prog.root && cleanModules.has(keys.get(m)!)) continue;
      for (const list of m.fns.values())
        for (const f of list) {
          if (f.typeGeneric) continue; // checked at each instantiation
          this.checkFnInstance(f, new Map());
        }
    }
    this.reportCycles();
    if (this.diags.list.length) return;
    for (const k of keys.values()) {
      cleanModules.delete(k);
      cleanModules.add(k);
    }
    for (const k of cleanModules) if (cleanModules.size > CLEAN_MODULES) cleanModules.delete(k);
  }

  /** Recursion through other functions (f → g → f, across modules too): calls are inlined, so a
   *  cycle in the checked call graph is an error at the call that closes it — found here, by
   *  `check`, not only when `run` inlines it. One diagnostic per cycle; iterative DFS. */
  private reportCycles(): void {
    const state = new Map<FnInfo, 'open' | 'done'>();
    const seen = new Set<string>();
    for (const start of this.callGraph.keys()) {
      if (state.has(start)) continue;
      const path: FnInfo[] = [start];
      const iters = [this.callGraph.get(start)!.entries()];
      state.set(start, 'open');
      while (iters.length) {
        const next = iters[iters.length - 1]!.next();
        if (next.done) {
          state.set(path.pop()!, 'done');
          iters.pop();
          continue;
        }
        const [g, span] = next.value;
        if (state.get(g) === 'open') {
          const cycle = [...path.slice(path.indexOf(g)), g];
          const key = cycle
            .slice(0, -1)
            .map((x) => `${x.module.id}#${x.decl.span.start}`)
            .sort()
            .join();
          if (cycle.length > 2 && !seen.has(key)) {
            seen.add(key);
            this.diags.add(
              new UserError(
                `${cycle.map((x) => x.name).join(' → ')}: ${g.name} calls itself through ${cycle.length > 3 ? 'other functions' : cycle[1]!.name}; recursion is not supported`,
                span,
                'calls are inlined; use iterate, fold or map',
              ).diag,
            );
          }
        } else if (!state.has(g)) {
          state.set(g, 'open');
          path.push(g);
          iters.push((this.callGraph.get(g) ?? new Map<FnInfo, Span>()).entries());
        }
      }
    }
  }

  /** The rigid environment of a function: dims as symbols, '...' as a symbolic prefix. */
  rigidEnv(f: FnInfo, typeArgs: Map<string, TArg>): Bindings {
    const env = newBindings(f.module);
    const taken = new Set<string>();
    for (const a of typeArgs.values()) collectNames(a, taken);
    for (const [name, k] of f.kinds) {
      if (k.k === 'dim') env.dims.set(name, dimVar(taken.has(name) ? `${name}'` : name));
      else if (typeArgs.has(name)) env.types.set(name, typeArgs.get(name)!);
    }
    env.spread = [{ k: 'spread', name: '...' }];
    return env;
  }

  /** Checks one function (or one instantiation of a type-generic function); returns its result
   *  type over its own rigid dims. */
  checkFnInstance(f: FnInfo, typeArgs: Map<string, TArg>, callSpan?: Span): Type {
    // a type argument's size is bounded before it is printed into the key (tuples that double at
    // each call would make the key, and the checked body's values, exponential)
    for (const [k, v] of typeArgs)
      within('typeLeaves', typeLeaves(v), `${f.name}'s type argument ${k} has this many tensors`, callSpan);
    const key = `${f.module.id}#${f.decl.span.start}#${[...typeArgs].map(([k, v]) => `${k}=${targKey(v)}`).join(',')}`;
    const memo = this.checking.get(key);
    if (memo === 'busy')
      throw new UserError(
        `${f.name} calls itself; recursion is not supported (use iterate, fold or map)`,
        callSpan ?? f.decl.nameSpan,
      );
    if (memo) return memo;
    spend('instances', callSpan ?? f.decl.nameSpan);
    this.checking.set(key, 'busy');
    this.active.push(f);
    const saveB = this.b;
    this.b = undefined;
    let result: Type = { k: 'error' };
    const inst = typeArgs.size
      ? `${f.name} with ${[...typeArgs].map(([k, v]) => `${k} = ${targKey(v)}`).join(', ')}`
      : undefined;
    const errsBefore = this.diags.errors.length;
    try {
      const env = this.rigidEnv(f, typeArgs);
      const scope: Scope = new Map();
      for (const [name, d] of env.dims) scope.set(name, { ...ops.tval('i32', [], undefined, { k: 'int', d }) });
      for (const p of f.decl.params) {
        let t: Type;
        try {
          t = resolveType(p.type, env);
        } catch (e) {
          this.report(e, inst, callSpan);
          t = { k: 'error' };
        }
        // an integer or bool parameter with a literal default is checked with that value, so it
        // can serve where a compile-time constant is needed (axis:, counts); lowering uses the
        // value actually passed
        const ph = this.placeholder(t);
        const lit =
          p.default &&
          (p.default.kind === 'num' ||
            p.default.kind === 'bool' ||
            (p.default.kind === 'unary' && p.default.a.kind === 'num'));
        if (lit && ph.k === 'tensor' && ph.t.shape.length === 0 && (ph.t.dtype === 'i32' || ph.t.dtype === 'bool')) {
          const dv = this.expr(p.default!, { module: f.module, env, scope: new Map(), inst });
          if (dv.k === 'tensor' && dv.st) ph.st = dv.st;
        }
        scope.set(p.name, ph);
        this.observe?.(nameSpan(p.span, p.name), ph);
        if (p.default) {
          try {
            const dv = this.expr(p.default, { module: f.module, env, scope: new Map(scope), inst });
            this.coerceTo(dv, t, p.default.span, `default of ${p.name}`);
          } catch (e) {
            this.report(e, inst, callSpan);
          }
        }
      }
      const fx: Fx = { module: f.module, env, scope, inst };
      const body = this.expr(f.decl.body, fx);
      result = body.t as Type;
      if (f.decl.ret) {
        try {
          const want = resolveType(f.decl.ret, env);
          this.coerceTo(body, want, resultSpan(f.decl.body), `result of ${f.name}`);
          result = want;
        } catch (e) {
          this.report(e, inst, callSpan);
        }
      }
      if (f.decl.gradRule) this.checkGradRule(f, fx, result);
    } catch (e) {
      this.report(e, inst, callSpan);
    }
    if (this.diags.errors.length > errsBefore) result = { k: 'error' };
    this.b = saveB;
    this.active.pop();
    this.checking.set(key, result);
    return result;
  }

  checkGradRule(f: FnInfo, fx: Fx, result: Type): void {
    const rule = f.decl.gradRule!;
    try {
      if (f.decl.params.length === 0) throw new UserError(`a gradient rule needs at least one parameter`, rule.span);
      const scope: Scope = new Map(fx.scope);
      scope.set(rule.dy, this.placeholder(result));
      const g = this.expr(rule.body, { ...fx, scope });
      const ptypes = f.decl.params.map((p) => fx.scope.get(p.name)!.t as Type);
      const want: Type = ptypes.length === 1 ? ptypes[0]! : { k: 'tuple', elems: ptypes };
      if (!typeEq(g.t as Type, want))
        throw new UserError(
          `the gradient rule of ${f.name} must produce ${ptypes.length === 1 ? `the type of ${f.decl.params[0]!.name}` : 'one gradient per parameter'}: expected ${typeToString(want)}, found ${typeToString(g.t as Type)}`,
          resultSpan(rule.body),
        );
    } catch (e) {
      this.report(e, fx.inst);
    }
  }

  report(e: unknown, inst?: string, callSpan?: Span): void {
    if (e instanceof Reported) return;
    if (e instanceof UserError) {
      const d = e.diag;
      if (inst && !d.notes.some((n) => n.message.startsWith('in ')))
        d.notes.push({ span: callSpan, message: `in ${inst}` });
      this.diags.add(d);
      return;
    }
    throw e;
  }

  /** Lowers an entry function applied to arguments of the given (concrete) types. */
  lowerEntry(
    f: FnInfo,
    argTypes: Type[],
  ): { func: Func; resultType: Type; paramLeaves: { path: string; t: TensorType }[] } {
    this.b = new CoreBuilder(this.supply);
    const params: Val[] = [];
    const paramLeaves: { path: string; t: TensorType }[] = [];
    f.decl.params.forEach((p, i) => {
      if (i >= argTypes.length) return;
      const leaves = this.leafTypes(argTypes[i]!, p.name);
      paramLeaves.push(...leaves);
      const vars = leaves.map((l) => this.b!.param(l.t, l.path.replace(/[^A-Za-z0-9_]+/g, '_')));
      let k = 0;
      params.push(this.fromLeaves(argTypes[i]!, () => vars[k++]!));
    });
    const result = this.callFn(f, params, new Map(), f.decl.nameSpan, undefined);
    const atoms = this.atoms(result);
    const { func } = this.b.finish(atoms);
    this.b = undefined;
    return { func, resultType: result.t as Type, paramLeaves };
  }

  // ---------------------------------------------------------------------------------------------
  // Coercion

  /** Checks that a value has the wanted type (weak literals adopt it); returns the coerced value. */
  coerceTo(v: Val, want: Type, span: Span, what: string): Val {
    if (v.k === 'error' || want.k === 'error') return v;
    if (
      v.k === 'tensor' &&
      want.k === 'tensor' &&
      v.weak &&
      v.t.shape.length === 0 &&
      want.shape.length === 0 &&
      v.t.dtype !== want.dtype
    ) {
      if (
        isFloat(want.dtype) ||
        (v.t.dtype !== 'f32' && v.t.dtype !== 'f16' && want.dtype !== 'bool' && want.dtype !== 'sign')
      )
        return ops.retype(this, v, want.dtype);
    }
    if (!typeEq(v.t as Type, want)) {
      // a float literal where an integer goes: say so, with the value and how to get an integer
      const lit = v.k === 'tensor' && v.weak && v.st?.k === 'float' ? v.st.v : undefined;
      if (lit !== undefined && want.k === 'tensor' && (want.dtype === 'i32' || want.dtype === 'u32'))
        throw new UserError(
          `${what}: expected ${typeToString(want)}, found the non-integer literal ${lit}`,
          span,
          Number.isInteger(lit) ? `write it without the decimal point: ${lit}` : `an ${want.dtype} holds integers only`,
        );
      throw new UserError(`${what}: expected ${typeToString(want)}, found ${typeToString(v.t as Type)}`, span);
    }
    return v;
  }

  // ---------------------------------------------------------------------------------------------
  // Expressions

  expr(e: A.Expr, fx: Fx): Val {
    const b = this.b;
    if (!b) {
      const v = this.exprAt(e, fx);
      this.observe?.(e.span, v);
      return v;
    }
    // the equations this expression emits (and not a nested one) record its source location
    const saved = b.at.span;
    b.at.span = e.span;
    try {
      return this.exprAt(e, fx);
    } finally {
      b.at.span = saved;
    }
  }

  private exprAt(e: A.Expr, fx: Fx): Val {
    switch (e.kind) {
      case 'num':
        return e.isFloat
          ? { ...ops.tval('f32', [], undefined, { k: 'float', v: e.value }), weak: true }
          : { ...ops.tval('i32', [], undefined, { k: 'int', d: dimConst(e.value) }), weak: true };
      case 'bool':
        return ops.tval('bool', [], undefined, { k: 'bool', v: e.value });
      case 'str':
        return { k: 'str', t: { k: 'fn' }, v: e.value };
      case 'var':
        return this.lookupVar(e.name, e.span, fx);
      case 'tuple':
        return this.tuple(e.elems.map((x) => this.expr(x, fx)));
      case 'list':
        return this.listLiteral(e, fx);
      case 'block':
        return this.block(e, fx);
      case 'lambda':
        return {
          k: 'closure',
          t: { k: 'fn' },
          lam: e,
          scope: new Map(fx.scope),
          env: fx.env,
          module: fx.module,
          name: 'fn',
        };
      case 'unary': {
        const a = this.expr(e.a, fx);
        if (a.k === 'error') return a;
        const t = ops.expectTensor(a, e.a.span);
        return e.op === '-' ? ops.unary(this, 'neg', t, e.span, "'-'") : ops.unary(this, 'not', t, e.span, "'!'");
      }
      case 'binary':
        return this.binaryExpr(e, fx);
      case 'field':
        return this.fieldExpr(e, fx);
      case 'tupleField': {
        const t = this.expr(e.target, fx);
        if (t.k === 'error') return t;
        if (t.k !== 'tuple')
          throw new UserError(`.${e.index} expects a tuple, found ${typeToString(t.t as Type)}`, e.span);
        if (e.index >= t.elems.length)
          throw new UserError(`tuple index ${e.index} is out of range for ${typeToString(t.t)}`, e.span);
        return t.elems[e.index]!;
      }
      case 'index':
        return this.indexExpr(e, fx);
      case 'call':
        return this.callExpr(e, fx);
      case 'structLit':
        return this.structLit(e, fx);
    }
  }

  /** A tuple value (`names`: a layer tree's, kept from the tree it is made from). */
  tuple(elems: Val[], names?: string[]): Val {
    if (elems.some((x) => x.k === 'error')) return ERRV;
    const t: Type = { k: 'tuple', elems: elems.map((x) => x.t as Type) };
    return { k: 'tuple', t: names ? { ...t, names } : t, elems };
  }

  block(e: Extract<A.Expr, { kind: 'block' }>, fx0: Fx): Val {
    const fx: Fx = { ...fx0, scope: new Map(fx0.scope) };
    let failed = false;
    for (const s of e.stmts) {
      let v: Val;
      try {
        v = this.expr(s.value, fx);
        if (s.type) v = this.coerceTo(v, resolveType(s.type, fx.env), s.value.span, `let ${patName(s.pat)}`);
      } catch (err) {
        if (this.b && !(err instanceof Reported)) throw err;
        this.report(err, fx.inst);
        failed = true;
        v = ERRV;
      }
      this.bindPattern(s.pat, v, fx.scope);
    }
    const r = this.expr(e.result, fx);
    return failed && r.k !== 'error' && hasError(r.t as Type) ? ERRV : r;
  }

  bindPattern(p: A.Pattern, v: Val, scope: Scope): void {
    if (p.kind === 'name') {
      if (p.name !== '_') scope.set(p.name, v);
      this.observe?.(p.span, v);
      return;
    }
    if (v.k === 'error') {
      p.elems.forEach((q) => this.bindPattern(q, ERRV, scope));
      return;
    }
    if (v.k !== 'tuple' || v.elems.length !== p.elems.length)
      throw new UserError(`cannot destructure ${typeToString(v.t as Type)} into ${p.elems.length} names`, p.span);
    p.elems.forEach((q, i) => this.bindPattern(q, v.elems[i]!, scope));
  }

  lookupVar(name: string, span: Span, fx: Fx): Val {
    const v = fx.scope.get(name);
    if (v) return v;
    const fns = this.visibleFns(fx.module, name);
    if (fns.length)
      return { k: 'closure', t: { k: 'fn' }, scope: new Map(), env: fx.env, module: fx.module, fns, name };
    const im = fx.module.imports.find((i) => i.alias === name);
    if (im) return { k: 'module', t: { k: 'fn' }, m: im.module };
    const c = BUILTIN_CONSTS[name];
    if (c) return c();
    if (BUILTINS[name])
      return { k: 'closure', t: { k: 'fn' }, scope: new Map(), env: fx.env, module: fx.module, builtin: name, name };
    if (isDType(name))
      return { k: 'closure', t: { k: 'fn' }, scope: new Map(), env: fx.env, module: fx.module, builtin: name, name };
    // every name that could have been meant: locals, builtins, dtypes, this module's functions,
    // the imported modules (their names and their public functions)
    const known = [
      ...fx.scope.keys(),
      ...Object.keys(BUILTINS),
      ...Object.keys(BUILTIN_CONSTS),
      ...DTYPES,
      ...fx.module.fns.keys(),
      ...fx.module.imports.flatMap((im) => [im.alias, ...publicFns(im.module)]),
    ];
    const near = closest(name, known);
    // the name as written is public in a stdlib module that is not imported
    const home = stdlibIndex()
      .get(name)
      ?.filter((m) => !fx.module.imports.some((im) => im.module.name === m));
    const hint = home?.length
      ? `${name} is in the stdlib module ${home.join(', ')}: add \`import ${home[0]}\``
      : near
        ? `did you mean ${near}?`
        : undefined;
    throw new UserError(`unknown name ${name}`, span, hint);
  }

  /** Functions named `name` visible from a module: its own and its imports' public ones. */
  visibleFns(m: ModuleInfo, name: string): FnInfo[] {
    const out = [...(m.fns.get(name) ?? [])];
    for (const im of m.imports)
      for (const f of im.module.fns.get(name) ?? []) if (f.decl.pub && !out.includes(f)) out.push(f);
    return out;
  }

  binaryExpr(e: Extract<A.Expr, { kind: 'binary' }>, fx: Fx): Val {
    const av = this.expr(e.a, fx);
    const bv = this.expr(e.b, fx);
    if (av.k === 'error' || bv.k === 'error') return ERRV;
    const a = ops.expectTensor(av, e.a.span, `a tensor operand for '${e.op}'`);
    const b = ops.expectTensor(bv, e.b.span, `a tensor operand for '${e.op}'`);
    const sp = e.span;
    switch (e.op) {
      case '+':
        return ops.binary(this, 'add', a, b, sp, '+');
      case '-':
        return ops.binary(this, 'sub', a, b, sp, '-');
      case '*':
        return ops.binary(this, 'mul', a, b, sp, '*');
      case '/':
        return ops.binary(this, 'div', a, b, sp, '/');
      case '%':
        return ops.binary(this, 'rem', a, b, sp, '%');
      case '**':
        return ops.binary(this, 'pow', a, b, sp, '**');
      case '@':
        return ops.matmul(this, a, b, sp);
      case '==':
        return ops.compare(this, 'eq', a, b, sp, '==');
      case '!=':
        return ops.compare(this, 'ne', a, b, sp, '!=');
      case '<':
        return ops.compare(this, 'lt', a, b, sp, '<');
      case '<=':
        return ops.compare(this, 'le', a, b, sp, '<=');
      case '>':
        return ops.compare(this, 'gt', a, b, sp, '>');
      case '>=':
        return ops.compare(this, 'ge', a, b, sp, '>=');
      case '&&':
      case '||':
        if (a.t.dtype !== 'bool' || b.t.dtype !== 'bool')
          throw new UserError(`'${e.op}' expects bool operands, found ${ops.showT(a)} and ${ops.showT(b)}`, sp);
        return ops.binary(this, e.op === '&&' ? 'and' : 'or', a, b, sp, e.op);
    }
  }

  fieldExpr(e: Extract<A.Expr, { kind: 'field' }>, fx: Fx): Val {
    const t = this.expr(e.target, fx);
    if (t.k === 'error') return t;
    if (t.k === 'module') {
      const fns = t.m.fns.get(e.name)?.filter((f) => f.decl.pub) ?? [];
      if (!fns.length) {
        const near = closest(e.name, publicFns(t.m));
        throw new UserError(
          `module ${t.m.name} has no public function ${e.name}`,
          e.span,
          near ? `did you mean ${t.m.name}.${near}?` : undefined,
        );
      }
      return { k: 'closure', t: { k: 'fn' }, scope: new Map(), env: fx.env, module: fx.module, fns, name: e.name };
    }
    // a layer tree's named part (`layers(m).blocks`)
    if (t.k === 'tuple' && t.t.names?.includes(e.name)) return t.elems[t.t.names.indexOf(e.name)]!;
    if (t.k !== 'struct')
      throw new UserError(`.${e.name}: expected a struct, found ${typeToString(t.t as Type)}`, e.span);
    const fields = this.fieldsOf(t);
    const f = fields.get(e.name);
    if (!f) {
      const near = closest(e.name, [...fields.keys()]);
      throw new UserError(
        `${t.t.s.name} has no field ${e.name}`,
        e.span,
        `its fields are ${[...fields.keys()].join(', ')}${near ? `; did you mean ${near}?` : ''}`,
      );
    }
    return f;
  }

  /** A list literal as written: its items (and '...' markers), not yet a tensor. */
  listVal(e: Extract<A.Expr, { kind: 'list' }>, fx: Fx): Extract<Val, { k: 'list' }> {
    return {
      k: 'list',
      t: { k: 'fn' },
      span: e.span,
      items: e.items.map((it) =>
        it.kind === 'spread'
          ? { spread: true as const, span: it.span }
          : { spread: false as const, v: this.expr(it, fx), span: it.span },
      ),
    };
  }

  listLiteral(e: Extract<A.Expr, { kind: 'list' }>, fx: Fx): Val {
    return this.listToTensor(this.listVal(e, fx));
  }

  /** A list as a tensor: stacked scalars or tensors of one dtype (a constant when all are literals). */
  listToTensor(l: Extract<Val, { k: 'list' }>): Val {
    const items = l.items.map((it) => {
      if (it.spread) throw new UserError(`'...' is allowed in a list only where a shape is expected`, it.span);
      return it;
    });
    if (items.some((x) => x.v.k === 'error')) return ERRV;
    if (items.length === 0) throw new UserError(`an empty list has no element type`, l.span);
    if (items[0]!.v.k !== 'tensor') {
      // a list of structs (or tuples, arrays) is an array value
      const t0 = items[0]!.v.t as Type;
      for (const it of items)
        if (!typeEq(it.v.t as Type, t0))
          throw new UserError(
            `array elements differ: ${typeToString(t0)} and ${typeToString(it.v.t as Type)}`,
            it.span,
          );
      return { k: 'array', t: { k: 'array', elem: t0, len: dimConst(items.length) }, elems: items.map((x) => x.v) };
    }
    const ts = items.map((x) => ops.expectTensor(x.v, x.span, 'a tensor element'));
    let dtype = ts[0]!.t.dtype;
    for (const t of ts.slice(1)) dtype = ops.joinDtype({ ...ts[0]!, t: { ...ts[0]!.t, dtype } }, t, l.span, 'list');
    const shape0 = ts[0]!.t.shape;
    for (const t of ts)
      if (!typeEq(t.t, { k: 'tensor', dtype: t.t.dtype, shape: shape0 }))
        throw new UserError(`list elements differ in shape: ${ops.showT(ts[0]!)} and ${ops.showT(t)}`, l.span);
    const shape = [D(dimConst(ts.length)), ...shape0];
    const allConst = ts.every((t) => t.t.shape.length === 0 && staticNumber(t.st) !== undefined);
    if (allConst) {
      const data = ts.map((t) => staticNumber(t.st)!);
      return ops.emitted(this, dtype, shape, (b) => b.emit1('constant', [], { data, shape: [ts.length], dtype }));
    }
    const parts = ts.map((t) => ops.reshape(this, ops.retype(this, t, dtype), [D(dimConst(1)), ...shape0]));
    if (parts.length === 1) return parts[0]!;
    return ops.emitted(this, dtype, shape, (b) =>
      b.emit1(
        'concat',
        parts.map((p) => ops.atomOf(this, p)),
        { axis: 0 },
      ),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Indexing and slicing

  indexExpr(e: Extract<A.Expr, { kind: 'index' }>, fx: Fx): Val {
    const target = this.expr(e.target, fx);
    if (target.k === 'error') return target;
    if (target.k === 'array') {
      if (e.items.length !== 1 || e.items[0]!.kind !== 'single')
        throw new UserError(`an array takes one index`, e.span);
      const iv = this.expr(e.items[0]!.value, fx);
      if (iv.k === 'error') return iv;
      if (!ops.isStaticInt(iv))
        throw new UserError(
          `an array index must be known at compile time`,
          e.items[0]!.span,
          'arrays of structs are unrolled; use fold or map to visit every element',
        );
      return this.arrayElem(target, dimValue(iv.st.d), e.span);
    }
    const x = ops.expectTensor(target, e.target.span, 'a tensor or an array');
    return indexTensor(this, x, e.items, fx, e.span);
  }
}

/** The names of a module's public functions. */
function publicFns(m: ModuleInfo): string[] {
  return [...m.fns].filter(([, list]) => list.some((f) => f.decl.pub)).map(([n]) => n);
}
