// A quantisation method: one .obt module that defines `init` (a teacher's dense weight → the
// layer's training form) and `export` (training form → inference form); see docs/methods.md.
// This file finds a method (a shipped NAME in stdlib/methods/, or a FILE), checks the contract
// before anything runs, and says how to compile a program against it (the `method` import).
// A method read from a model file carries its source; nothing else is needed to run that file.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { compile, type CompileOptions } from '../compiler/api.ts';
import { CompileError, UserError, lineCol } from '../compiler/syntax/diag.ts';
import { LoadError } from './io/model.ts';
import { MODELS_DIR, STDLIB_DIR } from '../compiler/resolve/modules.ts';
import type * as A from '../compiler/syntax/ast.ts';

const METHODS_DIR = join(STDLIB_DIR, 'methods');
export { DEFAULT_METHOD } from './defaults.ts';

export interface Method {
  /** the shipped name, or the file's stem */
  name: string;
  /** the path its source is compiled under (a real file, or a name inside a model file) */
  file: string;
  source: string;
  /** the training form's struct (init's result type) */
  train: string;
  /** the inference form's struct (export's result type) */
  infer: string;
  /** read from a model file: compiled sealed (it may import the standard library and models/ by
   *  name, nothing else; no file of the user's is read on its behalf) */
  sealed?: boolean;
}

/** The shipped methods (stdlib/methods/*.obt), by name. */
export function shippedMethods(): string[] {
  return readdirSync(METHODS_DIR)
    .filter((f) => f.endsWith('.obt'))
    .map((f) => f.slice(0, -4))
    .sort();
}

/** A method by shipped name or by file path. */
export function resolveMethod(spec: string): Method {
  const shipped = join(METHODS_DIR, `${spec}.obt`);
  if (/^[a-z0-9_]+$/.test(spec) && existsSync(shipped))
    return methodFromSource(spec, shipped, readFileSync(shipped, 'utf8'));
  if (existsSync(spec) && spec.endsWith('.obt'))
    return methodFromSource(basename(spec, '.obt'), resolve(spec), readFileSync(spec, 'utf8'));
  throw new UserError(
    `--method ${spec}: neither a shipped method nor an .obt file`,
    undefined,
    `shipped: ${shippedMethods().join(', ')}`,
  );
}

/** Options that compile a program against this method: `import method` is its module. */
export function methodCompileOptions(m: Method): Pick<CompileOptions, 'imports' | 'readFile' | 'sealed'> {
  const path = resolve(m.file);
  return {
    imports: { method: path },
    readFile: (p) => (p === path ? m.source : existsSync(p) ? readFileSync(p, 'utf8') : undefined),
    ...(m.sealed ? { sealed: [path] } : {}),
  };
}

/** A method carried by a model file: its name must be an identifier (the schema checks it too), its
 *  source is compiled sealed under a name inside the model file (`FILE#NAME.obt`). */
export function methodFromModelFile(name: string, modelFile: string, source: string): Method {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name))
    throw new UserError(`${modelFile}: method name ${JSON.stringify(name).slice(0, 80)} is not an identifier`);
  try {
    return methodFromSource(name, `${resolve(modelFile)}#${name}.obt`, source, true);
  } catch (e) {
    throw modelFileError(modelFile, `method ${name}`, e);
  }
}

/** A user error met while compiling or running what a model file carries, as one line naming the
 *  file (a diagnostic's location inside the embedded source, its message, how many more). */
export function modelFileError(modelFile: string, what: string, e: unknown): unknown {
  const diags =
    e instanceof CompileError
      ? e.diagnostics.filter((d) => d.severity === 'error')
      : e instanceof UserError && !(e instanceof LoadError)
        ? [e.diag]
        : [];
  const d = diags[0];
  if (!d) return e;
  const lc = d.span && lineCol(d.span.file, d.span.start);
  const at = d.span ? ` at ${d.span.file.path.replace(/^.*#/, '')}:${lc!.line}:${lc!.col}` : '';
  const more = diags.length > 1 ? ` (and ${diags.length - 1} more error(s))` : '';
  return new LoadError(modelFile, `${what}${at}: ${d.message}${more}`);
}

