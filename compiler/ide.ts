// What an editor asks of a program (the language server, cli/lsp.ts): its diagnostics; the type and
// shape of the expression or name under the cursor; where a name is defined, across modules; and
// the names that can be written at a point (locals, functions, imported modules' public ones,
// builtins, stdlib modules after `import`). Built on the compiler's own loader and checker: the
// checker reports each expression's value as it meets it (Elab.observe), and a walk of the AST
// finds the local bindings in scope at an offset.
import type * as A from './syntax/ast.ts';
import type { Diagnostic, SourceFile, Span } from './syntax/diag.ts';
import {
  loadProgram,
  lookupStruct,
  STDLIB_DIR,
  stdlibModules,
  type FnInfo,
  type ModuleInfo,
  type Program,
} from './resolve/modules.ts';
import { Elab } from './types/elab/elab.ts';
import { BUILTINS, BUILTIN_CONSTS } from './types/elab/builtins.ts';
import { typeToString, type Type } from './types/types.ts';
import { nameSpan } from './types/elab_util.ts';
import { DTYPES } from '../runtime/core/dtype.ts';
import type { CompileOptions } from './api.ts';

export type CompletionKind = 'local' | 'function' | 'builtin' | 'module' | 'struct' | 'keyword' | 'type';
export interface Completion {
  name: string;
  kind: CompletionKind;
  detail?: string;
}

export interface Hover {
  /** the expression's or name's type (tensors with their shapes: `f32[T, 64]`), or a signature */
  text: string;
  span: Span;
}

const KEYWORDS = ['fn', 'let', 'struct', 'pub', 'import', 'as', 'grad', 'true', 'false'];

/** One analysis of a source text and the modules it imports. */
export class Analysis {
  readonly diagnostics: Diagnostic[];
  /** every observed [start, end) of the root file with the distinct types seen there */
  private readonly types = new Map<string, { span: Span; types: string[] }>();

  constructor(
    readonly program: Program,
    private readonly stdlibDir: string,
  ) {
    const el = new Elab(program, program.diags);
    const root = program.root.file;
    el.observe = (span, v) => {
      if (span.file.path !== root.path || v.k === 'closure' || v.k === 'module' || v.k === 'list' || v.k === 'str')
        return;
      if (v.k === 'error') return;
      const key = `${span.start}:${span.end}`;
      const t = typeToString(v.t as Type);
      const have = this.types.get(key);
      if (!have) this.types.set(key, { span, types: [t] });
      else if (!have.types.includes(t) && have.types.length < 4) have.types.push(t);
    };
    if (!program.diags.hasErrors()) el.checkProgram();
    this.diagnostics = program.diags.list;
  }

  get root(): ModuleInfo {
    return this.program.root;
  }

  /** A source file's absolute path (diagnostics name imported files relative to the project). */
  pathOf(file: SourceFile): string {
    for (const [id, m] of this.program.modules) if (m.file.path === file.path) return id;
    return file.path;
  }

  /** The type under the cursor: a name's declaration, else the innermost expression's type. */
  hover(offset: number): Hover | undefined {
    const ref = this.reference(offset);
    const fn = ref && this.functionsOf(ref);
    if (ref && fn?.length) return { text: fn.map(signature).join('\n'), span: ref.span };
    if (ref?.kind === 'module') {
      const m = this.root.imports.find((i) => i.alias === ref.name)?.module;
      if (m) return { text: `module ${m.name} (${m.file.path})`, span: ref.span };
    }
    // the innermost expression around offset; one that merely ends there (the cursor just after a
    // name) only when none contains it
    let best: { span: Span; types: string[] } | undefined;
    const rank = (s: Span) => (offset < s.end ? 0 : 1e9) + s.end - s.start;
    for (const t of this.types.values())
      if (t.span.start <= offset && offset <= t.span.end) if (!best || rank(t.span) < rank(best.span)) best = t;
    if (!best) return undefined;
    const text = this.root.file.text.slice(best.span.start, best.span.end);
    const head = /^[A-Za-z_]\w*$/.test(text) ? `${text}: ` : '';
    return { text: head + best.types.join(' | '), span: best.span };
  }

  /** Where the name under the cursor is defined (a local binding, a function, a struct, a module). */
  definition(offset: number): Span | undefined {
    const ref = this.reference(offset);
    if (!ref) return undefined;
    if (ref.kind === 'local') return ref.binding;
    if (ref.kind === 'module') {
      const m = this.root.imports.find((i) => i.alias === ref.name)?.module;
      return m && { file: m.file, start: 0, end: 0 };
    }
    if (ref.kind === 'type') {
      const s = lookupStruct(this.root, ref.name);
      return s?.decl.nameSpan;
    }
    return this.functionsOf(ref)?.[0]?.decl.nameSpan;
  }

