// Module loading and name resolution: parses a root file and its imports (stdlib and relative),
// builds per-module tables of structs and function overload sets, and infers generic-parameter
// kinds (dim, type, layer-type constructor) from how each parameter is used.
import { dirname, join, relative, resolve, sep } from 'node:path';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { MAX_SOURCE_BYTES } from '../syntax/limits.ts';
import { Diagnostics, UserError, type SourceFile, type Span } from '../syntax/diag.ts';
import { parseModule } from '../syntax/parse.ts';
import { within } from '../core/budget.ts';
import type * as A from '../syntax/ast.ts';
import { isDType } from '../../runtime/core/dtype.ts';
import { LAYERS_TYPE, type GenericKind, type StructInfo } from './symbols.ts';

import { PROJECT_ROOT } from './root.ts';

export { PROJECT_ROOT };
export const STDLIB_DIR = join(PROJECT_ROOT, 'stdlib');

export interface FnInfo {
  name: string;
  decl: A.FnDecl;
  module: ModuleInfo;
  kinds: Map<string, GenericKind>;
  /** generic over a type or layer-type parameter: checked per instantiation */
  typeGeneric: boolean;
}

export interface ModuleInfo {
  id: string;
  name: string; // the name it is imported under by default (file stem)
  file: SourceFile;
  ast: A.Module;
  structs: Map<string, StructInfo>;
  fns: Map<string, FnInfo[]>;
  imports: { module: ModuleInfo; alias: string }[];
}

export interface LoadOptions {
  /** Reads a file; defaults to the file system. */
  readFile?: (path: string) => string | undefined;
  stdlibDir?: string;
  /** Modules by name: `import NAME` anywhere resolves to the given file, and the root imports each
   *  (so a driver can add a user's module, e.g. a quantization method, to a program it compiles). */
  imports?: Record<string, string>;
  /** Sealed modules (by path): text that came from an untrusted file (a method inside a model
   *  file), served by `readFile` only. A sealed module may import the standard library and
   *  models/ by name and nothing else: no path of the user's file system is resolved, opened or
   *  stat'ed on its behalf, so no other file's content can appear in its diagnostics. */
  sealed?: string[];
}

export const MODELS_DIR = join(PROJECT_ROOT, 'models');

export class Program {
  readonly modules = new Map<string, ModuleInfo>();
  constructor(
    readonly root: ModuleInfo,
    readonly diags: Diagnostics,
    /** the sealed modules' ids (LoadOptions.sealed): their loops are bounded by the compile budget */
    readonly sealed: ReadonlySet<string> = new Set(),
  ) {}
}

/** The project a root file belongs to: the nearest folder above it holding `package.json` or `.git`,
 *  else its own folder. Imports resolve only inside it and the standard library (and models/). */
function projectRoot(file: string): string {
  const start = dirname(resolve(file));
  for (let d = start; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json')) || existsSync(join(d, '.git'))) return d;
    if (dirname(d) === d) return start;
  }
}

/** Why a module file cannot be imported, or undefined when it can (or does not exist: a reader may
 *  still supply it, e.g. an editor's unsaved buffer). Checked before anything is read, so a refused
 *  import never reads — nor echoes — another file: only `.obt` regular files of at most
 *  MAX_SOURCE_BYTES, whose real path (symlinks followed) lies under one of `roots`. */
function importRefusal(p: string, roots: string[]): string | undefined {
  if (!p.endsWith('.obt')) return 'a module is a .obt file';
  let st;
  try {
    st = statSync(p);
  } catch {
    return undefined;
  }
  if (st.isDirectory()) return 'it is a directory';
  if (!st.isFile()) return 'it is not a regular file (a device, FIFO or socket)';
  if (st.size > MAX_SOURCE_BYTES * 3)
    return `it has ${st.size} bytes; a source file may have at most ${MAX_SOURCE_BYTES} characters`;
  const real = realpathSync(p);
  if (!roots.some((r) => real === r || real.startsWith(r.endsWith(sep) ? r : r + sep)))
    return `it is outside the project (${roots.join(', ')})`;
  return undefined;
}

/** The files a sealed module's import may name (the standard library's and models/' modules of
 *  that name), or why it may not: decided from the import's text alone, nothing on disk looked at. */
