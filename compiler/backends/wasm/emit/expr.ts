// Kernel IR nodes → binaryen expressions, in scalar form or as 4 lanes (v128) along one loop axis.
// Every node becomes one local (SSA into locals; binaryen's optimiser folds single uses back), put
// in the statement list of the loop depth it depends on, so invariant work is hoisted by
// construction. Nodes without a SIMD instruction are computed lane by lane.
import binaryen from 'binaryen';
import type { KBin, KBuf, KNode } from '../../../kir/ir.ts';
import { elemShift, loadQ8, loadStored, loadStored4 } from './stored.ts';
import type { UnaryPrim } from '../../../../runtime/core/prim_names.ts';
import type { MathImport } from '../../../../runtime/wasm/abi.ts';
import { usesAcc, affineOf } from '../../../kir/ir.ts';
import { InternalError } from '../../../syntax/diag.ts';
import { exp4, sigmoid4, tanh4 } from './fastexp.ts';
import { laneBytes, lanePattern, type LanePattern } from './lanes.ts';

type M = binaryen.Module;
type X = binaryen.ExpressionRef;

/** Grows the function's locals. */
export class Locals {
  readonly types: binaryen.Type[] = [];
  constructor(readonly nparams: number) {}
  add(t: binaryen.Type): number {
    this.types.push(t);
    return this.nparams + this.types.length - 1;
  }
}

export const ELEM_BYTES = { f32: 4, i32: 4, u32: 4, bool: 1 } as const;

/** How an index-valued node reaches a load: its value at lane 0 and its stride along the vector axis. */
export interface Env {
  m: M;
  L: Locals;
  /** loop axis → local holding its current value (lane 0 when it is the vector axis) */
  axis: Map<number, number>;
  /** buffer → local holding its base pointer */
  ptr: (buf: number) => X;
  /** the kernel's input buffers (a stored one's loads convert) */
  ins: readonly KBuf[];
  /** the vector axis (undefined: scalar code); lane 0's index along it is always a multiple of 4
   *  (compiler/backends/wasm/emit/lanes.ts relies on it) */
  vaxis?: number;
  /** loop extent of each axis (output axes, then reduction axes), for lane patterns' ranges */
  extents: number[];
  /** lane patterns per vector axis (compiler/backends/wasm/emit/lanes.ts) */
  lanes: Map<number, Map<KNode, LanePattern | undefined>>;
  /** depth of each loop axis (nodes go into the statement list of their deepest axis) */
  depthOf: (axis: number) => number;
  /** depth of the acc node and whether acc is a vector */
  accDepth: number;
  accLocal?: { local: number; vec: boolean };
  /** statement lists per depth, and the depth whose list takes acc-dependent nodes */
  lists: Map<number, X[]>;
  /** memo: node → local (scalar, lane-0 for vector-axis nodes) and node → v128 local */
  sc: Map<KNode, number>;
  vc: Map<KNode, number>;
  imports: Set<MathImport>;
  /** the local holding the row-major flat output index (lane 0), for loads at the output index */
  flat?: { local: number; shape: number[] };
}

/** Whether an index node is the row-major flat index of the output (then the flat local serves). */
function isFlat(env: Env, n: KNode): boolean {
  if (!env.flat || n.dtype !== 'i32' || n.op === 'const' || !(n.deps & (1 << (env.flat.shape.length - 1))))
    return false;
  const a = affineOf(n);
  if (a.c !== 0) return false;
  const shape = env.flat.shape;
  let stride = 1;
  const want = new Map<number, number>();
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1) want.set(d, stride);
    stride *= shape[d]!;
  }
  if (a.terms.size !== want.size) return false;
  for (const [t, k] of a.terms) if (t.op !== 'idx' || want.get(t.axis) !== k) return false;
  return true;
}

const wt = (d: KNode['dtype']) => (d === 'f32' ? binaryen.f32 : binaryen.i32);

