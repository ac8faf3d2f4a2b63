// Kernel IR: what one compiled kernel computes. A kernel is a loop over an output domain whose
// stored value is a scalar expression DAG (KNode) over loads from input buffers at integer index
// expressions, plus at most one reduction (or one template contraction: dot, signlinear) whose
// result the expression reads as `acc` (the epilogue). Nodes are hash-consed in a KGraph, so equal
// subexpressions are one node; integer index expressions are kept in affine normal form so views
// (broadcast, transpose, slice, reshape) compose into simple strided loads.
import type { AttentionMode, BinaryPrim, ComparePrim, UnaryPrim } from '../../runtime/core/prim_names.ts';
import type { Atom } from '../../runtime/core/ir.ts';
import type { AttnDims } from '../../runtime/prims/attention.ts';
import type { Stored } from '../../runtime/core/tensor.ts';

/** dtypes a kernel computes in (f16 and f64 never reach kernels; sign tensors are u32 words). */
export type KDType = 'f32' | 'i32' | 'u32' | 'bool';
export type KBin = BinaryPrim | ComparePrim;

interface NodeBase {
  id: number;
  dtype: KDType;
  /** bit d set when the value depends on loop axis d */
  deps: number;
}
export type KNode = NodeBase &
  (
    | { op: 'idx'; axis: number }
    | { op: 'const'; value: number }
    | { op: 'load'; buf: number; at: KNode }
    | { op: 'acc' }
    | { op: 'un'; f: UnaryPrim; a: KNode }
    | { op: 'bin'; f: KBin; a: KNode; b: KNode }
    | { op: 'select'; c: KNode; a: KNode; b: KNode }
    | { op: 'cvt'; a: KNode }
  );

export type ReduceOp = 'sum' | 'max' | 'min' | 'argmax';

/** An input buffer of a kernel: its element dtype ('u32' for packed sign words) and length; an
 *  f32 input held at a 16-bit stored precision (runtime/core/stored.ts) says which, and the kernel
 *  converts each element where it loads it. */
export interface KBuf {
  dtype: KDType;
  size: number;
  stored?: Stored;
}

interface KernelBase {
  /** output domain (row-major); the kernel writes numel(shape) elements of outDtype */
  shape: number[];
  outDtype: KDType;
  ins: KBuf[];
  /** the stored value at the output index (loop axes 0..rank-1); may read `acc` */
  out: KNode;
}

/** Elementwise (no red) or a reduction over extra loop axes rank..rank+red.shape.length-1. */
export interface LoopKernel extends KernelBase {
  kind: 'loop';
  red?: { op: ReduceOp; shape: number[]; body: KNode };
}

/** acc[b, m, n] = Σ_k A[b, m, k] · B[b, n, k] over contiguous A (buffer a) and B (buffer b);
 *  the output domain is [B·M·N] in the shape of the dot's result. */
export interface DotKernel extends KernelBase {
  kind: 'dot';
  B: number;
  M: number;
  N: number;
  K: number;
  a: number;
  b: number;
}

/** acc[m, o] = Σ_i (x[m, i] · g[i]) · (bit(s[o, i]) ? -1 : 1) over packed sign words. */
export interface SignKernel extends KernelBase {
  kind: 'signlinear';
  M: number;
  O: number;
  I: number;
  x: number;
  s: number;
  g: number;
}

/** acc[m, o] = Σ_k d[o, k] · Σ_{i in block k} x[m, i] · (bit(s[o, i]) ? -1 : 1): K blocks of I / K
 *  columns per row (whole sign words); d is buffer `d`, [O, K]. */
export interface BlockSignKernel extends KernelBase {
  kind: 'blocksignlinear';
  M: number;
  O: number;
  I: number;
  K: number;
  x: number;
  s: number;
  d: number;
}

/** Fused attention (runtime/prims/attention.ts) in one of its modes; operand fields are input
 *  buffers (-1: the mode has none). The output domain is the mode's result shape. */
export interface AttnKernel extends KernelBase, AttnDims {
  kind: 'attention';
  mode: AttentionMode;
  scale: number;
  q: number;
  k: number;
  v: number;
  mask: number;
  dO: number;
  lse: number;
  delta: number;
}

export type Kernel = LoopKernel | DotKernel | SignKernel | BlockSignKernel | AttnKernel;

/** How fusion writes Kernel IR for an equation's element: what a fuse rule and a template's
 *  fusion hook receive. */