function sealedImport(t: A.ImportDecl['target'], stdlib: string): string[] | string {
  if (t.kind === 'path') return 'a module inside a model file cannot import a file by path';
  if (!t.parts.every((p) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(p))) return 'not a module name';
  const rel = t.parts.join('/') + '.obt';
  const out = [join(stdlib, rel)];
  if (t.parts[0] === 'models' && t.parts.length > 1) out.push(join(PROJECT_ROOT, rel));
  return out;
}

const stem = (p: string) => p.replace(/^.*[\\/]/, '').replace(/\.obt$/, '');

/** Loads a program from source text (the root) and everything it imports. Syntax and resolution
 *  errors are collected in the returned Program's diagnostics. */
export function loadProgram(path: string, text: string, opts: LoadOptions = {}): Program {
  const diags = new Diagnostics();
  const read = opts.readFile ?? ((p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined));
  const stdlib = opts.stdlibDir ?? STDLIB_DIR;
  const modules = new Map<string, ModuleInfo>();
  const loading = new Set<string>();
  const sealed = new Set((opts.sealed ?? []).map((f) => resolve(f)));
  const roots = [
    ...new Set([
      ...(sealed.has(resolve(path)) ? [] : [projectRoot(path)]),
      stdlib,
      PROJECT_ROOT,
      ...Object.values(opts.imports ?? {})
        .filter((f) => !sealed.has(resolve(f)))
        .map((f) => dirname(resolve(f))),
    ]),
  ].map((r) => (existsSync(r) ? realpathSync(r) : r));

  const load = (id: string, file: SourceFile): ModuleInfo | undefined => {
    const have = modules.get(id);
    if (have) return have; // also breaks import cycles: declarations are order-independent
    loading.add(id);
    let ast: A.Module;
    try {
      // an untrusted source's parse work is bounded before it starts
      if (sealed.has(id))
        within('sealedSourceChars', file.text.length, 'this source has this many characters', {
          file,
          start: 0,
          end: 0,
        });
      ast = parseModule(file);
    } catch (e) {
      if (e instanceof UserError) diags.add(e.diag);
      else throw e;
      ast = { file: file.path, items: [], span: { file, start: 0, end: 0 } };
    }
    const m: ModuleInfo = { id, name: stem(file.path), file, ast, structs: new Map(), fns: new Map(), imports: [] };
    for (const it of ast.items) {
      if (it.kind === 'struct') {
        if (m.structs.has(it.name) || isDType(it.name) || it.name === LAYERS_TYPE) {
          const why = m.structs.has(it.name) ? 'is already defined' : 'is a built-in type name';
          diags.add(new UserError(`struct ${it.name} ${why}`, it.nameSpan).diag);
          continue;
        }
        m.structs.set(it.name, { name: it.name, decl: it, module: m, params: [] });
      }
    }
    for (const it of ast.items) {
      if (it.kind === 'fn') {
        const list = m.fns.get(it.name) ?? [];
        list.push({ name: it.name, decl: it, module: m, kinds: new Map(), typeGeneric: false });
        m.fns.set(it.name, list);
      }
    }
    modules.set(id, m);
    for (const it of ast.items) {
      if (it.kind !== 'import') continue;
      const cands: string[] = [];
      const named =
        it.target.kind === 'name' && it.target.parts.length === 1 ? opts.imports?.[it.target.parts[0]!] : undefined;
      const shown = it.target.kind === 'path' ? `"${it.target.path}"` : it.target.parts.join('.');
      if (sealed.has(id)) {
        const why = sealedImport(it.target, stdlib);
        if (typeof why === 'string') {
          diags.add(
            new UserError(
              `cannot import ${shown}: ${why}`,
              it.span,
              'a method inside a model file may import only the standard library and models/, by name (`import nn`)',
            ).diag,
          );
          continue;
        }
        cands.push(...why);
      } else if (named !== undefined) cands.push(resolve(named));
      else if (it.target.kind === 'path') cands.push(resolve(dirname(id), it.target.path));
      else {
        const rel = it.target.parts.join('/') + '.obt';
        cands.push(join(stdlib, rel), resolve(dirname(id), rel), join(PROJECT_ROOT, rel));
      }
      const refused = cands.map((c) => ({ c, why: importRefusal(c, roots) })).find((x) => x.why);
      if (refused) {
        diags.add(new UserError(`cannot import ${shown}: ${refused.why}`, it.span, `(resolved to ${refused.c})`).diag);
        continue;
      }
      const found = cands.map((c) => ({ c, text: read(c) })).find((x) => x.text !== undefined);
      if (!found) {
        diags.add(
          new UserError(
            `cannot find module ${shown}`,
            it.span,
            `looked in: ${cands.join(', ')}; a driver may also bind it (obtc --method NAME|FILE binds \`method\`)`,
          ).diag,
        );
        continue;
      }
      const sub = load(found.c, { path: displayPath(found.c), text: found.text! });
      const alias =
        it.alias ?? (it.target.kind === 'name' ? it.target.parts[it.target.parts.length - 1]! : stem(it.target.path));
      if (sub) m.imports.push({ module: sub, alias });
    }
    loading.delete(id);
    return m;
  };

  const rootId = resolve(path);
  const root = load(rootId, { path, text })!;
  for (const [alias, file] of Object.entries(opts.imports ?? {})) {
    if (root.imports.some((im) => im.alias === alias)) continue;
    const abs = resolve(file);
    const src = read(abs);
    if (src === undefined) {
      diags.add(new UserError(`cannot find module ${alias}: no file ${file}`, root.ast.span).diag);
      continue;
    }
    const sub = load(abs, { path: displayPath(abs), text: src });
    if (sub) root.imports.push({ module: sub, alias });
  }
  const prog = new Program(root, diags, sealed);
  for (const [k, v] of modules) prog.modules.set(k, v);
  // kinds: structs first (functions use struct parameter kinds), then functions
  for (const m of modules.values())
    for (const s of m.structs.values()) {
      try {
        structKinds(s, m, prog, new Set());
      } catch (e) {
        if (e instanceof UserError) diags.add(e.diag);
        else throw e;
      }
    }
  for (const m of modules.values())
    for (const list of m.fns.values())
      for (const f of list) {
        try {
          f.kinds = inferKinds(
            f.decl.generics,
            [...f.decl.params.map((p) => p.type), ...(f.decl.ret ? [f.decl.ret] : [])],
            m,
            prog,
          );
          f.typeGeneric = [...f.kinds.values()].some((k) => k.k === 'type' || k.k === 'ctor');
        } catch (e) {
          if (e instanceof UserError) diags.add(e.diag);
          else throw e;
        }
      }
  return prog;
}