function depth(env: Env, n: KNode): number {
  let d = 0;
  for (let a = 0; a < 32; a++) if (n.deps & (1 << a)) d = Math.max(d, env.depthOf(a));
  if (usesAcc(n)) d = Math.max(d, env.accDepth);
  return d;
}

function push(env: Env, n: KNode, x: X, type: binaryen.Type, memo: Map<KNode, number>): X {
  const local = env.L.add(type);
  const d = depth(env, n);
  let list = env.lists.get(d);
  if (!list) env.lists.set(d, (list = []));
  list.push(env.m.local.set(local, x));
  memo.set(n, local);
  return env.m.local.get(local, type);
}

const isVec = (env: Env, n: KNode): boolean =>
  (env.vaxis !== undefined && (n.deps & (1 << env.vaxis)) !== 0) || (!!env.accLocal?.vec && usesAcc(n));

/** The scalar value of a node (at lane 0 of the vector axis). */
export function scalar(env: Env, n: KNode): X {
  const hit = env.sc.get(n);
  if (hit !== undefined) return env.m.local.get(hit, wt(n.dtype));
  if (isFlat(env, n)) return env.m.local.get(env.flat!.local, binaryen.i32);
  return push(
    env,
    n,
    scalarOp(env, n, (c) => scalar(env, c)),
    wt(n.dtype),
    env.sc,
  );
}

/** The node as 4 lanes along the vector axis (a splat when it does not vary along it). */
export function vector(env: Env, n: KNode): X {
  const m = env.m;
  if (!isVec(env, n)) return splat(m, n.dtype, scalar(env, n));
  const hit = env.vc.get(n);
  if (hit !== undefined) return m.local.get(hit, binaryen.v128);
  return push(env, n, vectorOp(env, n), binaryen.v128, env.vc);
}

function splat(m: M, dtype: KNode['dtype'], x: X): X {
  if (dtype === 'f32') return m.f32x4.splat(x);
  if (dtype === 'bool') return m.i32x4.splat(m.i32.sub(m.i32.const(0), x)); // 0/1 → mask
  return m.i32x4.splat(x);
}

function mathCall(env: Env, name: MathImport, args: X[]): X {
  env.imports.add(name);
  return env.m.call(name, args, binaryen.f64);
}

/** Scalar code for one node, given scalar code for its children. */
function scalarOp(env: Env, n: KNode, ch: (c: KNode) => X): X {
  const m = env.m;
  switch (n.op) {
    case 'idx': {
      const l = env.axis.get(n.axis);
      if (l === undefined) throw new InternalError(`wasm: loop axis ${n.axis} has no local`);
      return m.local.get(l, binaryen.i32);
    }
    case 'const':
      return n.dtype === 'f32' ? m.f32.const(n.value) : m.i32.const(n.value | 0);
    case 'acc': {
      if (!env.accLocal) throw new InternalError('wasm: acc outside an epilogue');
      if (env.accLocal.vec) throw new InternalError('wasm: scalar acc of a vector reduction');
      return m.local.get(env.accLocal.local, wt(n.dtype));
    }
    case 'load': {
      const kb = env.ins[n.buf];
      if (kb?.stored === 'q8_0') return loadQ8(m, env.L, env.ptr(n.buf), ch(n.at));
      const addr = m.i32.add(env.ptr(n.buf), m.i32.shl(ch(n.at), m.i32.const(elemShift(kb, ELEM_BYTES[n.dtype]))));
      if (kb?.stored) return loadStored(m, env.L, kb.stored, 0, addr);
      if (n.dtype === 'f32') return m.f32.load(0, 4, addr);
      if (n.dtype === 'bool') return m.i32.load8_u(0, 1, addr);
      return m.i32.load(0, 4, addr);
    }
    case 'cvt':
      return convert(env, n.a.dtype, n.dtype, ch(n.a));
    case 'select':
      return m.select(ch(n.c), ch(n.a), ch(n.b));
    case 'un':
      return unary(env, n.f, n.dtype, ch(n.a));
    case 'bin':
      return binary(env, n.f, n.a.dtype, ch(n.a), ch(n.b), n.b);
  }
}

