// The TypeScript API: compile(source) type-checks a program; program.lower(entry, args) gives the
// Core IR of an entry for concrete argument types; program.run(entry, args, {device}) runs it on a
// device (the reference interpreter unless given) with tensors as typed arrays plus shapes, and
// program.bind(entry, {name: value}) runs it by name. Every run goes through one executor.
import { CompileError, Diagnostics, UserError, type Diagnostic } from './syntax/diag.ts';
import { loadProgram, lookupStruct, type FnInfo, type LoadOptions, type Program as Loaded } from './resolve/modules.ts';
import { Elab } from './types/elab/elab.ts';
import { dimConst, dimToString, dimValue, dimVars } from './types/dim.ts';
import { D, isDType, typeToString, type Type } from './types/types.ts';
import {
  evalDim,
  Mismatch,
  newBindings,
  resolveType,
  solveDeferred,
  structFieldTypes,
  unifyType,
  type Bindings,
} from './types/unify.ts';
import { LAYERS_TYPE } from './resolve/symbols.ts';
import { withBudget, type CompileBudget } from './core/budget.ts';
import type { Func } from '../runtime/core/ir.ts';
import { interpret } from '../runtime/ref/interp.ts';
import { compileWasm, compileWebGpu, optimizeCore } from './pipeline.ts';
import { checkTensorSizes } from './core/limits.ts';
import { activeProfiler } from '../runtime/plan/profile.ts';
import type { WasmProgram } from '../runtime/wasm/program.ts';
import type { KernelPool } from '../runtime/wasm/pool.ts';
import type { GpuDevice } from '../runtime/webgpu/device.ts';
import type { GpuProgram } from '../runtime/webgpu/program.ts';
import { DenseHost, fromNested, type Stored, type Tensor } from '../runtime/core/tensor.ts';
import { InputLayout, layoutKey } from './input_layout.ts';
import { isTensor } from '../runtime/core/tree.ts';
import { unflattenHost } from './types/tree.ts';
import type * as A from './syntax/ast.ts';
import { bindEntry, type BindOptions, type BoundEntry } from './entry.ts';
import { paramLeaves, typeLeaves, type TypeLeaves } from './query.ts';
import { parseType } from './syntax/parse.ts';

export interface CompileOptions extends LoadOptions {
  path?: string;
  /** limits on checking and lowering (compiler/core/budget.ts); default: the process's */
  budget?: CompileBudget;
}

export type Backend = 'interp' | 'wasm' | 'webgpu';

/** Where a bound entry runs: the reference interpreter, Wasm (with worker threads for big kernels),
 *  or a WebGPU device. One value instead of a (backend, pool, gpu) triple. */
export type Device = { kind: 'interp' } | { kind: 'wasm'; pool?: KernelPool } | { kind: 'webgpu'; gpu: GpuDevice };

export const INTERP: Device = { kind: 'interp' };

/** The device of a backend name (webgpu needs its device). */
export function device(kind: Backend, o: { pool?: KernelPool; gpu?: GpuDevice } = {}): Device {
  if (kind === 'webgpu') {
    if (!o.gpu) throw new UserError('--backend webgpu needs a device');
    return { kind, gpu: o.gpu };
  }
  return kind === 'wasm' ? { kind, pool: o.pool } : { kind };
}

/** How a device is named to a person: `wasm backend, 2 thread(s)`, `webgpu: SwiftShader`. */
export function deviceName(d: Device): string {
  return d.kind === 'wasm'
    ? `wasm backend, ${d.pool?.threads ?? 1} thread(s)`
    : d.kind === 'webgpu'
      ? `webgpu: ${d.gpu.adapterName}`
      : 'reference interpreter';
}

