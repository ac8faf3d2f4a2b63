// An entry's contract: its parameters and its results by name, each a slot of leaves (a path
// inside the slot, a dtype, a shape) in the flat order the compiled program takes and returns
// tensors, and the parameters whose buffers a run may overwrite (donated). Callers pass and get
// back named host trees (objects for structs, arrays for arrays and tuples, as runtime/core/tree.ts
// writes them) and only this module knows positions — as jax-js's `tree.ts` flattens a pytree by
// its treedef. The compiler makes a contract when it lowers an entry (compiler/api.ts `bind`); it
// is written beside compiled artifacts (contract.json), so the browser page, which has no
// compiler, calls an entry by name too.
import type { DType } from './dtype.ts';
import { UserError } from './errors.ts';
import { alloc, fromNested, type Tensor } from './tensor.ts';
import { isTensor } from './tree.ts';

/** One tensor of a slot: its path inside the slot ('' when the slot is one tensor). */
export interface Leaf {
  path: string;
  dtype: DType;
  shape: number[];
}

/** A parameter, or a field of the result: its name and its leaves in flat order. */
export interface Slot {
  name: string;
  leaves: Leaf[];
}

export interface Contract {
  entry: string;
  params: Slot[];
  /** a struct result's fields; a tuple's elements named 0, 1, …; any other result is `result` */
  results: Slot[];
  /** parameters whose buffers a run may overwrite (its results then come back in them) */
  donated: string[];
}

const parsedPaths = new Map<string, (string | number)[]>();

/** `a.b[2].c` → ['a', 'b', 2, 'c']; a tuple element `.0` is a number too. (Parsed once per path: a
 *  decode step walks the same few paths every token.) */
export function pathKeys(path: string): (string | number)[] {
  let keys = parsedPaths.get(path);
  if (keys) return keys;
  keys = [];
  for (const m of path.matchAll(/\[(\d+)\]|\.?([^.[\]]+)/g))
    keys.push(m[1] !== undefined ? Number(m[1]) : /^\d+$/.test(m[2]!) ? Number(m[2]) : m[2]!);
  if (parsedPaths.size >= 1 << 16) parsedPaths.clear();
  parsedPaths.set(path, keys);
  return keys;
}