function convert(env: Env, from: KNode['dtype'], to: KNode['dtype'], x: X): X {
  const m = env.m;
  if (from === to) return x;
  if (to === 'bool') return from === 'f32' ? m.f32.ne(x, m.f32.const(0)) : m.i32.ne(x, m.i32.const(0));
  if (to === 'f32') return from === 'i32' ? m.f32.convert_s.i32(x) : m.f32.convert_u.i32(x);
  if (from === 'f32') return m.i32.wrap(m.i64.trunc_s_sat.f32(x)); // trunc toward zero, wrapping like JS `| 0`
  return x; // i32 / u32 / bool share their bits
}

type WasmUnary = (env: Env, x: X, d: KNode['dtype']) => X;

/** Stores x in a fresh local: (the set, a getter). */
function tmp(env: Env, x: X, type: binaryen.Type): { set: X; get: () => X } {
  const t = env.L.add(type);
  return { set: env.m.local.set(t, x), get: () => env.m.local.get(t, type) };
}

/** f32 functions computed in the kernel on 4 lanes (compiler/backends/wasm/emit/fastexp.ts); a scalar is the
 *  lane 0 of a splat, so a value does not depend on its position in a vector loop. */
const F32_LANES = { exp: exp4, sigmoid: sigmoid4, tanh: tanh4 } as const;
const inLanes = (env: Env, f: keyof typeof F32_LANES, x: X): X => {
  const r = F32_LANES[f](env.m, env.L, x);
  return env.m.block(null, [...r.stmts, env.m.local.get(r.out, binaryen.v128)], binaryen.v128);
};
const laneOf =
  (f: keyof typeof F32_LANES): WasmUnary =>
  (env, x) =>
    env.m.f32x4.extract_lane(inLanes(env, f, env.m.f32x4.splat(x)), 0);

/** f32 through the host's f64 Math (as the reference computes it, rounded once). */
const viaF64 =
  (name: MathImport): WasmUnary =>
  (env, x) =>
    env.m.f32.demote(mathCall(env, name, [env.m.f64.promote(x)]));

/** f32 unary operators, one per unary primitive (undefined: not defined on f32). */
const F32_UNARY: Record<UnaryPrim, WasmUnary | undefined> = {
  neg: (env, x) => env.m.f32.neg(x),
  abs: (env, x) => env.m.f32.abs(x),
  sqrt: (env, x) => env.m.f32.sqrt(x),
  floor: (env, x) => env.m.f32.floor(x),
  ceil: (env, x) => env.m.f32.ceil(x),
  round: (env, x) => env.m.f32.nearest(x),
  rsqrt: (env, x) => env.m.f32.demote(env.m.f64.div(env.m.f64.const(1), env.m.f64.sqrt(env.m.f64.promote(x)))),
  exp: laneOf('exp'),
  log: viaF64('log'),
  sin: viaF64('sin'),
  cos: viaF64('cos'),
  tanh: laneOf('tanh'),
  sigmoid: laneOf('sigmoid'),
  sign: (env, x) => {
    const m = env.m;
    const t = tmp(env, x, binaryen.f32);
    return m.block(
      null,
      [
        t.set,
        m.select(
          m.f32.gt(t.get(), m.f32.const(0)),
          m.f32.const(1),
          m.select(m.f32.lt(t.get(), m.f32.const(0)), m.f32.const(-1), t.get()),
        ),
      ],
      binaryen.f32,
    );
  },
  not: undefined,
};