export interface RunOptions {
  f64?: boolean;
  dims?: Record<string, number>;
  types?: Record<string, string>;
  /** where it runs (the reference interpreter unless given) */
  device?: Device;
  /** compiled devices: one kernel per equation (for testing fused ≡ unfused) */
  noFusion?: boolean;
  /** argument positions whose tensors the run may overwrite (buffer donation: results that land
   *  in their buffers come back as views, resident on the device, that upload nothing when passed
   *  back) */
  donateArgs?: number[];
}

/** The outcome of a run: the flat result tensors, the result type and the host value. */
export interface RunResult {
  tensors: Tensor[];
  type: Type;
  value: unknown;
}

/** Runs flat inputs on a device: synchronously where the device is (interpreter, Wasm), a promise
 *  on WebGPU. */
export type Executor = (inputs: Tensor[]) => Tensor[] | Promise<Tensor[]>;

export interface Lowered {
  func: Func;
  /** leaf paths of the flattened parameters, in order */
  params: { path: string; dtype: string; shape: number[] }[];
  resultType: Type;
}

/** Host values accepted by run(): tensors, nested arrays/numbers, objects for structs, arrays for tuples and arrays. */
export type HostValue = Tensor | DenseHost | number | boolean | string | HostValue[] | { [field: string]: HostValue };

export class Program {
  constructor(
    readonly loaded: Loaded,
    readonly diagnostics: Diagnostic[],
    /** the budget each lowering runs under (the compile's) */
    readonly budget?: CompileBudget,
  ) {}

  get ok(): boolean {
    return !this.diagnostics.some((d) => d.severity === 'error');
  }

  entry(name: string): FnInfo {
    const list = this.loaded.root.fns.get(name);
    if (!list?.length) {
      const names = [...this.loaded.root.fns.keys()];
      throw new UserError(
        `no function named ${name} in ${this.loaded.root.file.path}`,
        undefined,
        names.length ? `functions: ${names.join(', ')}` : undefined,
      );
    }
    if (list.length > 1)
      throw new UserError(`${name} is overloaded; an entry must be a single function`, list[0]!.decl.nameSpan);
    return list[0]!;
  }

  /** The leaves (paths, dtypes, shapes) and layers of a type at given dims (compiler/query.ts). */
  typeLeaves(type: string, dims: Record<string, number>): TypeLeaves {
    return typeLeaves(this, type, dims);
  }

  /** The leaves of an entry's parameter at given dims (compiler/query.ts). */
  paramLeaves(entry: string, param: string, dims: Record<string, number>): TypeLeaves {
    return paramLeaves(this, entry, param, dims);
  }

  /** The field names of a struct the root file declares or imports, in declaration order. */
  structFields(name: string): string[] {
    const s = lookupStruct(this.loaded.root, name);
    if (!s) throw new UserError(`no struct named ${name} in ${this.loaded.root.file.path}`);
    return s.decl.fields.map((f) => f.name);
  }

  /** Converts host arguments to values of the entry's parameter types (inferring dims from shapes). */
  argTypes(
    f: FnInfo,
    args: HostValue[],
    dims: Record<string, number> = {},
    f64 = false,
    layerTypes: Record<string, string> = {},
  ): { types: Type[]; tensors: Tensor[]; leaves: [number, number][] } {
    if (args.length !== f.decl.params.length) {
      throw new UserError(
        `${f.name} takes ${f.decl.params.length} argument(s) (${f.decl.params.map((p) => p.name).join(', ')}), got ${args.length}`,
        f.decl.nameSpan,
      );
    }
    const tensors: Tensor[] = [];
    const leaves: [number, number][] = [];
    const scope = entryScope(f, dims, f64, layerTypes);
    const types = f.decl.params.map((p, i) => {
      const start = tensors.length;
      const t = hostType(this.loaded, p, args[i]!, tensors, scope);
      leaves.push([start, tensors.length]);
      return t;
    });
    return { types, tensors, leaves };
  }

  private readonly lowered = new Map<string, Lowered>();