/** The value at a path of a host tree, or undefined when the tree has no such branch. */
export function getPath(tree: unknown, path: string): unknown {
  let v = tree;
  for (const k of pathKeys(path)) {
    if (v === null || typeof v !== 'object' || isTensor(v)) return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

/** A host tree from leaves at paths (numbers make arrays, names objects). */
export function treeFromPaths(leaves: { path: string; value: unknown }[]): unknown {
  let root: unknown;
  for (const { path, value } of leaves) {
    const keys = pathKeys(path);
    if (!keys.length) {
      root = value;
      continue;
    }
    root ??= typeof keys[0] === 'number' ? [] : {};
    let node = root as Record<string | number, unknown>;
    keys.forEach((k, i) => {
      if (i === keys.length - 1) node[k] = value;
      else node = (node[k] ??= typeof keys[i + 1] === 'number' ? [] : {}) as Record<string | number, unknown>;
    });
  }
  return root;
}

const show = (dtype: string, shape: readonly number[]) => `${dtype}[${shape.join(', ')}]`;
const at = (slot: string, path: string) => (path ? `${slot}${/^[[.]/.test(path) ? '' : '.'}${path}` : slot);

/** One slot's leaves from its host value: tensors of the leaf's dtype and shape, or numbers and
 *  booleans for scalar leaves; a missing branch or a wrong shape is an error naming the leaf. */
function flattenSlot(c: Contract, slot: Slot, value: unknown): Tensor[] {
  return slot.leaves.map((l) => {
    const v = getPath(value, l.path);
    const where = `${c.entry}: argument ${at(slot.name, l.path)}`;
    if (v === undefined) throw new UserError(`${where} is missing (expected ${show(l.dtype, l.shape)})`);
    if (Array.isArray(v)) {
      // nested numbers at a leaf (tokens as a list)
      let t: Tensor;
      try {
        t = fromNested(v, l.dtype);
      } catch (e) {
        throw new UserError(`${where}: ${(e as Error).message}`);
      }
      if (t.shape.length !== l.shape.length || t.shape.some((d, i) => d !== l.shape[i]))
        throw new UserError(`${where}: expected ${show(l.dtype, l.shape)}, found ${show(l.dtype, t.shape)}`);
      return t;
    }
    if (isTensor(v)) {
      const same =
        v.dtype === l.dtype && v.shape.length === l.shape.length && v.shape.every((d, i) => d === l.shape[i]);
      if (!same) throw new UserError(`${where}: expected ${show(l.dtype, l.shape)}, found ${show(v.dtype, v.shape)}`);
      return v;
    }
    const scalar = typeof v === 'number' || typeof v === 'boolean';
    if (!scalar || l.shape.length)
      throw new UserError(`${where}: expected ${show(l.dtype, l.shape)}, found ${scalar ? 'a number' : typeof v}`);
    if (l.dtype === 'i32' || l.dtype === 'u32') {
      const [lo, hi] = l.dtype === 'i32' ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
        throw new UserError(`${where}: expected an ${l.dtype} (an integer in [${lo}, ${hi}]), found ${String(v)}`);
    }
    const t = alloc(l.dtype, []);
    t.data[0] = Number(v);
    return t;
  });
}

/** Checks argument names against the contract: an unknown one is an error listing the parameters. */
function checkNames(c: Contract, args: Record<string, unknown>, required: boolean): void {
  const names = c.params.map((p) => p.name);
  for (const k of Object.keys(args))
    if (!names.includes(k))
      throw new UserError(`${c.entry} has no parameter ${k} (its parameters: ${names.join(', ')})`);
  if (required)
    for (const p of c.params)
      if (args[p.name] === undefined) throw new UserError(`${c.entry}: argument ${p.name} is missing`);
}

/** A slot's tree shape, made once: a leaf (its index among the slot's leaves), an array or an
 *  object of such nodes. */
type Shape = number | Shape[] | { [k: string]: Shape };
const shapes = new WeakMap<Slot, Shape>();

function slotShape(s: Slot): Shape {
  let sh = shapes.get(s);
  if (sh === undefined) {
    sh = treeFromPaths(s.leaves.map((l, i) => ({ path: l.path, value: i }))) as Shape;
    shapes.set(s, sh);
  }
  return sh;
}

/** Where a result tree keeps its flat leaves (a non-enumerable symbol: JSON, keys and spreads do
 *  not see it), so that passed back as an argument it is not walked again. */
const LEAVES = Symbol('obt.leaves');
type Tagged = { [LEAVES]?: { slot: Slot; leaves: Tensor[] } };

/** A frozen tree of the slot's shape over leaves from `outs` at `at` (its arrays and objects cannot
 *  change, so the flat leaves a tree carries stay its leaves); a tree, not a lone tensor, carries
 *  them. */
function build(sh: Shape, outs: Tensor[], at: number, tag?: { slot: Slot; leaves: Tensor[] }): unknown {
  if (typeof sh === 'number') return outs[at + sh];
  let o: Record<string, unknown> | unknown[];
  if (Array.isArray(sh)) o = sh.map((x) => build(x, outs, at));
  else {
    o = {};
    for (const k in sh) o[k] = build(sh[k]!, outs, at);
  }
  if (tag) Object.defineProperty(o, LEAVES, { value: tag });
  return Object.freeze(o);
}

/** The flat input positions of the donated parameters' leaves. */
export function donatedInputs(c: Contract): number[] {
  const out: number[] = [];
  let i = 0;
  for (const p of c.params) {
    for (let k = 0; k < p.leaves.length; k++, i++) if (c.donated.includes(p.name)) out.push(i);
  }
  return out;
}

/** A contract read from a file (contract.json beside an artifact), its shape checked. */
export function parseContract(text: string, file: string): Contract {
  const c = JSON.parse(text) as Contract;
  const slots = (s: unknown) =>
    Array.isArray(s) &&
    s.every(
      (x: Slot) =>
        typeof x?.name === 'string' &&
        Array.isArray(x.leaves) &&
        x.leaves.every((l) => typeof l?.path === 'string' && typeof l.dtype === 'string' && Array.isArray(l.shape)),
    );
  if (typeof c?.entry !== 'string' || !slots(c.params) || !slots(c.results) || !Array.isArray(c.donated))
    throw new UserError(`${file}: not an entry contract (entry, params, results, donated)`);
  return c;
}

const same = new WeakMap<Slot, WeakMap<Slot, boolean>>();

/** Whether two slots have the same leaves (paths, dtypes, shapes); answered once per pair. */
function sameLeaves(a: Slot, b: Slot): boolean {
  if (a === b) return true;
  let m = same.get(a);
  if (!m) same.set(a, (m = new WeakMap()));
  let r = m.get(b);
  if (r === undefined) m.set(b, (r = compareLeaves(a, b)));
  return r;
}

function compareLeaves(a: Slot, b: Slot): boolean {
  if (a.leaves.length !== b.leaves.length) return false;
  return a.leaves.every((l, i) => {
    const m = b.leaves[i]!;
    return (
      l.path === m.path &&
      l.dtype === m.dtype &&
      l.shape.length === m.shape.length &&
      l.shape.every((d, k) => d === m.shape[k])
    );
  });
}

/** An entry's runs by name over a program that takes and returns flat tensors: the arguments bound
 *  first are kept, and a run replaces those it is given. */
export class NamedEntry<R = Record<string, unknown>> {
  private ran = false;
  private readonly resultLeaves: number;
  /** bytes of results handed back to the host so far (what a device read back) */
  bytesReadBack = 0;

  /** `inputs`: each parameter's leaves as first bound (the compiler flattened them by type). */
  constructor(
    readonly contract: Contract,
    private readonly inputs: Tensor[][],
    private readonly exec: (inputs: Tensor[]) => Promise<Tensor[]> | Tensor[],
  ) {
    if (
      inputs.length !== contract.params.length ||
      inputs.some((t, i) => t.length !== contract.params[i]!.leaves.length)
    )
      throw new Error(`${contract.entry}: inputs do not match its contract`);
    this.resultLeaves = contract.results.reduce((n, s) => n + s.leaves.length, 0);
  }

  /** An entry over named host arguments (all of them), flattened by the contract. */
  static fromArgs<R = Record<string, unknown>>(
    contract: Contract,
    args: Record<string, unknown>,
    exec: (inputs: Tensor[]) => Promise<Tensor[]> | Tensor[],
  ): NamedEntry<R> {
    checkNames(contract, args, true);
    return new NamedEntry<R>(
      contract,
      contract.params.map((p) => flattenSlot(contract, p, args[p.name])),
      exec,
    );
  }

  /** A parameter's leaves: those a result tree carries (a decode step's cache, a training step's
   *  state passed back) when they fit the parameter, else the value walked by the contract. */
  private flatSlot(p: Slot, v: unknown): Tensor[] {
    const r = v !== null && typeof v === 'object' ? (v as Tagged)[LEAVES] : undefined;
    if (r && sameLeaves(r.slot, p)) return r.leaves;
    return flattenSlot(this.contract, p, v);
  }

  /** the flat inputs of the last run, and where each parameter's leaves start in it */
  private flatInputs?: Tensor[];
  private offsets?: number[];

  private flat(args: Record<string, unknown>): Tensor[] {
    const params = this.contract.params;
    for (const k in args) if (!params.some((p) => p.name === k)) checkNames(this.contract, args, false); // names the unknown one
    if (!this.flatInputs || !this.offsets) {
      this.flatInputs = this.inputs.flat();
      let o = 0;
      this.offsets = this.inputs.map((x) => ((o += x.length), o - x.length));
    }
    for (let i = 0; i < params.length; i++) {
      const p = params[i]!;
      const v = args[p.name];
      if (v !== undefined) {
        const leaves = this.flatSlot(p, v);
        this.inputs[i] = leaves;
        const at = this.offsets[i]!;
        for (let k = 0; k < leaves.length; k++) this.flatInputs[at + k] = leaves[k]!;
      }
      // a donated buffer belongs to the last run's results: the caller passes them back
      else if (this.ran && this.contract.donated.includes(p.name))
        throw new UserError(`${this.contract.entry}: ${p.name} is donated: pass the value the last run returned`);
    }
    this.ran = true;
    // a copy: a program may keep or change the array it is given
    return this.flatInputs.slice();
  }

  /** A run with some arguments replaced (kept for the next run too); named results. A program
   *  that runs synchronously (the interpreter, Wasm) costs no extra turn of the event loop. */
  run(args: Record<string, unknown> = {}): Promise<R> {
    try {
      const outs = this.exec(this.flat(args));
      return outs instanceof Promise ? outs.then((o) => this.results(o)) : Promise.resolve(this.results(outs));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private results(outs: Tensor[]): R {
    const c = this.contract;
    if (outs.length !== this.resultLeaves)
      throw new UserError(`${c.entry} returned ${outs.length} tensors; its contract has ${this.resultLeaves}`);
    for (const t of outs) this.bytesReadBack += t.data.byteLength;
    const r: Record<string, unknown> = {};
    let i = 0;
    for (const s of c.results) {
      const n = s.leaves.length;
      const sh = slotShape(s);
      r[s.name] = typeof sh === 'number' ? outs[i + sh] : build(sh, outs, i, { slot: s, leaves: outs.slice(i, i + n) });
      i += n;
    }
    return r as R;
  }

  /** run() over a synchronous program. */
  runSync(args: Record<string, unknown> = {}): R {
    const outs = this.exec(this.flat(args));
    if (outs instanceof Promise) throw new UserError(`${this.contract.entry}: this backend runs asynchronously`);
    return this.results(outs);
  }

  /** The bound leaves of a parameter, with their contract entries (e.g. weights to write beside an
   *  artifact, in the order the artifact takes them). */
  leaves(name: string): { leaf: Leaf; tensor: Tensor }[] {
    const i = this.contract.params.findIndex((p) => p.name === name);
    if (i < 0) throw new UserError(`${this.contract.entry} has no parameter ${name}`);
    return this.contract.params[i]!.leaves.map((leaf, k) => ({ leaf, tensor: this.inputs[i]![k]! }));
  }
}