/** i32 / u32 / bool unary operators. */
const INT_UNARY: Record<UnaryPrim, WasmUnary | undefined> = {
  neg: (env, x) => env.m.i32.sub(env.m.i32.const(0), x),
  abs: (env, x) => {
    const m = env.m;
    const t = tmp(env, x, binaryen.i32);
    return m.block(
      null,
      [t.set, m.select(m.i32.lt_s(t.get(), m.i32.const(0)), m.i32.sub(m.i32.const(0), t.get()), t.get())],
      binaryen.i32,
    );
  },
  sign: (env, x, d) => {
    const m = env.m;
    const t = tmp(env, x, binaryen.i32);
    const pos = d === 'u32' ? m.i32.ne(t.get(), m.i32.const(0)) : m.i32.gt_s(t.get(), m.i32.const(0));
    return m.block(
      null,
      [
        t.set,
        m.select(
          pos,
          m.i32.const(1),
          d === 'u32' ? m.i32.const(0) : m.select(m.i32.lt_s(t.get(), m.i32.const(0)), m.i32.const(-1), m.i32.const(0)),
        ),
      ],
      binaryen.i32,
    );
  },
  not: (env, x) => env.m.i32.eqz(x),
  exp: undefined,
  log: undefined,
  sqrt: undefined,
  rsqrt: undefined,
  sin: undefined,
  cos: undefined,
  tanh: undefined,
  sigmoid: undefined,
  floor: undefined,
  ceil: undefined,
  round: undefined,
};

function unary(env: Env, f: UnaryPrim, d: KNode['dtype'], x: X): X {
  const op = (d === 'f32' ? F32_UNARY : INT_UNARY)[f];
  if (!op) throw new InternalError(`wasm: ${f} on ${d}`);
  return op(env, x, d);
}

type WasmBinary = (env: Env, a: X, b: X) => X;

/** f32 binary operators, one per binary and comparison primitive (undefined: not on f32). */
const F32_BINARY: Record<KBin, WasmBinary | undefined> = {
  add: (env, a, b) => env.m.f32.add(a, b),
  sub: (env, a, b) => env.m.f32.sub(a, b),
  mul: (env, a, b) => env.m.f32.mul(a, b),
  div: (env, a, b) => env.m.f32.div(a, b),
  max: (env, a, b) => env.m.f32.max(a, b),
  min: (env, a, b) => env.m.f32.min(a, b),
  // through the host's f64 Math, as the reference computes them
  pow: (env, a, b) => env.m.f32.demote(mathCall(env, 'pow', [env.m.f64.promote(a), env.m.f64.promote(b)])),
  rem: (env, a, b) => env.m.f32.demote(mathCall(env, 'rem', [env.m.f64.promote(a), env.m.f64.promote(b)])),
  and: undefined,
  or: undefined,
  xor: undefined,
  shl: undefined,
  shr: undefined,
  eq: (env, a, b) => env.m.f32.eq(a, b),
  ne: (env, a, b) => env.m.f32.ne(a, b),
  lt: (env, a, b) => env.m.f32.lt(a, b),
  le: (env, a, b) => env.m.f32.le(a, b),
  gt: (env, a, b) => env.m.f32.gt(a, b),
  ge: (env, a, b) => env.m.f32.ge(a, b),
};

/** x ** 1 and x ** 2 (the square and its derivative's power): x and x·x are the same f32 as the
 *  reference's f64 pow rounded once (x² is exact in f64), without a host call */
const smallPow = (f: KBin, bn: KNode): 1 | 2 | undefined =>
  f === 'pow' && bn.op === 'const' && (bn.value === 1 || bn.value === 2) ? bn.value : undefined;

/** Integer and bool binary operators with the reference's semantics (JS: x / 0 = 0, INT_MIN / -1
 *  wraps, shifts >= 32 give 0). */