  lower(entry: string, types: Type[]): Lowered {
    if (!this.ok) throw new CompileError(this.diagnostics);
    const key = `${entry}(${types.map(typeToString).join(', ')})`;
    const hit = this.lowered.get(key);
    if (hit) return hit;
    const f = this.entry(entry);
    const r = withBudget(this.budget, () => new Elab(this.loaded, new Diagnostics()).lowerEntry(f, types));
    checkTensorSizes(r.func, entry);
    const low: Lowered = {
      func: optimizeCore(r.func, entry),
      params: r.paramLeaves.map((l) => ({ path: l.path, dtype: l.t.dtype, shape: l.t.shape })),
      resultType: r.resultType,
    };
    this.lowered.set(key, low);
    return low;
  }

  /** The one cache of compiled programs: per lowered entry, per backend and what changes its code
   *  or buffers (fusion, donated parameters, the thread pool or device it runs on). */
  private readonly programs = new WeakMap<Lowered, Map<string, WasmProgram | Promise<GpuProgram>>>();

  private cached<T extends WasmProgram | Promise<GpuProgram>>(low: Lowered, key: string, make: () => T): T {
    let m = this.programs.get(low);
    if (!m) this.programs.set(low, (m = new Map()));
    let p = m.get(key) as T | undefined;
    if (!p) {
      const prof = activeProfiler();
      m.set(key, (p = prof ? prof.phase('compile: fuse, plan, emit', make) : make()));
    }
    return p;
  }

  /** The Wasm program of a lowered entry (fused, planned and compiled once per thread pool, set of
   *  donated parameters and the stored precision of its parameters held at one). */
  wasm(
    low: Lowered,
    opts: {
      noFusion?: boolean;
      pool?: KernelPool;
      donate?: number[];
      stored?: (Stored | undefined)[];
      alias?: (number | undefined)[];
    } = {},
  ): WasmProgram {
    const stored = opts.stored?.some(Boolean) ? opts.stored : undefined;
    const alias = opts.alias?.some((a) => a !== undefined) ? opts.alias : undefined;
    const key = `wasm|${opts.noFusion ? 'unfused' : 'fused'}|${(opts.donate ?? []).join(',')}|${objectId(opts.pool)}|${layoutKey(stored, alias)}`;
    return this.cached(low, key, () =>
      compileWasm(low.func, { noFusion: opts.noFusion, pool: opts.pool, donate: opts.donate, stored, alias }),
    );
  }

  /** The WebGPU program of a lowered entry on a device (compiled once per device, set of donated
   *  parameters and layout of its inputs: stored precision, shared tensors). */
  webgpu(
    low: Lowered,
    gpu: GpuDevice,
    opts: {
      noFusion?: boolean;
      donate?: number[];
      readDonated?: boolean;
      stored?: (Stored | undefined)[];
      alias?: (number | undefined)[];
    } = {},
  ): Promise<GpuProgram> {
    const stored = opts.stored?.some(Boolean) ? opts.stored : undefined;
    const alias = opts.alias?.some((a) => a !== undefined) ? opts.alias : undefined;
    const key = `webgpu|${opts.noFusion ? 'unfused' : 'fused'}|${(opts.donate ?? []).join(',')}|${opts.readDonated ? 'read' : 'keep'}|${objectId(gpu)}|${layoutKey(stored, alias)}`;
    return this.cached(low, key, () => compileWebGpu(low.func, gpu, { ...opts, stored, alias }));
  }

  /** What every run needs: the lowered entry, its flat input tensors and its executor. */
  private prepareRun(
    entry: string,
    args: HostValue[],
    opts: RunOptions,
  ): { low: Lowered; tensors: Tensor[]; exec: Executor } {
    const prof = activeProfiler();
    if (prof)
      return prof.phase(`host: ${entry} arguments (and lowering on first use)`, () =>
        this.prepareRunNow(entry, args, opts),
      );
    return this.prepareRunNow(entry, args, opts);
  }