export interface ExprCtx {
  g: KGraph;
  /** the element of an operand at a multi-index (recursing into fused producers, or a load) */
  at(a: Atom, index: KNode[]): KNode;
  /** the raw u32 word w of a materialised sign tensor */
  word(a: Atom, flat: KNode): KNode;
}

/** The kernel dtype of a tensor dtype (sign tensors are their u32 words). */
export function kdtype(d: string): KDType {
  return d === 'sign' ? 'u32' : (d as KDType);
}

// ---- affine index algebra ------------------------------------------------------------------------

/** c + Σ coef · atom, atoms being index-valued nodes (loop indices or opaque i32 nodes). */
export interface Affine {
  c: number;
  terms: Map<KNode, number>;
}

const bitsOf = (n: KNode) => n.deps;

const affMemo = new WeakMap<KNode, Affine>();
/** The affine form of an i32 node, read off its structure: sums, differences and products with a
 *  constant of index atoms; any other node is its own single atom. */
export function affineOf(n: KNode): Affine {
  const hit = affMemo.get(n);
  if (hit) return hit;
  let r: Affine;
  if (n.op === 'const') r = { c: n.value, terms: new Map() };
  else if (n.op === 'bin' && n.dtype === 'i32' && (n.f === 'add' || n.f === 'sub')) {
    const a = affineOf(n.a);
    const b = affineOf(n.b);
    const s = n.f === 'add' ? 1 : -1;
    const terms = new Map(a.terms);
    for (const [t, k] of b.terms) terms.set(t, (terms.get(t) ?? 0) + s * k);
    r = { c: a.c + s * b.c, terms };
  } else if (n.op === 'bin' && n.dtype === 'i32' && n.f === 'mul' && (n.a.op === 'const' || n.b.op === 'const')) {
    const [x, c] = n.b.op === 'const' ? [n.a, n.b.value] : [n.b, (n.a as { value: number }).value];
    const a = affineOf(x);
    r = { c: a.c * c, terms: new Map([...a.terms].map(([t, k]) => [t, k * c])) };
  } else r = { c: 0, terms: new Map([[n, 1]]) };
  affMemo.set(n, r);
  return r;
}

/** Hash-consing node store with constant folding and affine simplification of i32 index math. */
export class KGraph {
  private readonly nodes = new Map<string, KNode>();
  private readonly ranges = new WeakMap<KNode, [number, number]>();
  private next = 0;

  /** loop extents: axis d ranges over [0, extents[d]) */
  constructor(readonly extents: number[] = []) {}

  private intern(key: string, make: (id: number) => KNode): KNode {
    let n = this.nodes.get(key);
    if (!n) {
      n = make(this.next++);
      this.nodes.set(key, n);
    }
    return n;
  }

  idx(axis: number): KNode {
    const n = this.intern(`idx ${axis}`, (id) => ({ id, op: 'idx', axis, dtype: 'i32', deps: 1 << axis }));
    this.ranges.set(n, [0, Math.max(0, (this.extents[axis] ?? 1) - 1)]);
    return n;
  }

  const(value: number, dtype: KDType): KNode {
    const v =
      dtype === 'f32'
        ? Math.fround(value)
        : dtype === 'i32'
          ? value | 0
          : dtype === 'u32'
            ? value >>> 0
            : value
              ? 1
              : 0;
    const n = this.intern(`const ${dtype} ${Object.is(v, -0) ? '-0' : v}`, (id) => ({
      id,
      op: 'const',
      value: v,
      dtype,
      deps: 0,
    }));
    if (dtype === 'i32') this.ranges.set(n, [v, v]);
    return n;
  }

  load(buf: number, at: KNode, dtype: KDType): KNode {
    return this.intern(`load ${dtype} b${buf} ${at.id}`, (id) => ({ id, op: 'load', buf, at, dtype, deps: at.deps }));
  }

  acc(dtype: KDType): KNode {
    return this.intern(`acc ${dtype}`, (id) => ({ id, op: 'acc', dtype, deps: 0 }));
  }

  un(f: UnaryPrim, a: KNode): KNode {
    if (a.op === 'const' && a.dtype === 'f32' && (f === 'neg' || f === 'abs'))
      return this.const(f === 'neg' ? -a.value : Math.abs(a.value), 'f32');
    return this.intern(`un ${f} ${a.id}`, (id) => ({ id, op: 'un', f, a, dtype: a.dtype, deps: a.deps }));
  }