function binary(env: Env, f: KBin, d: KNode['dtype'], a: X, b: X, bn: KNode): X {
  const m = env.m;
  if (d === 'f32') {
    const p = smallPow(f, bn);
    if (p === 1) return a;
    if (p === 2) {
      const t = tmp(env, a, binaryen.f32);
      return m.block(null, [t.set, m.f32.mul(t.get(), t.get())], binaryen.f32);
    }
    const fn = F32_BINARY[f];
    if (!fn) throw new InternalError(`wasm: binary ${f} on f32`);
    return fn(env, a, b);
  }
  const u = d === 'u32' || d === 'bool';
  const posConst = bn.op === 'const' && bn.value > 0;
  const tb = () => {
    const t = env.L.add(binaryen.i32);
    return { set: m.local.set(t, b), get: () => m.local.get(t, binaryen.i32) };
  };
  switch (f) {
    case 'add':
      return m.i32.add(a, b);
    case 'sub':
      return m.i32.sub(a, b);
    case 'mul':
      return m.i32.mul(a, b);
    case 'and':
      return m.i32.and(a, b);
    case 'or':
      return m.i32.or(a, b);
    case 'xor':
      return m.i32.xor(a, b);
    case 'div':
    case 'rem': {
      if (posConst)
        return f === 'div' ? (u ? m.i32.div_u(a, b) : m.i32.div_s(a, b)) : u ? m.i32.rem_u(a, b) : m.i32.rem_s(a, b);
      // JS semantics: x / 0 → 0; INT_MIN / -1 wraps; never trap
      const t = tb();
      let r: X;
      if (u) {
        const safe = m.select(m.i32.eqz(t.get()), m.i32.const(1), t.get());
        r = f === 'div' ? m.i32.div_u(a, safe) : m.i32.rem_u(a, safe);
      } else {
        const ta = env.L.add(binaryen.i32);
        const ga = () => m.local.get(ta, binaryen.i32);
        const minus1 = m.i32.eq(t.get(), m.i32.const(-1));
        const safe2 = m.select(m.i32.or(m.i32.eqz(t.get()), minus1), m.i32.const(1), t.get());
        r = m.block(
          null,
          [
            m.local.set(ta, a),
            m.select(
              minus1,
              f === 'div' ? m.i32.sub(m.i32.const(0), ga()) : m.i32.const(0),
              f === 'div' ? m.i32.div_s(ga(), safe2) : m.i32.rem_s(ga(), safe2),
            ),
          ],
          binaryen.i32,
        );
      }
      return m.block(null, [t.set, m.select(m.i32.eqz(t.get()), m.i32.const(0), r)], binaryen.i32);
    }
    case 'max':
    case 'min': {
      const ta = env.L.add(binaryen.i32);
      const t = tb();
      const ga = () => m.local.get(ta, binaryen.i32);
      const cmp =
        f === 'max'
          ? u
            ? m.i32.gt_u(ga(), t.get())
            : m.i32.gt_s(ga(), t.get())
          : u
            ? m.i32.lt_u(ga(), t.get())
            : m.i32.lt_s(ga(), t.get());
      return m.block(null, [m.local.set(ta, a), t.set, m.select(cmp, ga(), t.get())], binaryen.i32);
    }
    case 'shl': {
      const t = tb();
      return m.block(
        null,
        [
          t.set,
          m.select(
            u ? m.i32.ge_u(t.get(), m.i32.const(32)) : m.i32.ge_s(t.get(), m.i32.const(32)),
            m.i32.const(0),
            m.i32.shl(a, t.get()),
          ),
        ],
        binaryen.i32,
      );
    }
    case 'shr': {
      const t = tb();
      if (u)
        return m.block(
          null,
          [t.set, m.select(m.i32.ge_u(t.get(), m.i32.const(32)), m.i32.const(0), m.i32.shr_u(a, t.get()))],
          binaryen.i32,
        );
      return m.block(
        null,
        [t.set, m.i32.shr_s(a, m.select(m.i32.gt_s(t.get(), m.i32.const(31)), m.i32.const(31), t.get()))],
        binaryen.i32,
      );
    }
    case 'pow':
      return m.i32.wrap(
        m.i64.trunc_s_sat.f64(
          mathCall(env, 'pow', [
            u ? m.f64.convert_u.i32(a) : m.f64.convert_s.i32(a),
            u ? m.f64.convert_u.i32(b) : m.f64.convert_s.i32(b),
          ]),
        ),
      );
    case 'eq':
      return m.i32.eq(a, b);
    case 'ne':
      return m.i32.ne(a, b);
    case 'lt':
      return u ? m.i32.lt_u(a, b) : m.i32.lt_s(a, b);
    case 'le':
      return u ? m.i32.le_u(a, b) : m.i32.le_s(a, b);
    case 'gt':
      return u ? m.i32.gt_u(a, b) : m.i32.gt_s(a, b);
    case 'ge':
      return u ? m.i32.ge_u(a, b) : m.i32.ge_s(a, b);
    default:
      return f satisfies never;
  }
}