  private prepareRunNow(
    entry: string,
    args: HostValue[],
    opts: RunOptions,
  ): { low: Lowered; tensors: Tensor[]; exec: Executor } {
    const f = this.entry(entry);
    const { types, tensors, leaves } = this.argTypes(f, args, opts.dims, opts.f64, opts.types);
    const low = this.lower(entry, types);
    const donate = opts.donateArgs?.flatMap((a) =>
      Array.from({ length: leaves[a]![1] - leaves[a]![0] }, (_, j) => leaves[a]![0] + j),
    );
    return {
      low,
      tensors,
      exec: this.executor(low, opts.device ?? INTERP, { noFusion: opts.noFusion, donate, f64: opts.f64 }),
    };
  }

  private result(low: Lowered, outs: Tensor[]): RunResult {
    const value = () => rebuild(this.loaded, low.resultType, outs);
    const prof = activeProfiler();
    return { tensors: outs, type: low.resultType, value: prof ? prof.phase('host: results', value) : value() };
  }

  /** The one way a lowered entry runs on a device (Program.run/runSync and bound entries): the
   *  compiled program is looked up once, here, not per run. */
  executor(low: Lowered, dev: Device, opts: { noFusion?: boolean; donate?: number[]; f64?: boolean } = {}): Executor {
    if (dev.kind !== 'interp' && opts.f64)
      throw new UserError(`the ${dev.kind} backend computes in f32; --f64 needs --backend interp`);
    const { noFusion, donate } = opts;
    if (dev.kind === 'wasm') {
      const spec = new InputLayout(donate, new Set(['bf16', 'f16', 'q8_0']));
      let wasm: WasmProgram | undefined;
      return (inputs) => {
        if (!wasm || !spec.same(inputs))
          wasm = this.wasm(low, { noFusion, pool: dev.pool, donate, ...spec.of(inputs) });
        return wasm.run(inputs);
      };
    }
    if (dev.kind === 'webgpu') {
      const spec = new InputLayout(donate, new Set(['bf16', 'f16'])); // Q8_0 is uploaded widened
      let gpu: Promise<GpuProgram> | undefined;
      return (inputs) => {
        if (!gpu || !spec.same(inputs))
          gpu = this.webgpu(low, dev.gpu, { noFusion, donate, readDonated: true, ...spec.of(inputs) });
        return gpu.then((p) => p.run(inputs));
      };
    }
    return (inputs) => interpret(low.func, inputs, { f64: opts.f64 });
  }

  /** Runs an entry on a device with positional arguments. Results in donated buffers stay on the
   *  device (passed back, they upload nothing) and are read back too. */
  async run(entry: string, args: HostValue[], opts: RunOptions = {}): Promise<RunResult> {
    const { low, tensors, exec } = this.prepareRun(entry, args, opts);
    return this.result(low, await exec(tensors));
  }

  /** run() where the device runs synchronously (the interpreter, Wasm), for callers that cannot
   *  await (a property test's predicate); the same path. */
  runSync(entry: string, args: HostValue[], opts: RunOptions = {}): RunResult {
    const { low, tensors, exec } = this.prepareRun(entry, args, opts);
    const outs = exec(tensors);
    if (outs instanceof Promise) throw new UserError(`the ${opts.device?.kind} backend is asynchronous: use run`);
    return this.result(low, outs);
  }

  /** The entry lowered for named arguments, run by name (compiler/entry.ts): only the arguments a
   *  run changes are given, results come back by name, donation is by parameter name. */
  bind(entry: string, args: Record<string, HostValue>, opts: BindOptions = {}): BoundEntry {
    return bindEntry(this, entry, args, opts);
  }
}

const ids = new WeakMap<object, number>();
let nextId = 1;
/** A number naming an object (a thread pool, a device) in a cache key. */
function objectId(o: object | undefined): number {
  if (!o) return 0;
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = nextId++));
  return id;
}