/** The struct a function's declared result names (`-> OneBitTrain[I, O]`). */
function resultStruct(f: A.FnDecl | undefined, what: string, file: string): string {
  if (!f) throw new UserError(`${file}: a method must define ${what}`, undefined, 'see docs/methods.md');
  if (!f.pub) throw new UserError(`${what.split(' ')[0]} must be pub`, f.nameSpan);
  const r = f.ret;
  if (!r || (r.kind !== 'applied' && r.kind !== 'name'))
    throw new UserError(
      `${f.name} must declare the layer struct it returns (-> Name[I, O])`,
      f.nameSpan,
      'the driver stores and runs models by that struct',
    );
  return r.name;
}

const methodMemo = new Map<string, Method>();

/** Checks a method's source against the contract; returns it with its two forms' names. The last
 *  16 are kept (a model file carries its method's source: loading it again compiles nothing). */
export function methodFromSource(name: string, file: string, source: string, sealed = false): Method {
  const key = `${name}\u0000${file}\u0000${sealed}\u0000${source}`;
  const hit = methodMemo.get(key);
  if (hit) return hit;
  const m = checkedMethod(name, file, source, sealed);
  if (methodMemo.size >= 16) methodMemo.delete(methodMemo.keys().next().value!);
  methodMemo.set(key, m);
  return m;
}

function checkedMethod(name: string, file: string, source: string, sealed: boolean): Method {
  const prog = compile(source, {
    path: file,
    ...(sealed ? { sealed: [file], readFile: sealedReader(file, source) } : {}),
  });
  if (!prog.ok) throw new CompileError(prog.diagnostics);
  const root = prog.loaded.root;
  // a model file carries the method's source only: it may import the standard library and models/
  for (const m of prog.loaded.modules.values())
    if (
      m !== root &&
      (m.id.startsWith(METHODS_DIR + '/') || (!m.id.startsWith(STDLIB_DIR + '/') && !m.id.startsWith(MODELS_DIR + '/')))
    )
      throw new UserError(
        `${file}: a method is one file; it imports ${m.file.path}, which a model file would not carry`,
        undefined,
        'move what it needs into the method file (the standard library and models/ may be imported)',
      );
  const one = (fn: string) => {
    const list = root.fns.get(fn) ?? [];
    if (list.length > 1) throw new UserError(`${fn} is overloaded; a method defines one ${fn}`, list[1]!.decl.nameSpan);
    return list[0]?.decl;
  };
  const init = one('init');
  const exp = one('export');
  const train = resultStruct(init, 'init (pub fn init[I, O](w: f32[O, I], seed: i32) -> Train[I, O])', file);
  const infer = resultStruct(exp, 'export (pub fn export[I, O](l: Train[I, O]) -> Infer[I, O])', file);
  if (init!.params.length !== 2)
    throw new UserError(
      `init takes the teacher's weight and a seed: init[I, O](w: f32[O, I], seed: i32), found ${init!.params.length} parameter(s)`,
      init!.nameSpan,
    );
  if (exp!.params.length !== 1)
    throw new UserError(
      `export takes one layer in its training form, found ${exp!.params.length} parameter(s)`,
      exp!.nameSpan,
    );
  return { name, file, source, train, infer, ...(sealed ? { sealed } : {}) };
}

/** Serves a sealed module's own text and the files of the standard library and models/, nothing else. */
function sealedReader(file: string, source: string): (p: string) => string | undefined {
  const models = MODELS_DIR + '/';
  return (p) => {
    if (p === resolve(file)) return source;
    if (!(p.startsWith(STDLIB_DIR + '/') || p.startsWith(models)) || !existsSync(p)) return undefined;
    return readFileSync(p, 'utf8');
  };
}