  /** The names that can be written at offset. */
  completions(offset: number): Completion[] {
    const text = this.root.file.text;
    const line = text.slice(text.lastIndexOf('\n', offset - 1) + 1, offset);
    if (/^\s*import\s+[\w.]*$/.test(line))
      return stdlibModules(this.stdlibDir).map((name) => ({ name, kind: 'module' as const }));
    const member = /([A-Za-z_]\w*)\.\w*$/.exec(line);
    if (member) {
      const m = this.root.imports.find((i) => i.alias === member[1])?.module;
      if (m) return publicNames(m);
    }
    const out: Completion[] = [];
    const seen = new Set<string>();
    const add = (c: Completion) => {
      if (seen.has(c.name)) return;
      seen.add(c.name);
      out.push(c);
    };
    for (const b of [...localsAt(this.root.ast, offset)].reverse()) add({ name: b.name, kind: 'local' });
    for (const [name, list] of this.root.fns) add({ name, kind: 'function', detail: signature(list[0]!) });
    for (const name of this.root.structs.keys()) add({ name, kind: 'struct' });
    for (const im of this.root.imports) {
      add({ name: im.alias, kind: 'module', detail: im.module.file.path });
      for (const c of publicNames(im.module)) add(c);
    }
    for (const name of [...Object.keys(BUILTINS), ...Object.keys(BUILTIN_CONSTS)]) add({ name, kind: 'builtin' });
    for (const name of DTYPES) add({ name, kind: 'type' });
    for (const name of KEYWORDS) add({ name, kind: 'keyword' });
    return out;
  }

  private functionsOf(ref: Reference): FnInfo[] | undefined {
    if (ref.kind === 'function') {
      const own = this.root.fns.get(ref.name) ?? [];
      const imported = this.root.imports.flatMap((im) => (im.module.fns.get(ref.name) ?? []).filter((f) => f.decl.pub));
      return [...own, ...imported];
    }
    if (ref.kind === 'member') {
      const m = this.root.imports.find((i) => i.alias === ref.module)?.module;
      return m?.fns.get(ref.name)?.filter((f) => f.decl.pub);
    }
    return undefined;
  }

  /** The name at offset and what it refers to. */
  private reference(offset: number): Reference | undefined {
    const hit = nameAt(this.root.ast, offset);
    if (!hit) return undefined;
    if (hit.kind === 'type') return hit;
    if (hit.kind === 'member') {
      const isModule = this.root.imports.some((i) => i.alias === hit.module);
      const shadowed = localsAt(this.root.ast, offset).some((b) => b.name === hit.module);
      return isModule && !shadowed ? hit : undefined;
    }
    const local = [...localsAt(this.root.ast, offset)].reverse().find((b) => b.name === hit.name);
    if (local) return { kind: 'local', name: hit.name, span: hit.span, binding: local.span };
    if (this.root.imports.some((i) => i.alias === hit.name)) return { kind: 'module', name: hit.name, span: hit.span };
    return { kind: 'function', name: hit.name, span: hit.span };
  }
}

type Reference =
  | { kind: 'local'; name: string; span: Span; binding: Span }
  | { kind: 'function'; name: string; span: Span }
  | { kind: 'module'; name: string; span: Span }
  | { kind: 'member'; module: string; name: string; span: Span }
  | { kind: 'type'; name: string; span: Span };

/** Analyses a source text (its imports read through opts.readFile or from disk). Never throws on
 *  user errors: they are the analysis's diagnostics. */
export function analyze(source: string, opts: CompileOptions = {}): Analysis {
  return new Analysis(loadProgram(opts.path ?? 'main.obt', source, opts), opts.stdlibDir ?? STDLIB_DIR);
}

/** `fn name[G](p: T, …) -> R`: a function's header as written. */
function signature(f: FnInfo): string {
  const d = f.decl;
  const text = f.module.file.text;
  const end = d.gradRule ? d.gradRule.span.start : d.body.span.start;
  const head = text
    .slice(d.span.start, end)
    .replace(/\s*=?\s*$/, '')
    .replace(/\s+/g, ' ');
  return `${head}   (${f.module.name})`;
}

function publicNames(m: ModuleInfo): Completion[] {
  const out: Completion[] = [];
  for (const [name, list] of m.fns) {
    const pub = list.filter((f) => f.decl.pub);
    if (pub.length) out.push({ name, kind: 'function', detail: signature(pub[0]!) });
  }
  for (const [name, s] of m.structs) if (s.decl.pub) out.push({ name, kind: 'struct' });
  return out;
}

// ---- the AST walk: local bindings in scope, the name at an offset ------------------------------

interface Binding {
  name: string;
  span: Span;
}

const within = (s: Span, offset: number) => s.start <= offset && offset <= s.end;