/** The stdlib's modules by import name (`nn`, `methods.onebit`). */
export function stdlibModules(dir = STDLIB_DIR): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.obt')) out.push(relative(dir, p).slice(0, -4).split(/[\\/]/).join('.'));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

const stdlibIndexMemo = new Map<string, Map<string, string[]>>();
/** The stdlib's public functions and structs by name: the modules (import names) declaring each,
 *  for the "add `import nn`" hint of an unknown name. Parsed once per process, on first need. */
export function stdlibIndex(dir = STDLIB_DIR): Map<string, string[]> {
  let idx = stdlibIndexMemo.get(dir);
  if (idx) return idx;
  idx = new Map();
  for (const name of stdlibModules(dir)) {
    const path = join(dir, ...name.split('.')) + '.obt';
    let ast: A.Module;
    try {
      ast = parseModule({ path: displayPath(path), text: readFileSync(path, 'utf8') });
    } catch {
      continue;
    }
    for (const it of ast.items)
      if (it.kind !== 'import' && it.pub) idx.set(it.name, [...(idx.get(it.name) ?? []), name]);
  }
  stdlibIndexMemo.set(dir, idx);
  return idx;
}

function displayPath(abs: string): string {
  const rel = abs.startsWith(PROJECT_ROOT + '/') ? abs.slice(PROJECT_ROOT.length + 1) : abs;
  return rel;
}

/** Structs visible from a module: its own, then those of its imports (pub only). */
export function lookupStruct(m: ModuleInfo, name: string): StructInfo | undefined {
  const own = m.structs.get(name);
  if (own) return own;
  for (const im of m.imports) {
    const s = im.module.structs.get(name);
    if (s && s.decl.pub) return s;
  }
  return undefined;
}