// ---- vectors ------------------------------------------------------------------------------------

/** Stride of an index node along the vector axis, when it is affine there (else undefined). */
function vstride(env: Env, n: KNode): number | undefined {
  const a = affineOf(n);
  let s = 0;
  for (const [t, k] of a.terms) {
    if (t.op === 'idx' && t.axis === env.vaxis) s += k;
    else if (env.vaxis !== undefined && t.deps & (1 << env.vaxis)) return undefined;
  }
  return s;
}

function vectorOp(env: Env, n: KNode): X {
  const m = env.m;
  const v = (c: KNode) => vector(env, c);
  switch (n.op) {
    case 'idx':
      // lanes base + 0..3
      return m.i32x4.add(m.i32x4.splat(scalar(env, n)), m.v128.const([0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]));
    case 'acc':
      return m.local.get(env.accLocal!.local, binaryen.v128);
    case 'load': {
      const s = vstride(env, n.at);
      const kb = env.ins[n.buf];
      if (s === 1 && n.dtype !== 'bool' && kb?.stored !== 'q8_0') {
        const addr = m.i32.add(env.ptr(n.buf), m.i32.shl(scalar(env, n.at), m.i32.const(elemShift(kb))));
        return kb?.stored ? loadStored4(m, env.L, kb.stored, 0, addr) : m.v128.load(0, 4, addr);
      }
      // a stored buffer's lanes are loaded one by one (its shuffles would be of 16-bit words)
      return (n.dtype !== 'bool' && !kb?.stored && windowLoad(env, n)) || laneWise(env, n);
    }
    case 'select':
      return m.v128.bitselect(v(n.a), v(n.b), v(n.c));
    case 'cvt': {
      const from = n.a.dtype;
      const to = n.dtype;
      if (to === 'bool')
        return from === 'f32'
          ? m.f32x4.ne(v(n.a), m.f32x4.splat(m.f32.const(0)))
          : m.i32x4.ne(v(n.a), m.i32x4.splat(m.i32.const(0)));
      if (from === 'bool')
        return m.v128.and(v(n.a), to === 'f32' ? m.f32x4.splat(m.f32.const(1)) : m.i32x4.splat(m.i32.const(1)));
      if (to === 'f32') return from === 'i32' ? m.f32x4.convert_i32x4_s(v(n.a)) : m.f32x4.convert_i32x4_u(v(n.a));
      if (from === 'f32') return laneWise(env, n);
      return v(n.a);
    }
    case 'un': {
      if (n.dtype === 'f32') {
        const f = (
          {
            neg: m.f32x4.neg,
            abs: m.f32x4.abs,
            sqrt: m.f32x4.sqrt,
            floor: m.f32x4.floor,
            ceil: m.f32x4.ceil,
            round: m.f32x4.nearest,
          } as Partial<Record<UnaryPrim, (x: X) => X>>
        )[n.f];
        if (f) return f(v(n.a));
        if (n.f === 'exp' || n.f === 'sigmoid' || n.f === 'tanh') return inLanes(env, n.f, v(n.a));
        if (n.f === 'sign') {
          // ±1 with x's sign bit where x is neither ±0 nor NaN, else x itself (the scalar rule)
          const x = env.L.add(binaryen.v128);
          const g = () => m.local.get(x, binaryen.v128);
          const zero = () => m.f32x4.splat(m.f32.const(0));
          const one = m.v128.or(m.f32x4.splat(m.f32.const(1)), m.v128.and(g(), m.f32x4.splat(m.f32.const(-0))));
          return m.block(
            null,
            [
              m.local.set(x, v(n.a)),
              m.v128.bitselect(one, g(), m.v128.and(m.f32x4.ne(g(), zero()), m.f32x4.eq(g(), g()))),
            ],
            binaryen.v128,
          );
        }
      } else if (n.f === 'not') return m.v128.not(v(n.a));
      else if (n.f === 'neg') return m.i32x4.neg(v(n.a));
      return laneWise(env, n);
    }
    case 'bin': {
      const d = n.a.dtype;
      if (d === 'f32') {
        const f = (
          {
            add: m.f32x4.add,
            sub: m.f32x4.sub,
            mul: m.f32x4.mul,
            div: m.f32x4.div,
            max: m.f32x4.max,
            min: m.f32x4.min,
            eq: m.f32x4.eq,
            ne: m.f32x4.ne,
            lt: m.f32x4.lt,
            le: m.f32x4.le,
            gt: m.f32x4.gt,
            ge: m.f32x4.ge,
          } as Partial<Record<KBin, (a: X, b: X) => X>>
        )[n.f];
        if (f) return f(v(n.a), v(n.b));
        const p = smallPow(n.f, n.b);
        if (p) return p === 1 ? v(n.a) : m.f32x4.mul(v(n.a), v(n.a));
        return laneWise(env, n);
      }
      const pat = lanesOf(env, n);
      if (pat) return patternVector(env, n, pat);
      const both = [lanesOf(env, n.a, false), lanesOf(env, n.b, false)];
      if (d !== 'bool' && isCompare(n.f) && both.every((p) => p?.align === Infinity))
        // a comparison of lanes known at compile time (a stack's or a pad's lane test): a constant
        return m.v128.const(bytes4(both[0]!.c.map((a, l) => (compareInt(n.f, d, a, both[1]!.c[l]!) ? -1 : 0))));
      const u = d !== 'i32';
      const table: Record<string, (a: X, b: X) => X> = {
        add: m.i32x4.add,
        sub: m.i32x4.sub,
        mul: m.i32x4.mul,
        and: m.v128.and,
        or: m.v128.or,
        xor: m.v128.xor,
        eq: m.i32x4.eq,
        ne: m.i32x4.ne,
        lt: u ? m.i32x4.lt_u : m.i32x4.lt_s,
        le: u ? m.i32x4.le_u : m.i32x4.le_s,
        gt: u ? m.i32x4.gt_u : m.i32x4.gt_s,
        ge: u ? m.i32x4.ge_u : m.i32x4.ge_s,
        max: u ? m.i32x4.max_u : m.i32x4.max_s,
        min: u ? m.i32x4.min_u : m.i32x4.min_s,
      };
      // bool lanes are masks: and/or/xor/eq/ne work on them; ordering compares do not
      const f = d === 'bool' && !['and', 'or', 'xor'].includes(n.f) ? undefined : table[n.f];
      if (f) return f(v(n.a), v(n.b));
      return laneWise(env, n);
    }
    case 'const':
      return splat(m, n.dtype, scalar(env, n));
  }
}