/** Type-checks a program (the root file and its imports). Never throws for user errors. */
export function compile(source: string, opts: CompileOptions = {}): Program {
  return withBudget(opts.budget, () => {
    const loaded = loadProgram(opts.path ?? 'main.obt', source, opts);
    const el = new Elab(loaded, loaded.diags);
    if (!loaded.diags.hasErrors()) el.checkProgram();
    return new Program(loaded, loaded.diags.list, opts.budget);
  });
}

// ---- host values <-> types ---------------------------------------------------------------------

/** The entry's generic scope, seeded with caller-given dims and layer types. */
function entryScope(
  f: FnInfo,
  dims: Record<string, number>,
  f64: boolean,
  layerTypes: Record<string, string>,
): Bindings & { f64?: boolean } {
  const scope: Bindings & { f64?: boolean } = newBindings(f.module, f.kinds, true);
  scope.f64 = f64;
  // a type parameter is given as a type's text, its dims by name from `dims`
  // (`model.Llama[Dense, V, D, F, H, KV, L]`): resolved in the entry's module
  const typed = Object.entries(layerTypes).filter(([k]) => f.kinds.get(k)?.k === 'type');
  const textScope = newBindings(f.module, new Map(), true);
  for (const [k, n] of Object.entries(dims)) textScope.dims.set(k, dimConst(n));
  for (const [k, text] of typed) {
    let t: Type;
    try {
      t = resolveType(parseType(text), textScope);
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`type parameter ${k} = ${text}: ${e.message}`, f.decl.nameSpan);
      throw e;
    }
    scope.types.set(k, { k: 'type', t });
  }
  for (const [k, name] of Object.entries(layerTypes)) {
    if (f.kinds.get(k)?.k === 'type') continue;
    if (f.kinds.get(k)?.k !== 'ctor')
      throw new UserError(`${f.name} has no layer-type or type parameter ${k}`, f.decl.nameSpan);
    // a struct visible from the entry's module, or one of an imported module's (`method.OneBit`)
    const dot = name.lastIndexOf('.');
    const home = dot < 0 ? f.module : f.module.imports.find((im) => im.alias === name.slice(0, dot))?.module;
    const s = home && (dot < 0 ? lookupStruct(home, name) : lookupStruct(home, name.slice(dot + 1)));
    if (!s) throw new UserError(`unknown layer type ${name}`, f.decl.nameSpan);
    scope.types.set(k, { k: 'ctor', s });
  }
  for (const [k, n] of Object.entries(dims)) {
    if (f.kinds.get(k)?.k === 'dim') scope.dims.set(k, dimConst(n));
    else if (!typed.length) throw new UserError(`${f.name} has no dim parameter ${k}`, f.decl.nameSpan);
  }
  return scope;
}

/** Reads one argument; what it fixes (dims, layer types) is bound in the scope for later ones. */
function hostType(
  loaded: Loaded,
  p: A.Param,
  v: HostValue,
  tensors: Tensor[],
  scope: Bindings & { f64?: boolean },
): Type {
  const t = hostFor(loaded, p.type, v, tensors, scope, `argument ${p.name}`);
  try {
    unifyType(p.type, t, scope);
    const pending = scope.deferred;
    try {
      solveDeferred(scope);
    } catch {
      scope.deferred = pending; // not all known yet: later arguments may fix them
    }
  } catch (e) {
    if (e instanceof Mismatch) throw new UserError(`argument ${p.name}: ${e.why}`);
    throw e;
  }
  return t;
}

/** The type of a host value read against a declared type (dims come from the data; layer and
 *  type parameters from the declaration). Tensors are appended to `out` in flattening order. */