function structKinds(s: StructInfo, m: ModuleInfo, prog: Program, busy: Set<StructInfo>): void {
  if ((s as { _done?: boolean })._done) return;
  if (busy.has(s)) throw new UserError(`struct ${s.name} contains itself`, s.decl.nameSpan);
  busy.add(s);
  // make sure referenced structs are done first
  const visit = (t: A.TypeExpr): void => {
    if (t.kind === 'tuple') t.elems.forEach(visit);
    else if (t.kind === 'array') visit(t.elem);
    else {
      const ref = lookupStruct(m, t.name);
      if (ref && ref !== s) structKinds(ref, ref.module, prog, busy);
      if (t.kind === 'applied') for (const a of t.args) if (a.kind === 'type') visit(a.type);
    }
  };
  s.decl.fields.forEach((f) => visit(f.type));
  const kinds = inferKinds(
    s.decl.generics,
    s.decl.fields.map((f) => f.type),
    m,
    prog,
  );
  s.params = s.decl.generics.map((g) => ({ name: g.name, kind: kinds.get(g.name)! }));
  (s as { _done?: boolean })._done = true;
  busy.delete(s);
}

/** Infers the kind of each generic parameter from its uses in the given type expressions. */
function inferKinds(
  generics: A.GenericParam[],
  types: A.TypeExpr[],
  m: ModuleInfo,
  _prog: Program,
): Map<string, GenericKind> {
  const kinds = new Map<string, GenericKind | undefined>();
  const spans = new Map<string, Span>();
  for (const g of generics) {
    if (g.name === '...') continue;
    if (kinds.has(g.name)) throw new UserError(`generic parameter ${g.name} is declared twice`, g.span);
    kinds.set(g.name, undefined);
    spans.set(g.name, g.span);
  }
  const set = (name: string, k: GenericKind, span: Span) => {
    if (!kinds.has(name)) return false;
    const prev = kinds.get(name);
    const same = prev && prev.k === k.k && (prev.k !== 'ctor' || (k.k === 'ctor' && prev.arity === k.arity));
    if (prev && !same)
      throw new UserError(`generic parameter ${name} is used as a ${kindName(prev)} and as a ${kindName(k)}`, span);
    kinds.set(name, k);
    return true;
  };
  const dim = (d: A.DimExpr): void => {
    if (d.kind === 'var') set(d.name, { k: 'dim' }, d.span);
    else if (d.kind === 'bin') {
      dim(d.a);
      dim(d.b);
    }
  };
  const ty = (t: A.TypeExpr): void => {
    switch (t.kind) {
      case 'tuple':
        t.elems.forEach(ty);
        return;
      case 'array':
        ty(t.elem);
        dim(t.len);
        return;
      case 'name':
        set(t.name, { k: 'type' }, t.span);
        return;
      case 'applied': {
        if (isDType(t.name)) {
          for (const a of t.args) {
            if (a.kind === 'dim') dim(a.dim);
            else if (a.kind === 'type') {
              if (a.type.kind === 'name') set(a.type.name, { k: 'dim' }, a.type.span);
              else throw new UserError(`expected a dim in the shape of ${t.name}, found a type`, a.span);
            }
          }
          return;
        }
        if (t.name === LAYERS_TYPE) {
          for (const a of t.args) argAs(a, { k: 'type' });
          return;
        }
        if (kinds.has(t.name)) {
          set(t.name, { k: 'ctor', arity: t.args.length }, t.span);
          for (const a of t.args) argAs(a, { k: 'dim' });
          return;
        }
        const s = lookupStruct(m, t.name);
        if (s && s.params.length === t.args.length) t.args.forEach((a, i) => argAs(a, s.params[i]!.kind));
        else for (const a of t.args) argAs(a, { k: 'dim' });
        return;
      }
    }
  };
  const argAs = (a: A.TypeArg, k: GenericKind): void => {
    if (a.kind === 'spread') return;
    if (a.kind === 'dim') return dim(a.dim);
    if (a.type.kind === 'name') {
      if (k.k === 'type') return ty(a.type);
      set(a.type.name, k, a.type.span);
      return;
    }
    ty(a.type);
  };
  types.forEach(ty);
  const out = new Map<string, GenericKind>();
  for (const [n, k] of kinds) out.set(n, k ?? { k: 'dim' });
  return out;
}

function kindName(k: GenericKind): string {
  return k.k === 'ctor' ? `layer type taking ${k.arity} dim(s)` : k.k;
}