/** The node's lane pattern along the vector axis (integer nodes; by default only those that vary
 *  along it). */
function lanesOf(env: Env, n: KNode, varying = true): LanePattern | undefined {
  const ax = env.vaxis;
  if (ax === undefined || (varying && !(n.deps & (1 << ax))) || (n.dtype !== 'i32' && n.dtype !== 'u32'))
    return undefined;
  let memo = env.lanes.get(ax);
  if (!memo) env.lanes.set(ax, (memo = new Map()));
  return lanePattern(n, ax, (a) => env.extents[a], memo);
}

/** i32 lanes as the bytes of a v128 constant */
const bytes4 = (lanes: number[]): number[] => lanes.flatMap((x) => [0, 8, 16, 24].map((b) => (x >>> b) & 255));

/** 4 lanes of a patterned node: the lane-0 value splat plus the constant offsets (a constant when
 *  the pattern is one) */
function patternVector(env: Env, n: KNode, p: LanePattern): X {
  const m = env.m;
  if (p.align === Infinity) return m.v128.const(bytes4(p.c));
  const rel = p.c.map((x) => (x - p.c[0]) | 0);
  const base = m.i32x4.splat(scalar(env, n));
  return rel.every((x) => x === 0) ? base : m.i32x4.add(base, m.v128.const(bytes4(rel)));
}