/** The local names visible at offset, outermost first (generic dims, parameters, lets, lambda
 *  parameters of the enclosing function). */
function localsAt(mod: A.Module, offset: number): Binding[] {
  const out: Binding[] = [];
  for (const it of mod.items) {
    if (it.kind !== 'fn' || !within(it.span, offset)) continue;
    for (const g of it.generics) if (g.name !== '...') out.push(g);
    for (const p of it.params) out.push({ name: p.name, span: nameSpan(p.span, p.name) });
    if (it.gradRule && within(it.gradRule.span, offset)) {
      out.push({ name: it.gradRule.dy, span: it.gradRule.span });
      exprLocals(it.gradRule.body, offset, out);
    } else exprLocals(it.body, offset, out);
  }
  return out;
}

function exprLocals(e: A.Expr, offset: number, out: Binding[]): void {
  if (!within(e.span, offset)) return;
  if (e.kind === 'block') {
    for (const s of e.stmts) {
      if (within(s.value.span, offset)) return exprLocals(s.value, offset, out);
      if (s.span.start > offset) return;
      patternNames(s.pat, out);
    }
    return exprLocals(e.result, offset, out);
  }
  if (e.kind === 'lambda') {
    for (const p of e.params) out.push({ name: p.name, span: nameSpan(p.span, p.name) });
    return exprLocals(e.body, offset, out);
  }
  for (const c of children(e)) if (within(c.span, offset)) return exprLocals(c, offset, out);
}

function patternNames(p: A.Pattern, out: Binding[]): void {
  if (p.kind === 'name') {
    if (p.name !== '_') out.push({ name: p.name, span: p.span });
  } else p.elems.forEach((q) => patternNames(q, out));
}

/** An expression's sub-expressions. */
function children(e: A.Expr): A.Expr[] {
  switch (e.kind) {
    case 'num':
    case 'bool':
    case 'str':
    case 'var':
      return [];
    case 'binary':
      return [e.a, e.b];
    case 'unary':
      return [e.a];
    case 'call':
      return [e.fn, ...e.args.map((a) => a.value)];
    case 'index':
      return [
        e.target,
        ...e.items.flatMap((i) =>
          i.kind === 'single' ? [i.value] : i.kind === 'range' ? [i.start, i.stop, i.step].filter((x) => !!x) : [],
        ),
      ];
    case 'field':
    case 'tupleField':
      return [e.target];
    case 'tuple':
      return e.elems;
    case 'list':
      return e.items.filter((x): x is A.Expr => x.kind !== 'spread');
    case 'structLit':
      return [...(e.base ? [e.base] : []), ...e.fields.map((f) => f.value)];
    case 'block':
      return [...e.stmts.map((s) => s.value), e.result];
    case 'lambda':
      return [e.body];
  }
}

type NameHit =
  | { kind: 'name'; name: string; span: Span }
  | { kind: 'member'; module: string; name: string; span: Span }
  | { kind: 'type'; name: string; span: Span };

/** The identifier at offset: a variable, `module.member`, or a type name in an annotation. */
function nameAt(mod: A.Module, offset: number): NameHit | undefined {
  let hit: NameHit | undefined;
  const visitType = (t: A.TypeExpr | undefined): void => {
    if (!t || !within(t.span, offset)) return;
    if (t.kind === 'name' || t.kind === 'applied') {
      const s = nameSpan(t.span, t.name);
      if (within(s, offset)) hit = { kind: 'type', name: t.name, span: s };
      if (t.kind === 'applied') for (const a of t.args) if (a.kind === 'type') visitType(a.type);
    } else if (t.kind === 'tuple') t.elems.forEach(visitType);
    else visitType(t.elem);
  };
  const visit = (e: A.Expr): void => {
    if (!within(e.span, offset)) return;
    if (e.kind === 'var') hit = { kind: 'name', name: e.name, span: e.span };
    else if (e.kind === 'field' && e.target.kind === 'var' && offset > e.target.span.end)
      hit = {
        kind: 'member',
        module: e.target.name,
        name: e.name,
        span: { ...e.span, start: e.span.end - e.name.length },
      };
    else if (e.kind === 'block') e.stmts.forEach((s) => visitType(s.type));
    else if (e.kind === 'lambda') {
      e.params.forEach((p) => visitType(p.type));
      visitType(e.ret);
    }
    if (hit?.span === e.span) return;
    children(e).forEach(visit);
  };
  for (const it of mod.items) {
    if (!within(it.span, offset)) continue;
    if (it.kind === 'fn') {
      it.params.forEach((p) => {
        visitType(p.type);
        if (p.default) visit(p.default);
      });
      visitType(it.ret);
      if (it.gradRule) visit(it.gradRule.body);
      visit(it.body);
    } else if (it.kind === 'struct') it.fields.forEach((f) => visitType(f.type));
  }
  return hit;
}