  bin(f: KBin, a: KNode, b: KNode): KNode {
    const cmp = f === 'eq' || f === 'ne' || f === 'lt' || f === 'le' || f === 'gt' || f === 'ge';
    if (a.dtype === 'i32' && !cmp) {
      const s = this.intMath(f, a, b);
      if (s) return s;
    }
    return this.raw(f, a, b, cmp ? 'bool' : a.dtype);
  }

  private raw(f: KBin, a: KNode, b: KNode, dtype: KDType): KNode {
    return this.intern(`bin ${f} ${a.id} ${b.id}`, (id) => ({
      id,
      op: 'bin',
      f,
      a,
      b,
      dtype,
      deps: bitsOf(a) | bitsOf(b),
    }));
  }

  select(c: KNode, a: KNode, b: KNode): KNode {
    if (c.op === 'const') return c.value ? a : b;
    if (a === b) return a;
    return this.intern(`select ${c.id} ${a.id} ${b.id}`, (id) => ({
      id,
      op: 'select',
      c,
      a,
      b,
      dtype: a.dtype,
      deps: c.deps | a.deps | b.deps,
    }));
  }

  cvt(a: KNode, dtype: KDType): KNode {
    if (a.dtype === dtype) return a;
    if (a.op === 'const' && a.dtype !== 'f32') return this.const(a.value, dtype);
    return this.intern(`cvt ${dtype} ${a.id}`, (id) => ({ id, op: 'cvt', a, dtype, deps: a.deps }));
  }

  // ---- i32 index math ----

  /** The affine form of an i32 node (an opaque node is its own single atom). */
  affine(n: KNode): Affine {
    return affineOf(n);
  }

  /** [lo, hi] of an i32 node, when known. */
  range(n: KNode): [number, number] | undefined {
    const r = this.ranges.get(n);
    if (r) return r;
    if (n.op === 'const') return [n.value, n.value];
    return undefined;
  }

  private affRange(a: Affine): [number, number] | undefined {
    let lo = a.c;
    let hi = a.c;
    for (const [t, k] of a.terms) {
      const r = this.range(t);
      if (!r) return undefined;
      lo += Math.min(k * r[0], k * r[1]);
      hi += Math.max(k * r[0], k * r[1]);
    }
    return [lo, hi];
  }

  /** Builds the canonical node of an affine form (terms ordered by node id). */
  fromAffine(a: Affine): KNode {
    const terms = [...a.terms].filter(([, k]) => k !== 0).sort((x, y) => x[0].id - y[0].id);
    if (!terms.length) return this.const(a.c, 'i32');
    if (terms.length === 1 && a.c === 0 && terms[0]![1] === 1) return terms[0]![0];
    let acc: KNode | undefined;
    for (const [t, k] of terms) {
      const term = k === 1 ? t : this.raw('mul', t, this.const(k, 'i32'), 'i32');
      acc = acc ? this.raw('add', acc, term, 'i32') : term;
    }
    if (a.c !== 0) acc = this.raw('add', acc!, this.const(a.c, 'i32'), 'i32');
    const r = this.affRange({ c: a.c, terms: new Map(terms) });
    if (r) this.ranges.set(acc!, r);
    return acc!;
  }

  private opaque(f: KBin, a: KNode, b: KNode, range?: [number, number]): KNode {
    const n = this.raw(f, a, b, 'i32');
    if (range) this.ranges.set(n, range);
    return n;
  }