/** A 4-byte load at a patterned index whose lanes lie within 8 consecutive elements: one or two
 *  v128 loads from the lowest lane's element and a shuffle (a splat load when all lanes agree).
 *  Reading up to 7 elements past the highest used one stays inside memory: the program's memory
 *  has a spare page past its last buffer (runtime/wasm/program.ts); those lanes are never used. */
function windowLoad(env: Env, n: KNode & { op: 'load' }): X | undefined {
  const p = lanesOf(env, n.at);
  if (!p) return undefined;
  const m = env.m;
  const lo = Math.min(...p.c);
  const rel = p.c.map((x) => x - lo);
  if (Math.max(...rel) > 7) return undefined;
  // the element of the lowest lane: lane 0's index minus its offset above the lowest
  const first = () => m.i32.add(scalar(env, n.at), m.i32.const((lo - p.c[0]) | 0));
  const addr = (e: number) =>
    m.i32.add(env.ptr(n.buf), m.i32.shl(e ? m.i32.add(first(), m.i32.const(e)) : first(), m.i32.const(2)));
  if (rel.every((x) => x === 0)) return m.v128.load32_splat(0, 4, addr(0));
  const a = m.v128.load(0, 4, addr(0));
  if (rel.every((x, l) => x === l)) return a;
  const b = Math.max(...rel) > 3 ? m.v128.load(0, 4, addr(4)) : m.v128.const(new Array(16).fill(0));
  return m.i8x16.shuffle(a, b, laneBytes(rel));
}

const isCompare = (f: KBin): boolean => ['eq', 'ne', 'lt', 'le', 'gt', 'ge'].includes(f);
function compareInt(f: KBin, d: KNode['dtype'], a: number, b: number): boolean {
  const [x, y] = d === 'u32' ? [a >>> 0, b >>> 0] : [a | 0, b | 0];
  return f === 'eq'
    ? x === y
    : f === 'ne'
      ? x !== y
      : f === 'lt'
        ? x < y
        : f === 'le'
          ? x <= y
          : f === 'gt'
            ? x > y
            : x >= y;
}

/** Computes a vector node lane by lane from its children's lanes. */
function laneWise(env: Env, n: KNode): X {
  const m = env.m;
  const parts: X[] = [];
  const out = env.L.add(binaryen.v128);
  parts.push(m.local.set(out, m.v128.const(new Array(16).fill(0))));
  for (let l = 0; l < 4; l++) {
    const lane = (c: KNode): X => {
      if (!isVec(env, c)) return scalar(env, c);
      const vx = vector(env, c);
      if (c.dtype === 'f32') return m.f32x4.extract_lane(vx, l);
      const x = m.i32x4.extract_lane(vx, l);
      return c.dtype === 'bool' ? m.i32.ne(x, m.i32.const(0)) : x;
    };
    let x: X;
    if (n.op === 'load') {
      // the index at lane l: the lane-0 index plus l steps of the vector axis when affine, else lane l of its vector
      const s = vstride(env, n.at);
      const at = s !== undefined ? m.i32.add(scalar(env, n.at), m.i32.const(s * l)) : lane(n.at);
      x = scalarOp(env, n, () => at);
    } else x = scalarOp(env, n, lane);
    const cur = m.local.get(out, binaryen.v128);
    const r =
      n.dtype === 'f32'
        ? m.f32x4.replace_lane(cur, l, x)
        : m.i32x4.replace_lane(cur, l, n.dtype === 'bool' ? m.i32.sub(m.i32.const(0), x) : x);
    parts.push(m.local.set(out, r));
  }
  parts.push(m.local.get(out, binaryen.v128));
  return m.block(null, parts, binaryen.v128);
}
