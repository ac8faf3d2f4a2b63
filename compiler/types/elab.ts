// The elaborator: one walk over the typed AST that both checks (symbolic dims, every function on
// its own) and lowers (concrete dims, everything inlined into one Core IR function per entry).
// Checking a function generic only over dims happens once with its dims as rigid symbols;
// a function generic over a type or layer type is checked once per instantiation.
import { Diagnostics, InternalError, UserError, type Note, type Span } from '../syntax/diag.ts';
import type * as A from '../syntax/ast.ts';
import { lookupStruct, moduleOfStruct, type FnInfo, type ModuleInfo, type Program } from '../resolve/modules.ts';
import { CoreBuilder } from './builder.ts';
import { VarSupply, type Atom, type Func, type TensorType } from '../../runtime/core/ir.ts';
import { dimConst, dimSubst, dimToString, dimValue, dimVar, dimVars, type Dim } from './dim.ts';
import {
  D,
  concreteShape,
  hasError,
  isDType,
  isFloat,
  typeEq,
  typeToString,
  type DType,
  type ShapeItem,
  type TArg,
  type Type,
} from './types.ts';
import { Mismatch, newBindings, resolveType, showPattern, solveDeferred, unifyType, type Bindings } from './unify.ts';
import { ERRV, staticNumber, type Scope, type Val } from './vals.ts';
import * as ops from './ops.ts';
import { BUILTINS, BUILTIN_CONSTS, type CallInfo } from './builtins.ts';

export interface Fx {
  module: ModuleInfo;
  env: Bindings; // generic names: dims, types, '...'
  scope: Scope;
  /** description of the instantiation being checked, for notes */
  inst?: string;
}

/** Sentinel thrown to abandon a function after its errors were reported. */
export class Reported extends Error {}

export class Elab implements ops.OpCtx {
  b?: CoreBuilder;
  readonly supply = new VarSupply();
  private readonly checking = new Map<string, Type | 'busy'>();
  private depth = 0;
  /** functions whose bodies are being checked (recursion detection) */
  private readonly active: FnInfo[] = [];

  constructor(
    readonly prog: Program,
    readonly diags: Diagnostics,
  ) {}

  // ---------------------------------------------------------------------------------------------
  // Types of values

  structFields(t: Extract<Type, { k: 'struct' }>): { name: string; t: Type; span: Span }[] {
    const s = t.s;
    const m = moduleOfStruct(this.prog, s)!;
    const b = newBindings(m, new Map(), !!this.b);
    s.params.forEach((p, i) => {
      const a = t.args[i]!;
      if (a.k === 'dim') b.dims.set(p.name, a.d);
      else b.types.set(p.name, a);
    });
    return s.decl.fields.map((f) => ({ name: f.name, t: resolveType(f.type, b), span: f.span }));
  }