function hostFor(
  loaded: Loaded,
  te: A.TypeExpr,
  v: HostValue,
  out: Tensor[],
  scope: Bindings & { f64?: boolean },
  what: string,
): Type {
  if ((te.kind === 'name' || te.kind === 'applied') && isDType(te.name)) {
    const t = isTensor(v) ? v : fromNestedChecked(v, te.name, what, scope.f64 ?? false);
    if (t.dtype !== te.name && !(isTensor(v) && te.name === 'f32' && t.dtype === 'f32'))
      throw new UserError(`${what}: expected a ${te.name} tensor, found ${t.dtype}`);
    out.push(t);
    return { k: 'tensor', dtype: t.dtype, shape: t.shape.map((n) => D(dimConst(n))) };
  }
  if (te.kind === 'applied' && te.name === LAYERS_TYPE) {
    // Layers[M]: M is known from the caller's layer types and earlier arguments
    let t: Type;
    try {
      t = resolveType(te, scope);
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`${what}: ${e.message}`);
      throw e;
    }
    return hostForType(loaded, t, v, out, scope.f64 ?? false, what);
  }
  // a tuple or an array read as one dense block of numbers is split into its rows
  if ((te.kind === 'tuple' || te.kind === 'array') && v instanceof DenseHost) v = v.rows();
  if (te.kind === 'tuple') {
    if (!Array.isArray(v) || v.length !== te.elems.length)
      throw new UserError(`${what}: expected a tuple of ${te.elems.length} (an array)`);
    return {
      k: 'tuple',
      elems: te.elems.map((e, i) => hostFor(loaded, e, (v as HostValue[])[i]!, out, scope, `${what}.${i}`)),
    };
  }
  if (te.kind === 'array') {
    if (!Array.isArray(v) || v.length === 0) throw new UserError(`${what}: expected a non-empty array`);
    const elems = v.map((e, i) => hostFor(loaded, te.elem, e, out, scope, `${what}[${i}]`));
    for (const e of elems)
      if (typeToString(e) !== typeToString(elems[0]!))
        throw new UserError(`${what}: array elements differ (${typeToString(elems[0]!)} and ${typeToString(e)})`);
    return { k: 'array', elem: elems[0]!, len: dimConst(v.length) };
  }
  // a struct (given as an object): layer/type parameters from the declaration, dims from the data
  const bound = scope.types.get(te.name);
  if (bound?.k === 'type') return hostForType(loaded, bound.t, v, out, scope.f64 ?? false, what);
  if (scope.kinds.get(te.name)?.k === 'type')
    throw new UserError(
      `${what}: cannot build a value of type parameter ${te.name} from host data before an earlier argument fixes it`,
    );
  const s = bound?.k === 'ctor' ? bound.s : lookupStruct(scope.module, te.name);
  if (!s) {
    if (scope.kinds.get(te.name)?.k === 'ctor')
      throw new UserError(
        `${what}: cannot tell which layer type ${te.name} is from host data; use an entry with a concrete layer type (e.g. Llama[Dense, ...])`,
      );
    throw new UserError(`${what}: unknown type ${te.name}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v) || isTensor(v))
    throw new UserError(
      `${what}: expected a ${s.name} as an object with fields ${s.decl.fields.map((x) => x.name).join(', ')}`,
    );
  const obj = v as Record<string, HostValue>;
  const sb: Bindings & { f64?: boolean } = newBindings(s.module, new Map(s.params.map((p) => [p.name, p.kind])), true);
  sb.f64 = scope.f64;
  const args = te.kind === 'applied' ? te.args : [];
  s.params.forEach((p, i) => {
    const a = args[i];
    if (p.kind.k === 'dim') {
      // a dim the declaration (or the caller's `dims`) already fixes, e.g. H in Block[Lin, D, F, H, KV]
      if (!a || a.kind === 'spread') return;
      const de: A.DimExpr | undefined =
        a.kind === 'dim'
          ? a.dim
          : a.type.kind === 'name'
            ? { kind: 'var', name: a.type.name, span: a.type.span }
            : undefined;
      if (!de) return;
      try {
        const d = evalDim(de, scope, true);
        if (![...dimVars(d)].some((x) => x.startsWith('?'))) sb.dims.set(p.name, d);
      } catch {
        /* not known yet: inferred from the fields */
      }
      return;
    }
    if (!a || a.kind !== 'type') throw new UserError(`${what}: ${s.name}'s parameter ${p.name} must be given`);
    if (p.kind.k === 'type') {
      sb.types.set(p.name, { k: 'type', t: resolveType(a.type, scope) });
      return;
    }
    const name = a.type.kind === 'name' ? a.type.name : '';
    const outer = scope.types.get(name);
    const ls = outer?.k === 'ctor' ? outer.s : scope.kinds.has(name) ? undefined : lookupStruct(scope.module, name);
    if (!ls)
      throw new UserError(
        `${what}: cannot tell which layer type ${name || p.name} is from host data; use an entry with a concrete layer type (e.g. Llama[Dense, ...])`,
      );
    sb.types.set(p.name, { k: 'ctor', s: ls });
  });
  for (const fd of s.decl.fields) {
    if (!(fd.name in obj)) throw new UserError(`${what}: field ${fd.name} of ${s.name} is missing`);
    const ft = hostFor(loaded, fd.type, obj[fd.name]!, out, sb, `${what}.${fd.name}`);
    try {
      unifyType(fd.type, ft, sb);
    } catch (e) {
      if (e instanceof Mismatch) throw new UserError(`${what}.${fd.name}: ${e.why}`);
      throw e;
    }
  }
  for (const k of Object.keys(obj))
    if (!s.decl.fields.some((x) => x.name === k)) throw new UserError(`${what}: ${s.name} has no field ${k}`);
  try {
    solveDeferred(sb);
  } catch (e) {
    if (e instanceof Mismatch) throw new UserError(`${what}: ${e.why}`);
    throw e;
  }
  return {
    k: 'struct',
    s,
    args: s.params.map((p) =>
      p.kind.k === 'dim' ? { k: 'dim' as const, d: sb.dims.get(p.name) ?? dimConst(0) } : sb.types.get(p.name)!,
    ),
  };
}