  private intMath(f: KBin, a: KNode, b: KNode): KNode | undefined {
    const A = this.affine(a);
    const B = this.affine(b);
    const bc = b.op === 'const' ? b.value : undefined;
    const ac = a.op === 'const' ? a.value : undefined;
    switch (f) {
      case 'add':
      case 'sub': {
        const s = f === 'add' ? 1 : -1;
        const terms = new Map(A.terms);
        for (const [t, k] of B.terms) terms.set(t, (terms.get(t) ?? 0) + s * k);
        return this.fromAffine({ c: (A.c + s * B.c) | 0, terms });
      }
      case 'mul': {
        const k = bc ?? ac;
        const other = bc !== undefined ? A : ac !== undefined ? B : undefined;
        if (k === undefined || !other) return undefined;
        return this.fromAffine({
          c: Math.imul(other.c, k),
          terms: new Map([...other.terms].map(([t, v]) => [t, v * k])),
        });
      }
      case 'div':
      case 'rem': {
        if (bc === undefined || bc <= 0) return undefined;
        const r = this.affRange(A);
        if (bc === 1) return f === 'div' ? a : this.const(0, 'i32');
        if (r && r[0] >= 0 && r[1] < bc) return f === 'div' ? this.const(0, 'i32') : a;
        // split off the terms (and constant part) divisible by bc; exact when the rest stays in [0, bc)
        const q: Affine = { c: 0, terms: new Map() };
        const rest: Affine = { c: 0, terms: new Map() };
        const cq = Math.floor(A.c / bc) * bc;
        q.c = cq;
        rest.c = A.c - cq;
        for (const [t, k] of A.terms) (k % bc === 0 ? q : rest).terms.set(t, k);
        const rr = this.affRange(rest);
        if (r && r[0] >= 0 && rr && rr[0] >= 0 && rr[1] < bc) {
          if (f === 'rem') return this.fromAffine(rest);
          return this.fromAffine({ c: q.c / bc, terms: new Map([...q.terms].map(([t, k]) => [t, k / bc])) });
        }
        const lo =
          r && r[0] >= 0
            ? f === 'div'
              ? [Math.floor(r[0] / bc), Math.floor(r[1] / bc)]
              : [0, Math.min(bc - 1, r[1])]
            : undefined;
        return this.opaque(f, a, b, lo as [number, number] | undefined);
      }
      case 'min':
      case 'max': {
        const ra = this.range(a) ?? this.affRange(A);
        const rb = this.range(b) ?? this.affRange(B);
        if (ra && rb) {
          if (f === 'min' && ra[1] <= rb[0]) return a;
          if (f === 'min' && rb[1] <= ra[0]) return b;
          if (f === 'max' && ra[0] >= rb[1]) return a;
          if (f === 'max' && rb[0] >= ra[1]) return b;
        }
        const rng: [number, number] | undefined =
          ra && rb
            ? f === 'min'
              ? [Math.min(ra[0], rb[0]), Math.min(ra[1], rb[1])]
              : [Math.max(ra[0], rb[0]), Math.max(ra[1], rb[1])]
            : undefined;
        return this.opaque(f, a, b, rng);
      }
      default:
        if (ac !== undefined && bc !== undefined) return undefined;
        return undefined;
    }
  }

  /** clamp(x, lo, hi) for i32 index math. */
  clamp(x: KNode, lo: number, hi: number): KNode {
    return this.bin('min', this.bin('max', x, this.const(lo, 'i32')), this.const(hi, 'i32'));
  }

  /** Row-major flat index of a multi-index into a shape. */
  flat(index: KNode[], shape: readonly number[]): KNode {
    let acc = this.const(0, 'i32');
    let stride = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (shape[d] !== 1) acc = this.bin('add', acc, this.bin('mul', index[d]!, this.const(stride, 'i32')));
      stride *= shape[d]!;
    }
    return acc;
  }

  /** The multi-index of a row-major flat index in a shape. */
  unflat(flat: KNode, shape: readonly number[]): KNode[] {
    const out: KNode[] = [];
    let stride = shape.reduce((a, b) => a * b, 1);
    for (const n of shape) {
      stride /= n;
      out.push(
        n === 1
          ? this.const(0, 'i32')
          : this.bin('rem', this.bin('div', flat, this.const(stride, 'i32')), this.const(n, 'i32')),
      );
    }
    return out;
  }
}

/** Every node reachable from the roots, children first. */
export function topo(roots: KNode[]): KNode[] {
  const seen = new Set<KNode>();
  const out: KNode[] = [];
  const visit = (n: KNode): void => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const c of children(n)) visit(c);
    out.push(n);
  };
  roots.forEach(visit);
  return out;
}

export function children(n: KNode): KNode[] {
  switch (n.op) {
    case 'load':
      return [n.at];
    case 'un':
    case 'cvt':
      return [n.a];
    case 'bin':
      return [n.a, n.b];
    case 'select':
      return [n.c, n.a, n.b];
    default:
      return [];
  }
}

export function kernelRoots(k: Kernel): KNode[] {
  return k.kind === 'loop' && k.red ? [k.red.body, k.out] : [k.out];
}

/** Whether a node reads the kernel's reduction / template result (acc). */
export function usesAcc(n: KNode, memo = new Map<KNode, boolean>()): boolean {
  const hit = memo.get(n);
  if (hit !== undefined) return hit;
  const r = n.op === 'acc' || children(n).some((c) => usesAcc(c, memo));
  memo.set(n, r);
  return r;
}