  /** A value of a type with no atoms (checking). */
  placeholder(t: Type): Val {
    switch (t.k) {
      case 'tensor':
        return ops.tval(t.dtype, t.shape);
      case 'tuple':
        return { k: 'tuple', t, elems: t.elems.map((e) => this.placeholder(e)) };
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

  fieldsOf(v: Extract<Val, { k: 'struct' }>): Map<string, Val> {
    if (!v.fields) {
      v.fields = new Map(this.structFields(v.t).map((f) => [f.name, this.placeholder(f.t)]));
    }
    return v.fields;
  }

  /** One element of an array (any element when checking). */
  arrayElem(v: Extract<Val, { k: 'array' }>, i: number | undefined, span: Span): Val {
    if (v.elems) {
      if (i === undefined) return v.elems[0] ?? this.placeholder(v.t.elem);
      if (i < 0 || i >= v.elems.length) throw new UserError(`index ${i} is out of range for an array of length ${v.elems.length}`, span);
      return v.elems[i]!;
    }
    const n = dimValue(v.t.len);
    if (i !== undefined && n !== undefined && (i < 0 || i >= n)) throw new UserError(`index ${i} is out of range for an array of length ${n}`, span);
    return this.placeholder(v.t.elem);
  }

  /** Builds a value from Core leaves in flattening order (lowering). */
  fromLeaves(t: Type, next: () => Atom): Val {
    switch (t.k) {
      case 'tensor':
        return ops.tval(t.dtype, t.shape, next());
      case 'tuple':
        return { k: 'tuple', t, elems: t.elems.map((e) => this.fromLeaves(e, next)) };
      case 'array': {
        const n = dimValue(t.len)!;
        return { k: 'array', t, elems: Array.from({ length: n }, () => this.fromLeaves(t.elem, next)) };
      }
      case 'struct':
        return { k: 'struct', t, fields: new Map(this.structFields(t).map((f) => [f.name, this.fromLeaves(f.t, next)])) };
      default:
        throw new InternalError(`no leaves for ${typeToString(t)}`);
    }
  }

  /** A value of type t made of fresh parameters of a builder (one per leaf). */
  paramValue(b: CoreBuilder, t: Type, name: string): Val {
    const vars = this.leafTypes(t, name).map((l) => b.param(l.t));
    let k = 0;
    return this.fromLeaves(t, () => vars[k++]!);
  }

  /** Leaf tensor types and path names of a type (flattening order). */
  leafTypes(t: Type, path: string, out: { path: string; t: TensorType }[] = []): { path: string; t: TensorType }[] {
    switch (t.k) {
      case 'tensor': {
        const shape = concreteShape(t.shape);
        if (!shape) throw new InternalError(`leaf ${path} has a symbolic shape`);
        out.push({ path, t: { dtype: t.dtype, shape } });
        break;
      }
      case 'tuple':
        t.elems.forEach((e, i) => this.leafTypes(e, `${path}.${i}`, out));
        break;
      case 'array':
        for (let i = 0; i < dimValue(t.len)!; i++) this.leafTypes(t.elem, `${path}[${i}]`, out);
        break;
      case 'struct':
        for (const f of this.structFields(t)) this.leafTypes(f.t, `${path}.${f.name}`, out);
        break;
      default:
        throw new UserError(`a ${typeToString(t)} cannot cross the program boundary`);
    }
    return out;
  }

  /** All tensor atoms of a value in flattening order (lowering). */
  atoms(v: Val, out: Atom[] = []): Atom[] {
    switch (v.k) {
      case 'tensor':
        out.push(ops.atomOf(this, v));
        break;
      case 'tuple':
        v.elems.forEach((e) => this.atoms(e, out));
        break;
      case 'array':
        (v.elems ?? []).forEach((e) => this.atoms(e, out));
        break;
      case 'struct':
        for (const f of this.fieldsOf(v).values()) this.atoms(f, out);
        break;
      case 'error':
        throw new InternalError('lowering an erroneous value');
      default:
        throw new UserError(`a ${v.k === 'closure' ? 'function' : v.k} cannot be stored in a tensor program value`);
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Entry points

  /** Checks every function of every loaded module. */
  checkProgram(): void {
    for (const m of this.prog.modules.values())
      for (const list of m.fns.values())
        for (const f of list) {
          if (f.typeGeneric) continue; // checked at each instantiation
          this.checkFnInstance(f, new Map());
        }
  }

  /** The rigid environment of a function: dims as symbols, '...' as a symbolic prefix. */
  private rigidEnv(f: FnInfo, typeArgs: Map<string, TArg>): Bindings {
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
    const key = `${f.module.id}#${f.decl.span.start}#${[...typeArgs].map(([k, v]) => `${k}=${targKey(v)}`).join(',')}`;
    const memo = this.checking.get(key);
    if (memo === 'busy') throw new UserError(`${f.name} calls itself; recursion is not supported (use iterate, fold or map)`, callSpan ?? f.decl.nameSpan);
    if (memo) return memo;
    this.checking.set(key, 'busy');
    this.active.push(f);
    const saveB = this.b;
    this.b = undefined;
    let result: Type = { k: 'error' };
    const inst = typeArgs.size ? `${f.name} with ${[...typeArgs].map(([k, v]) => `${k} = ${targKey(v)}`).join(', ')}` : undefined;
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
        const lit = p.default && (p.default.kind === 'num' || p.default.kind === 'bool' || (p.default.kind === 'unary' && p.default.a.kind === 'num'));
        if (lit && ph.k === 'tensor' && ph.t.shape.length === 0 && (ph.t.dtype === 'i32' || ph.t.dtype === 'bool')) {
          const dv = this.expr(p.default!, { module: f.module, env, scope: new Map(), inst });
          if (dv.k === 'tensor' && dv.st) ph.st = dv.st;
        }
        scope.set(p.name, ph);
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

  private checkGradRule(f: FnInfo, fx: Fx, result: Type): void {
    const rule = f.decl.gradRule!;
    try {
      if (f.decl.params.length === 0) throw new UserError(`a gradient rule needs at least one parameter`, rule.span);
      const scope: Scope = new Map(fx.scope);
      scope.set(rule.dy, this.placeholder(result));
      const g = this.expr(rule.body, { ...fx, scope });
      const ptypes = f.decl.params.map((p) => (fx.scope.get(p.name)!.t as Type));
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
      if (inst && !d.notes.some((n) => n.message.startsWith('in '))) d.notes.push({ span: callSpan, message: `in ${inst}` });
      this.diags.add(d);
      return;
    }
    throw e;
  }

  /** Lowers an entry function applied to arguments of the given (concrete) types. */
  lowerEntry(f: FnInfo, argTypes: Type[]): { func: Func; resultType: Type; paramLeaves: { path: string; t: TensorType }[] } {
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
    if (v.k === 'tensor' && want.k === 'tensor' && v.weak && v.t.shape.length === 0 && want.shape.length === 0 && v.t.dtype !== want.dtype) {
      if (isFloat(want.dtype) || (v.t.dtype !== 'f32' && v.t.dtype !== 'f16' && want.dtype !== 'bool' && want.dtype !== 'sign'))
        return ops.retype(this, v, want.dtype);
    }
    if (!typeEq(v.t as Type, want)) throw new UserError(`${what}: expected ${typeToString(want)}, found ${typeToString(v.t as Type)}`, span);
    return v;
  }

  // ---------------------------------------------------------------------------------------------
  // Expressions

  expr(e: A.Expr, fx: Fx): Val {
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
        return { k: 'closure', t: { k: 'fn' }, lam: e, scope: new Map(fx.scope), env: fx.env, module: fx.module, name: 'fn' };
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
        if (t.k !== 'tuple') throw new UserError(`.${e.index} expects a tuple, found ${typeToString(t.t as Type)}`, e.span);
        if (e.index >= t.elems.length) throw new UserError(`tuple index ${e.index} is out of range for ${typeToString(t.t)}`, e.span);
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

  tuple(elems: Val[]): Val {
    if (elems.some((x) => x.k === 'error')) return ERRV;
    return { k: 'tuple', t: { k: 'tuple', elems: elems.map((x) => x.t as Type) }, elems };
  }

  private block(e: Extract<A.Expr, { kind: 'block' }>, fx0: Fx): Val {
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

  private bindPattern(p: A.Pattern, v: Val, scope: Scope): void {
    if (p.kind === 'name') {
      if (p.name !== '_') scope.set(p.name, v);
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

  private lookupVar(name: string, span: Span, fx: Fx): Val {
    const v = fx.scope.get(name);
    if (v) return v;
    const fns = this.visibleFns(fx.module, name);
    if (fns.length) return { k: 'closure', t: { k: 'fn' }, scope: new Map(), env: fx.env, module: fx.module, fns, name };
    const im = fx.module.imports.find((i) => i.alias === name);
    if (im) return { k: 'module', t: { k: 'fn' }, m: im.module };
    const c = BUILTIN_CONSTS[name];
    if (c) return c();
    if (BUILTINS[name]) return { k: 'closure', t: { k: 'fn' }, scope: new Map(), env: fx.env, module: fx.module, builtin: name, name };
    if (isDType(name)) return { k: 'closure', t: { k: 'fn' }, scope: new Map(), env: fx.env, module: fx.module, builtin: name, name };
    const known = [...fx.scope.keys(), ...Object.keys(BUILTINS), ...fx.module.fns.keys()];
    const near = closest(name, known);
    throw new UserError(`unknown name ${name}`, span, near ? `did you mean ${near}?` : undefined);
  }

  /** Functions named `name` visible from a module: its own and its imports' public ones. */
  visibleFns(m: ModuleInfo, name: string): FnInfo[] {
    const out = [...(m.fns.get(name) ?? [])];
    for (const im of m.imports) for (const f of im.module.fns.get(name) ?? []) if (f.decl.pub && !out.includes(f)) out.push(f);
    return out;
  }

  private binaryExpr(e: Extract<A.Expr, { kind: 'binary' }>, fx: Fx): Val {
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
        if (a.t.dtype !== 'bool' || b.t.dtype !== 'bool') throw new UserError(`'${e.op}' expects bool operands, found ${ops.showT(a)} and ${ops.showT(b)}`, sp);
        return ops.binary(this, e.op === '&&' ? 'and' : 'or', a, b, sp, e.op);
    }
  }

  private fieldExpr(e: Extract<A.Expr, { kind: 'field' }>, fx: Fx): Val {
    const t = this.expr(e.target, fx);
    if (t.k === 'error') return t;
    if (t.k === 'module') {
      const fns = t.m.fns.get(e.name)?.filter((f) => f.decl.pub) ?? [];
      if (!fns.length) throw new UserError(`module ${t.m.name} has no public function ${e.name}`, e.span);
      return { k: 'closure', t: { k: 'fn' }, scope: new Map(), env: fx.env, module: fx.module, fns, name: e.name };
    }
    if (t.k !== 'struct') throw new UserError(`.${e.name}: expected a struct, found ${typeToString(t.t as Type)}`, e.span);
    const fields = this.fieldsOf(t);
    const f = fields.get(e.name);
    if (!f) {
      const near = closest(e.name, [...fields.keys()]);
      throw new UserError(`${t.t.s.name} has no field ${e.name}`, e.span, `its fields are ${[...fields.keys()].join(', ')}${near ? `; did you mean ${near}?` : ''}`);
    }
    return f;
  }

  /** A list literal as written: its items (and '...' markers), not yet a tensor. */
  listVal(e: Extract<A.Expr, { kind: 'list' }>, fx: Fx): Extract<Val, { k: 'list' }> {
    return {
      k: 'list',
      t: { k: 'fn' },
      span: e.span,
      items: e.items.map((it) => (it.kind === 'spread' ? { spread: true as const, span: it.span } : { spread: false as const, v: this.expr(it, fx), span: it.span })),
    };
  }

  private listLiteral(e: Extract<A.Expr, { kind: 'list' }>, fx: Fx): Val {
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
      for (const it of items) if (!typeEq(it.v.t as Type, t0)) throw new UserError(`array elements differ: ${typeToString(t0)} and ${typeToString(it.v.t as Type)}`, it.span);
      return { k: 'array', t: { k: 'array', elem: t0, len: dimConst(items.length) }, elems: items.map((x) => x.v) };
    }
    const ts = items.map((x) => ops.expectTensor(x.v, x.span, 'a tensor element'));
    let dtype = ts[0]!.t.dtype;
    for (const t of ts.slice(1)) dtype = ops.joinDtype({ ...ts[0]!, t: { ...ts[0]!.t, dtype } }, t, l.span, 'list');
    const shape0 = ts[0]!.t.shape;
    for (const t of ts) if (!typeEq(t.t, { k: 'tensor', dtype: t.t.dtype, shape: shape0 })) throw new UserError(`list elements differ in shape: ${ops.showT(ts[0]!)} and ${ops.showT(t)}`, l.span);
    const shape = [D(dimConst(ts.length)), ...shape0];
    const allConst = ts.every((t) => t.t.shape.length === 0 && staticNumber(t.st) !== undefined);
    if (allConst) {
      const data = ts.map((t) => staticNumber(t.st)!);
      return ops.emitted(this, dtype, shape, (b) => b.emit1('constant', [], { data, shape: [ts.length], dtype }));
    }
    const parts = ts.map((t) => ops.reshape(this, ops.retype(this, t, dtype), [D(dimConst(1)), ...shape0]));
    if (parts.length === 1) return parts[0]!;
    return ops.emitted(this, dtype, shape, (b) => b.emit1('concat', parts.map((p) => ops.atomOf(this, p)), { axis: 0 }));
  }

  // ---------------------------------------------------------------------------------------------
  // Indexing and slicing

  private indexExpr(e: Extract<A.Expr, { kind: 'index' }>, fx: Fx): Val {
    const target = this.expr(e.target, fx);
    if (target.k === 'error') return target;
    if (target.k === 'array') {
      if (e.items.length !== 1 || e.items[0]!.kind !== 'single') throw new UserError(`an array takes one index`, e.span);
      const iv = this.expr(e.items[0]!.value, fx);
      if (iv.k === 'error') return iv;
      if (!ops.isStaticInt(iv)) throw new UserError(`an array index must be known at compile time`, e.items[0]!.span, 'arrays of structs are unrolled; use fold or map to visit every element');
      return this.arrayElem(target, dimValue(iv.st.d), e.span);
    }
    const x = ops.expectTensor(target, e.target.span, 'a tensor or an array');
    return indexTensor(this, x, e.items, fx, e.span);
  }

  // ---------------------------------------------------------------------------------------------
  // Struct literals

  private structLit(e: Extract<A.Expr, { kind: 'structLit' }>, fx: Fx): Val {
    const s = lookupStruct(fx.module, e.name);
    if (!s) throw new UserError(`unknown struct ${e.name}`, e.span);
    const vals = new Map<string, { v: Val; span: Span }>();
    for (const f of e.fields) {
      if (vals.has(f.name)) throw new UserError(`field ${f.name} is given twice`, f.span);
      vals.set(f.name, { v: this.expr(f.value, fx), span: f.span });
    }
    if ([...vals.values()].some((x) => x.v.k === 'error')) return ERRV;
    const declNames = s.decl.fields.map((f) => f.name);
    for (const [n, { span }] of vals) if (!declNames.includes(n)) throw new UserError(`${s.name} has no field ${n}`, span, `its fields are ${declNames.join(', ')}`);
    let t: Extract<Type, { k: 'struct' }>;
    if (e.base) {
      // `S { ..base, f: v }`: the other fields come from base; the type is inferred again, so an
      // update may change a type parameter (e.g. a model's layer type)
      const base = this.expr(e.base, fx);
      if (base.k === 'error') return base;
      if (base.k !== 'struct' || base.t.s !== s) throw new UserError(`the base of ${s.name} { ..base } must be a ${s.name}, found ${typeToString(base.t as Type)}`, e.base.span);
      for (const [n, v] of this.fieldsOf(base)) if (!vals.has(n)) vals.set(n, { v, span: e.base.span });
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
      const m = moduleOfStruct(this.prog, s)!;
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
    const fieldTypes = this.structFields(t);
    const fields = new Map<string, Val>();
    for (const f of fieldTypes) {
      const given = vals.get(f.name);
      fields.set(f.name, this.coerceTo(given!.v, f.t, given!.span, `field ${f.name} of ${s.name}`));
    }
    return { k: 'struct', t, fields };
  }

  // ---------------------------------------------------------------------------------------------
  // Calls

  private callExpr(e: Extract<A.Expr, { kind: 'call' }>, fx: Fx): Val {
    const callee = this.expr(e.fn, fx);
    if (callee.k === 'error') return callee;
    if (callee.k !== 'closure') throw new UserError(`${callee.k === 'tensor' ? typeToString(callee.t) : callee.k} is not a function`, e.fn.span);
    const keepLists = !!callee.builtin;
    const pos: Val[] = [];
    const posSpans: Span[] = [];
    const named = new Map<string, { v: Val; span: Span }>();
    for (const a of e.args) {
      const v = keepLists && a.value.kind === 'list' ? this.listVal(a.value, fx) : this.expr(a.value, fx);
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
    return this.applyCallable(callee, pos, posSpans, named, e.span, fx);
  }

  applyCallable(
    callee: Extract<Val, { k: 'closure' }>,
    pos: Val[],
    posSpans: Span[],
    named: Map<string, { v: Val; span: Span }>,
    span: Span,
    fx: Fx | undefined,
  ): Val {
    if (callee.builtin) {
      const bi = BUILTINS[callee.builtin] ?? BUILTINS['$cast'];
      const info: CallInfo = { el: this, fx: fx ?? this.closureFx(callee), args: pos, spans: posSpans, named, span, name: callee.builtin };
      return bi!(info);
    }
    if (callee.fns) {
      // overloads: the visible ones plus those next to the argument struct types (ADL)
      const cands = [...callee.fns];
      for (const v of pos) if (v.k === 'struct') {
        const m = moduleOfStruct(this.prog, v.t.s);
        for (const f of m?.fns.get(callee.name) ?? []) if (f.decl.pub && !cands.includes(f)) cands.push(f);
      }
      return this.callOverloaded(cands, pos, posSpans, named, span, callee.name);
    }
    return this.applyLambda(callee, pos, posSpans, named, span);
  }

  private closureFx(c: Extract<Val, { k: 'closure' }>): Fx {
    return { module: c.module, env: c.env, scope: c.scope };
  }

  /** Applies a lambda: parameters are bound (checked against annotations), the body elaborated. */
  applyLambda(c: Extract<Val, { k: 'closure' }>, pos: Val[], posSpans: Span[], named: Map<string, { v: Val; span: Span }>, span: Span): Val {
    const lam = c.lam!;
    if (named.size) throw new UserError(`a lambda takes positional arguments only`, span);
    if (pos.length !== lam.params.length) throw new UserError(`this function takes ${lam.params.length} argument(s), found ${pos.length}`, span, undefined, [{ span: lam.span, message: 'the function' }]);
    const outer = this.closureFx(c);
    const scope: Scope = new Map(c.scope);
    lam.params.forEach((p, i) => {
      let v = pos[i]!;
      if (p.type) v = this.coerceTo(v, resolveType(p.type, outer.env), posSpans[i] ?? span, `argument ${p.name}`);
      scope.set(p.name, v);
    });
    this.enter(span);
    try {
      const r = this.expr(lam.body, { ...outer, scope });
      if (lam.ret) return this.coerceTo(r, resolveType(lam.ret, outer.env), resultSpan(lam.body), 'lambda result');
      return r;
    } finally {
      this.depth--;
    }
  }

  private enter(span: Span): void {
    if (++this.depth > 200) {
      this.depth = 0;
      throw new UserError(`calls nest more than 200 deep (mutual recursion?)`, span, 'recursion is not supported; use iterate, fold or map');
    }
  }

  /** Matches arguments to a function's parameters; returns the bindings or a reason. */
  private matchArgs(f: FnInfo, pos: Val[], named: Map<string, { v: Val; span: Span }>): { b: Bindings; args: (Val | undefined)[] } | Mismatch {
    const ps = f.decl.params;
    if (pos.length > ps.length) return new Mismatch(`${f.name} takes ${ps.length} argument(s), found ${pos.length + named.size}`);
    const args: (Val | undefined)[] = ps.map((_, i) => pos[i]);
    for (const [n, { v }] of named) {
      const i = ps.findIndex((p) => p.name === n);
      if (i < 0) return new Mismatch(`${f.name} has no parameter named ${n}`);
      if (args[i]) return new Mismatch(`argument ${n} is given twice`);
      args[i] = v;
    }
    const missing = ps.filter((p, i) => !args[i] && !p.default);
    if (missing.length) return new Mismatch(`missing argument ${missing.map((p) => p.name).join(', ')}`);
    const b = newBindings(f.module, f.kinds, !!this.b);
    try {
      ps.forEach((p, i) => {
        let v = args[i];
        if (!v) return;
        if (v.k === 'closure' || v.k === 'str' || v.k === 'module') throw new Mismatch(`argument ${p.name}: expected ${showPattern(p.type, b)}, found a ${v.k === 'str' ? 'string' : 'function'}`);
        // weak literals adopt a scalar parameter's dtype
        if (v.k === 'tensor' && v.weak && v.t.shape.length === 0 && p.type.kind === 'name' && isDType(p.type.name) && p.type.name !== v.t.dtype) {
          if (isFloat(p.type.name as DType) || !isFloat(v.t.dtype)) v = ops.retype(this, v, p.type.name as DType);
          args[i] = v;
        }
        try {
          unifyType(p.type, v.t as Type, b);
        } catch (e) {
          if (e instanceof Mismatch) {
            const why = e.why.startsWith('expected') ? `expected ${showPattern(p.type, b)}, found ${typeToString(v.t as Type)}` : e.why;
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

  callOverloaded(cands: FnInfo[], pos: Val[], posSpans: Span[], named: Map<string, { v: Val; span: Span }>, span: Span, name: string): Val {
    const ok: { f: FnInfo; m: { b: Bindings; args: (Val | undefined)[] } }[] = [];
    const fails: { f: FnInfo; why: string }[] = [];
    for (const f of cands) {
      const m = this.matchArgs(f, pos, named);
      if (m instanceof Mismatch) fails.push({ f, why: m.why });
      else ok.push({ f, m });
    }
    if (ok.length === 0) {
      const argTypes = [...pos.map((v) => typeToString(v.t as Type)), ...[...named].map(([n, x]) => `${n}: ${typeToString(x.v.t as Type)}`)].join(', ');
      if (fails.length === 1) throw new UserError(`${name}: ${fails[0]!.why}`, span, undefined, [{ span: fails[0]!.f.decl.nameSpan, message: `${name} is defined here` }]);
      const notes: Note[] = fails.map((x) => ({ span: x.f.decl.nameSpan, message: `candidate: ${x.why}` }));
      throw new UserError(`no overload of ${name} takes (${argTypes})`, span, undefined, notes);
    }
    if (ok.length > 1) {
      throw new UserError(`call to ${name} is ambiguous`, span, undefined, ok.map((x) => ({ span: x.f.decl.nameSpan, message: 'candidate' })));
    }
    const { f, m } = ok[0]!;
    return this.invoke(f, m.b, m.args, span, posSpans);
  }

  /** Calls one known function (entry lowering and direct calls). */
  callFn(f: FnInfo, pos: Val[], named: Map<string, { v: Val; span: Span }>, span: Span, _fx: Fx | undefined): Val {
    return this.callOverloaded([f], pos, [], named, span, f.name);
  }

  private invoke(f: FnInfo, b: Bindings, args0: (Val | undefined)[], span: Span, _posSpans: Span[]): Val {
    // unbound generics
    for (const [n, k] of f.kinds) {
      if (k.k === 'dim' && !b.dims.has(n)) throw new UserError(`${f.name}: cannot infer dim ${n} from the arguments`, span, undefined, [{ span: f.decl.nameSpan, message: `${f.name} is defined here` }]);
      if ((k.k === 'type' || k.k === 'ctor') && !b.types.has(n)) throw new UserError(`${f.name}: cannot infer ${n} from the arguments`, span);
    }
    const env = newBindings(f.module, new Map(), !!this.b);
    for (const [n, d] of b.dims) env.dims.set(n, d);
    for (const [n, t] of b.types) env.types.set(n, t);
    env.spread = b.spread;
    // defaults
    const args = args0.slice();
    const scope: Scope = new Map();
    for (const [n, d] of env.dims) scope.set(n, ops.tval('i32', [], undefined, { k: 'int', d }));
    f.decl.params.forEach((p, i) => {
      if (!args[i]) {
        const dv = this.expr(p.default!, { module: f.module, env, scope: new Map(scope) });
        args[i] = this.coerceTo(dv, resolveType(p.type, env), p.default!.span, `default of ${p.name}`);
      }
    });
    if (!this.b) {
      // checking: the result type from the signature or from the checked body
      const typeArgs = new Map([...b.types]);
      if (this.active.includes(f)) throw new UserError(`${f.name} calls itself; recursion is not supported (use iterate, fold or map)`, span);
      let rt: Type;
      if (f.typeGeneric) {
        rt = this.checkFnInstance(f, typeArgs, span);
        if (rt.k === 'error') throw new Reported();
        const rigid = this.rigidEnv(f, typeArgs);
        rt = substType(rt, rigid, env);
      } else if (f.decl.ret) rt = resolveType(f.decl.ret, env);
      else {
        rt = this.checkFnInstance(f, new Map(), span);
        if (rt.k === 'error') throw new Reported();
        rt = substType(rt, this.rigidEnv(f, new Map()), env);
      }
      return this.placeholder(rt);
    }
    // lowering: inline the body
    f.decl.params.forEach((p, i) => scope.set(p.name, args[i]!));
    this.enter(span);
    try {
      if (f.decl.gradRule) return this.lowerCustomVjp(f, env, scope, args as Val[]);
      const r = this.expr(f.decl.body, { module: f.module, env, scope });
      if (f.decl.ret) return this.coerceTo(r, resolveType(f.decl.ret, env), resultSpan(f.decl.body), `result of ${f.name}`);
      return r;
    } finally {
      this.depth--;
    }
  }

  /** A function with a gradient rule lowers to custom_vjp(fwd, bwd) over its tensor leaves. */
  private lowerCustomVjp(f: FnInfo, env: Bindings, scope: Scope, args: Val[]): Val {
    const outer = this.b!;
    const argTypes = args.map((a) => a.t as Type);
    for (const [i, a] of args.entries())
      if (a.k === 'closure' || a.k === 'str' || a.k === 'module') throw new UserError(`a function with a gradient rule takes tensors and structs only`, f.decl.params[i]!.span);
    // both bodies start from the parameters as fresh leaves of a closed builder
    const open = (): { b: CoreBuilder; scope: Scope } => {
      const b = new CoreBuilder(this.supply, outer, false);
      this.b = b;
      const sc: Scope = new Map(scope);
      argTypes.forEach((t, i) => sc.set(f.decl.params[i]!.name, this.paramValue(b, t, f.decl.params[i]!.name)));
      return { b, scope: sc };
    };
    const fo = open();
    let r = this.expr(f.decl.body, { module: f.module, env, scope: fo.scope });
    if (f.decl.ret) r = this.coerceTo(r, resolveType(f.decl.ret, env), resultSpan(f.decl.body), `result of ${f.name}`);
    const fwd = fo.b.finish(this.atoms(r)).func;
    // backward body: (primals..., cotangents...) -> cotangent per primal leaf
    const bo = open();
    const bb = bo.b;
    const rt = r.t as Type;
    bo.scope.set(f.decl.gradRule!.dy, this.paramValue(bb, rt, 'dy'));
    const g = this.expr(f.decl.gradRule!.body, { module: f.module, env, scope: bo.scope });
    const bwd = bb.finish(this.atoms(g)).func;
    this.b = outer;
    const outs = outer.emit('custom_vjp', args.flatMap((a) => this.atoms(a)), { fwd, bwd, name: f.name });
    let j = 0;
    return this.fromLeaves(rt, () => outs[j++]!);
  }
}

// -----------------------------------------------------------------------------------------------
// helpers

function collectNames(a: TArg, out: Set<string>): void {
  const t = a.k === 'type' ? a.t : undefined;
  if (a.k === 'dim') for (const v of dimVars(a.d)) out.add(v);
  if (!t) return;
  const walk = (x: Type): void => {
    if (x.k === 'tensor') for (const it of x.shape) if (it.k === 'dim') for (const v of dimVars(it.d)) out.add(v);
    if (x.k === 'tuple') x.elems.forEach(walk);
    if (x.k === 'array') {
      walk(x.elem);
      for (const v of dimVars(x.len)) out.add(v);
    }
    if (x.k === 'struct') for (const y of x.args) collectNames(y, out);
  };
  walk(t);
}

function targKey(a: TArg): string {
  return a.k === 'ctor' ? a.s.name : a.k === 'type' ? typeToString(a.t) : dimToString(a.d);
}

/** Re-expresses a type over a callee's rigid dims in the caller's terms. */
function substType(t: Type, rigid: Bindings, actual: Bindings): Type {
  const map = new Map<string, Dim>();
  for (const [n, d] of rigid.dims) {
    const name = [...dimVars(d)][0]!;
    const a = actual.dims.get(n);
    if (a) map.set(name, a);
  }
  const dim = (d: Dim) => dimSubst(d, (v) => map.get(v));
  const shape = (s: ShapeItem[]): ShapeItem[] =>
    s.flatMap((it) => (it.k === 'spread' ? (it.name === '...' && actual.spread ? actual.spread : [it]) : [D(dim(it.d))]));
  const go = (x: Type): Type => {
    switch (x.k) {
      case 'tensor':
        return { ...x, shape: shape(x.shape) };
      case 'tuple':
        return { k: 'tuple', elems: x.elems.map(go) };
      case 'array':
        return { k: 'array', elem: go(x.elem), len: dim(x.len) };
      case 'struct':
        return { k: 'struct', s: x.s, args: x.args.map((a) => (a.k === 'dim' ? { k: 'dim', d: dim(a.d) } : a.k === 'type' ? { k: 'type', t: go(a.t) } : a)) };
      default:
        return x;
    }
  };
  return go(t);
}

export function resultSpan(e: A.Expr): Span {
  return e.kind === 'block' ? resultSpan(e.result) : e.span;
}

function patName(p: A.Pattern): string {
  return p.kind === 'name' ? p.name : `(${p.elems.map(patName).join(', ')})`;
}

function closest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of new Set(known)) {
    const d = editDistance(name, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return dp[a.length]![b.length]!;
}

// index expressions live in their own file
import { indexTensor } from './index_expr.ts';