/** Reads a host value against a fully known type (a bound type parameter). */
function hostForType(loaded: Loaded, t: Type, v: HostValue, out: Tensor[], f64: boolean, what: string): Type {
  switch (t.k) {
    case 'tensor': {
      const x = isTensor(v) ? v : fromNestedChecked(v, t.dtype, what, f64);
      const want = t.shape.map((it) => (it.k === 'dim' ? dimValue(it.d) : undefined));
      if (x.dtype !== t.dtype || x.shape.length !== want.length || x.shape.some((d, i) => d !== want[i]))
        throw new UserError(`${what}: expected ${typeToString(t)}, found ${x.dtype}[${x.shape.join(', ')}]`);
      out.push(x);
      return t;
    }
    case 'tuple': {
      // a layer tree's named parts come as an object's fields
      const names = t.names;
      if (names) {
        if (!v || typeof v !== 'object' || Array.isArray(v) || isTensor(v))
          throw new UserError(`${what}: expected ${typeToString(t)} (an object with fields ${names.join(', ')})`);
        const o = v as Record<string, HostValue>;
        for (const k of Object.keys(o))
          if (!names.includes(k)) throw new UserError(`${what}: no part ${k} (its parts: ${names.join(', ')})`);
        t.elems.forEach((e, i) => {
          if (o[names[i]!] === undefined) throw new UserError(`${what}.${names[i]} is missing`);
          hostForType(loaded, e, o[names[i]!]!, out, f64, `${what}.${names[i]}`);
        });
        return t;
      }
      if (!Array.isArray(v) || v.length !== t.elems.length) throw new UserError(`${what}: expected ${typeToString(t)}`);
      t.elems.forEach((e, i) => hostForType(loaded, e, (v as HostValue[])[i]!, out, f64, `${what}.${i}`));
      return t;
    }
    case 'array':
      if (!Array.isArray(v) || v.length !== dimValue(t.len))
        throw new UserError(`${what}: expected ${typeToString(t)} (an array of ${dimToString(t.len)})`);
      v.forEach((e, i) => hostForType(loaded, t.elem, e, out, f64, `${what}[${i}]`));
      return t;
    case 'struct': {
      if (!v || typeof v !== 'object' || Array.isArray(v) || isTensor(v))
        throw new UserError(`${what}: expected a ${typeToString(t)} object`);
      for (const fd of structFieldTypes(t, true)) {
        const fv = (v as Record<string, HostValue>)[fd.name];
        if (fv === undefined) throw new UserError(`${what}: field ${fd.name} of ${t.s.name} is missing`);
        hostForType(loaded, fd.t, fv, out, f64, `${what}.${fd.name}`);
      }
      return t;
    }
    default:
      throw new UserError(`${what}: cannot read a ${typeToString(t)} from host data`);
  }
}

function fromNestedChecked(v: HostValue, dtype: string, what: string, f64: boolean): Tensor {
  const bad = firstOutOfRange(v, dtype);
  if (bad !== undefined) throw new UserError(`${what}: ${bad}`);
  try {
    return fromNested(v, dtype as never, f64);
  } catch (e) {
    throw new UserError(`${what}: ${(e as Error).message}`);
  }
}

/** An integer tensor takes integers in its range (1.5, 2^40, nan or inf for an i32 is a mistake,
 *  not a cast), a bool tensor true/false (or 0/1), a float tensor finite values its dtype can hold
 *  (1e39 for an f32 would silently become inf) or nan/±inf written as such. Says why the first
 *  element that is not, or undefined. */
function firstOutOfRange(v: HostValue, dtype: string): string | undefined {
  const ints: Record<string, [number, number]> = { i32: [-(2 ** 31), 2 ** 31 - 1], u32: [0, 2 ** 32 - 1] };
  const floatMax: Record<string, number> = { f32: 3.4028234663852886e38, f16: 65504 };
  const r = ints[dtype];
  const fmax = floatMax[dtype];
  const show = (x: unknown) => (typeof x === 'number' && Number.isNaN(x) ? 'nan' : String(x));
  const why = (x: unknown): string | undefined => {
    if (r) {
      if (typeof x === 'number' && Number.isInteger(x) && x >= r[0] && x <= r[1]) return undefined;
      if (typeof x === 'number' || typeof x === 'string')
        return `expected ${dtype} values (integers in [${r[0]}, ${r[1]}]), found ${show(x)}`;
      return undefined;
    }
    if (dtype === 'bool') {
      if (typeof x === 'boolean' || x === 0 || x === 1) return undefined;
      if (typeof x === 'number' || typeof x === 'string')
        return `expected bool values (true or false), found ${show(x)}`;
      return undefined;
    }
    if (fmax !== undefined && typeof x === 'number' && Number.isFinite(x) && Math.abs(x) > fmax)
      return `${x} is out of range for ${dtype} (at most ${fmax} in magnitude; write inf for an infinity)`;
    return undefined;
  };
  const walk = (x: unknown): string | undefined => {
    if (x instanceof DenseHost) {
      if (x.special && (r || dtype === 'bool')) {
        const i = x.data.findIndex((y) => !Number.isFinite(y));
        return why(Number.isNaN(x.data[i]!) ? 'nan' : x.data[i]! > 0 ? 'inf' : '-inf');
      }
      if (x.bools) return undefined;
      for (const y of x.data) {
        const w = why(y);
        if (w) return w;
      }
      return undefined;
    }
    if (Array.isArray(x)) {
      for (const y of x) {
        const w = walk(y);
        if (w) return w;
      }
      return undefined;
    }
    return why(x);
  };
  return walk(v);
}

/** Rebuilds a host value (nested arrays / objects) from flat result tensors. */
export function rebuild(loaded: Loaded, t: Type, outs: Tensor[]): unknown {
  const el = new Elab(loaded, new Diagnostics());
  return unflattenHost(t, el.fields, outs);
}
