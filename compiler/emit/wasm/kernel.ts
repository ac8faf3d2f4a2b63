// Kernel IR → one binaryen function `(out, in0, ..., inN[, scratch]) -> ()` per kernel.
//   loop kernels: a loop over the output rows, an inner loop over the last output axis (4 lanes
//     at a time, then a scalar tail), and the reduction loops inside; a reduction whose body reads
//     its last axis contiguously is vectorised along that axis instead.
//   dot: each output is a K-long dot product of two contiguous rows (A·Bᵀ), 4 v128 accumulators.
//   signlinear: x ⊙ g for a row goes to scratch once; every output is Σ ±(x⊙g) over the packed
//     words (see the comment at signBody for the choice of method); ⊙ h and the rest are epilogue.
import binaryen from 'binaryen';
import { affineOf, kernelRoots, topo, type Kernel, type KNode, type LoopKernel, type DotKernel, type SignKernel } from '../../kir/ir.ts';
import { Locals, scalar, vector, usesAcc, type Env, ELEM_BYTES } from './expr.ts';

type M = binaryen.Module;
type X = binaryen.ExpressionRef;
const { i32, f32, v128 } = binaryen;

let labels = 0;
/** for (i = start; i < end; i += step) body */
export function forLoop(m: M, i: number, start: X, end: X, step: number, body: X[]): X {
  const id = labels++;
  const brk = `b${id}`;
  const top = `l${id}`;
  return m.block(brk, [
    m.local.set(i, start),
    m.loop(
      top,
      m.block(null, [
        m.br(brk, m.i32.ge_s(m.local.get(i, i32), end)),
        ...body,
        m.local.set(i, m.i32.add(m.local.get(i, i32), m.i32.const(step))),
        m.br(top),
      ]),
    ),
  ]);
}

export interface KernelFn {
  name: string;
  params: number;
  imports: Set<string>;
  scratchBytes: number;
}

/** Scratch bytes a kernel needs (signlinear keeps x ⊙ g for one row). */
export function scratchOf(k: Kernel): number {
  return k.kind === 'signlinear' ? Math.ceil(k.I / 32) * 32 * 4 + 16 : 0;
}

export function emitKernel(m: M, name: string, k: Kernel): KernelFn {
  const nparams = 1 + k.ins.length + (k.kind === 'signlinear' ? 1 : 0);
  const L = new Locals(nparams);
  const imports = new Set<string>();
  const body = k.kind === 'loop' ? loopBody(m, k, L, imports) : k.kind === 'dot' ? dotBody(m, k, L, imports) : signBody(m, k, L, imports);
  m.addFunction(name, binaryen.createType(new Array(nparams).fill(i32)), binaryen.none, L.types, m.block(null, body));
  return { name, params: nparams, imports, scratchBytes: scratchOf(k) };
}

function newEnv(m: M, k: Kernel, L: Locals, imports: Set<string>, depthOf: (a: number) => number): Env {
  return {
    m,
    L,
    axis: new Map(),
    ptr: (b) => m.local.get(1 + b, i32),
    depthOf,
    accDepth: 2.5,
    lists: new Map(),
    sc: new Map(),
    vc: new Map(),
    imports,
  };
}

/** Takes (and clears) the statements of one depth. */
function take(env: Env, d: number): X[] {
  const l = env.lists.get(d) ?? [];
  env.lists.delete(d);
  return l;
}

/** Forgets memoised nodes of depth >= d (they are recomputed in the next code version). */
function forget(env: Env, k: Kernel, d: number): void {
  for (const n of topo(kernelRoots(k))) {
    let dep = 0;
    for (let a = 0; a < 32; a++) if (n.deps & (1 << a)) dep = Math.max(dep, env.depthOf(a));
    if (usesAcc(n)) dep = Math.max(dep, env.accDepth);
    if (dep >= d) {
      env.sc.delete(n);
      env.vc.delete(n);
    }
  }
}

const outAddr = (m: M, flat: X, d: KNode['dtype']) => m.i32.add(m.local.get(0, i32), m.i32.shl(flat, m.i32.const(Math.log2(ELEM_BYTES[d]))));

function storeScalar(m: M, d: KNode['dtype'], flat: X, v: X): X {
  const a = outAddr(m, flat, d);
  return d === 'f32' ? m.f32.store(0, 4, a, v) : d === 'bool' ? m.i32.store8(0, 1, a, v) : m.i32.store(0, 4, a, v);
}

/** Sets the locals of output axes lo..hi-1 from a row-major flat index over shape[lo..hi). */
function decompose(m: M, env: Env, shape: number[], lo: number, hi: number, flat: X, L: Locals, axisOffset = 0): X[] {
  const out: X[] = [];
  const t = L.add(i32);
  out.push(m.local.set(t, flat));
  for (let d = hi - 1; d >= lo; d--) {
    const l = env.axis.get(d + axisOffset) ?? L.add(i32);
    env.axis.set(d + axisOffset, l);
    const n = shape[d]!;
    if (d === lo) out.push(m.local.set(l, m.local.get(t, i32)));
    else {
      out.push(m.local.set(l, m.i32.rem_u(m.local.get(t, i32), m.i32.const(n))));
      out.push(m.local.set(t, m.i32.div_u(m.local.get(t, i32), m.i32.const(n))));
    }
  }
  return out;
}

// ---- reductions ---------------------------------------------------------------------------------

const IDENT: Record<'sum' | 'max' | 'min', Record<'f32' | 'int' | 'u32', number>> = {
  sum: { f32: 0, int: 0, u32: 0 },
  max: { f32: -Infinity, int: -2147483648, u32: 0 },
  min: { f32: Infinity, int: 2147483647, u32: -1 },
};

function combine(m: M, op: 'sum' | 'max' | 'min', d: KNode['dtype'], a: X, b: X, L: Locals): X {
  if (d === 'f32') return op === 'sum' ? m.f32.add(a, b) : op === 'max' ? m.f32.max(a, b) : m.f32.min(a, b);
  if (op === 'sum') return m.i32.add(a, b);
  const ta = L.add(i32);
  const tb = L.add(i32);
  const u = d !== 'i32';
  const ga = () => m.local.get(ta, i32);
  const gb = () => m.local.get(tb, i32);
  const c = op === 'max' ? (u ? m.i32.gt_u(ga(), gb()) : m.i32.gt_s(ga(), gb())) : u ? m.i32.lt_u(ga(), gb()) : m.i32.lt_s(ga(), gb());
  return m.block(null, [m.local.set(ta, a), m.local.set(tb, b), m.select(c, ga(), gb())], i32);
}

function combineVec(m: M, op: 'sum' | 'max' | 'min', d: KNode['dtype'], a: X, b: X): X {
  if (d === 'f32') return op === 'sum' ? m.f32x4.add(a, b) : op === 'max' ? m.f32x4.max(a, b) : m.f32x4.min(a, b);
  const u = d !== 'i32';
  if (op === 'sum') return m.i32x4.add(a, b);
  return op === 'max' ? (u ? m.i32x4.max_u(a, b) : m.i32x4.max_s(a, b)) : u ? m.i32x4.min_u(a, b) : m.i32x4.min_s(a, b);
}

const identConst = (m: M, op: 'sum' | 'max' | 'min', d: KNode['dtype']) =>
  d === 'f32' ? m.f32.const(IDENT[op].f32) : m.i32.const(IDENT[op][d === 'i32' ? 'int' : 'u32']);

/** Whether every load in the body that moves along axis `ax` reads it contiguously. */
function contiguousAlong(body: KNode, ax: number): boolean {
  for (const n of topo([body])) {
    if (n.op !== 'load' || !(n.at.deps & (1 << ax))) continue;
    if (n.dtype === 'bool') return false;
    const a = affineOf(n.at);
    for (const [t, c] of a.terms) if (t.deps & (1 << ax) && !(t.op === 'idx' && t.axis === ax && c === 1)) return false;
  }
  return true;
}

function loopBody(m: M, k: LoopKernel, L: Locals, imports: Set<string>): X[] {
  const r = k.shape.length;
  const R = k.red?.shape.length ?? 0;
  const depthOf = (a: number) => (a < r - 1 ? 1 : a === r - 1 ? 2 : a < r + R - 1 ? 3 : 4);
  const env = newEnv(m, k, L, imports, depthOf);
  const inner = r ? k.shape[r - 1]! : 1;
  const rows = r ? k.shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
  const flatL = L.add(i32);
  const innerL = L.add(i32);
  if (r) env.axis.set(r - 1, innerL);
  env.flat = r ? { local: flatL, shape: k.shape } : undefined;
  const red = k.red;
  const redLast = red ? red.shape[R - 1]! : 0;
  const redRows = red ? red.shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
  const rInner = L.add(i32);
  if (red) env.axis.set(r + R - 1, rInner);
  const redvec = !!red && red.op !== 'argmax' && redLast >= 4 && contiguousAlong(red.body, r + R - 1);
  const outvec = !redvec && r > 0 && inner >= 4 && k.outDtype !== 'bool' && (!red || red.op !== 'argmax');

  /** Reduction loops for one element; returns statements and the local holding the scalar/vector acc. */
  const reduction = (vecOut: boolean): { stmts: X[]; acc: number } => {
    const red = k.red!;
    const d = red.body.dtype;
    const ty = d === 'f32' ? f32 : i32;
    const stmts: X[] = [];
    const rOuter = L.add(i32);
    const redOuterLoop = (inside: X[]): X[] => {
      if (R === 1) return inside;
      return [forLoop(m, rOuter, m.i32.const(0), m.i32.const(redRows), 1, [...decompose(m, env, red.shape, 0, R - 1, m.local.get(rOuter, i32), L, r), ...take(env, 3), ...inside])];
    };
    if (red.op === 'argmax') {
      const best = L.add(ty);
      const bi = L.add(i32);
      const seen = L.add(i32);
      const pos = L.add(i32);
      stmts.push(m.local.set(best, identConst(m, 'max', d)), m.local.set(bi, m.i32.const(0)), m.local.set(seen, m.i32.const(0)), m.local.set(pos, m.i32.const(0)));
      const v = L.add(ty);
      const body = scalar(env, red.body);
      const gv = () => m.local.get(v, ty);
      const gb = () => m.local.get(best, ty);
      const better =
        d === 'f32'
          ? m.i32.or(m.f32.gt(gv(), gb()), m.i32.and(m.f32.ne(gv(), gv()), m.f32.eq(gb(), gb())))
          : d === 'i32'
            ? m.i32.gt_s(gv(), gb())
            : m.i32.gt_u(gv(), gb());
      const upd = [
        m.local.set(v, body),
        m.if(m.i32.or(m.i32.eqz(m.local.get(seen, i32)), better), m.block(null, [m.local.set(best, gv()), m.local.set(bi, m.local.get(pos, i32)), m.local.set(seen, m.i32.const(1))])),
        m.local.set(pos, m.i32.add(m.local.get(pos, i32), m.i32.const(1))),
      ];
      const innerLoop = forLoop(m, rInner, m.i32.const(0), m.i32.const(redLast), 1, [...take(env, 4), ...upd]);
      stmts.push(...(redOuterLoop([innerLoop])));
      return { stmts, acc: bi };
    }
    const op = red.op;
    if (vecOut) {
      const acc = L.add(v128);
      stmts.push(m.local.set(acc, d === 'f32' ? m.f32x4.splat(identConst(m, op, d)) : m.i32x4.splat(identConst(m, op, d))));
      const b = vector(env, red.body);
      const upd = m.local.set(acc, combineVec(m, op, d, m.local.get(acc, v128), b));
      stmts.push(...(redOuterLoop([forLoop(m, rInner, m.i32.const(0), m.i32.const(redLast), 1, [...take(env, 4), upd])])));
      return { stmts, acc };
    }
    const acc = L.add(ty);
    stmts.push(m.local.set(acc, identConst(m, op, d)));
    let innerStmts: X[];
    if (redvec) {
      const saved = env.vaxis;
      env.vaxis = r + R - 1;
      const accs = [L.add(v128), L.add(v128)];
      const initV = () => (d === 'f32' ? m.f32x4.splat(identConst(m, op, d)) : m.i32x4.splat(identConst(m, op, d)));
      const b = vector(env, red.body);
      const vstmts = take(env, 4);
      env.vaxis = saved;
      forget(env, k, 4);
      const sb = scalar(env, red.body);
      const sstmts = take(env, 4);
      const main4 = Math.floor(redLast / 4) * 4;
      const horiz = (x: number) => {
        const g = () => m.local.get(x, v128);
        const lane = (l: number) => (d === 'f32' ? m.f32x4.extract_lane(g(), l) : m.i32x4.extract_lane(g(), l));
        return combine(m, op, d, combine(m, op, d, lane(0), lane(1), L), combine(m, op, d, lane(2), lane(3), L), L);
      };
      innerStmts = [
        ...accs.map((a) => m.local.set(a, initV())),
        forLoop(m, rInner, m.i32.const(0), m.i32.const(main4), 4, [...vstmts, m.local.set(accs[0]!, combineVec(m, op, d, m.local.get(accs[0]!, v128), b))]),
        m.local.set(acc, combine(m, op, d, m.local.get(acc, ty), horiz(accs[0]!), L)),
        forLoop(m, rInner, m.i32.const(main4), m.i32.const(redLast), 1, [...sstmts, m.local.set(acc, combine(m, op, d, m.local.get(acc, ty), sb, L))]),
      ];
    } else {
      const b = scalar(env, red.body);
      innerStmts = [forLoop(m, rInner, m.i32.const(0), m.i32.const(redLast), 1, [...take(env, 4), m.local.set(acc, combine(m, op, d, m.local.get(acc, ty), b, L))])];
    }
    stmts.push(...(redOuterLoop(innerStmts)));
    return { stmts, acc };
  };
  // reduction axes r..r+R-2 get their locals from the outer reduction index (decompose)
  for (let j = 0; j < R - 1; j++) env.axis.set(r + j, L.add(i32));

  /** The code for one output element (vector of 4 or scalar). */
  const element = (vec: boolean): X[] => {
    const saved = env.vaxis;
    env.vaxis = vec ? r - 1 : undefined;
    forget(env, k, 2);
    const stmts: X[] = [];
    let accInfo: { stmts: X[]; acc: number } | undefined;
    if (red) {
      accInfo = reduction(vec);
      env.accLocal = { local: accInfo.acc, vec };
    }
    const v = vec ? vector(env, k.out) : scalar(env, k.out);
    stmts.push(...take(env, 2), ...(accInfo?.stmts ?? []), ...take(env, 2.5));
    const flat = m.local.get(flatL, i32);
    if (vec) stmts.push(m.v128.store(0, 4, outAddr(m, flat, k.outDtype), v));
    else stmts.push(storeScalar(m, k.outDtype, flat, v));
    env.vaxis = saved;
    env.accLocal = undefined;
    return stmts;
  };

  const oL = L.add(i32);
  const rowStart = L.add(i32);
  const setFlat = () => m.local.set(flatL, m.i32.add(m.local.get(rowStart, i32), m.local.get(innerL, i32)));
  const main4 = outvec ? Math.floor(inner / 4) * 4 : 0;
  const rowPre = r > 1 ? decompose(m, env, k.shape, 0, r - 1, m.local.get(oL, i32), L) : [];
  const vecStmts = outvec ? element(true) : [];
  const tailStmts = element(false);
  const rowBody: X[] = [
    ...rowPre,
    m.local.set(rowStart, m.i32.mul(m.local.get(oL, i32), m.i32.const(inner))),
    ...take(env, 0),
    ...take(env, 1),
  ];
  if (outvec) rowBody.push(forLoop(m, innerL, m.i32.const(0), m.i32.const(main4), 4, [setFlat(), ...vecStmts]));
  rowBody.push(forLoop(m, innerL, m.i32.const(main4), m.i32.const(inner), 1, [setFlat(), ...tailStmts]));
  return [forLoop(m, oL, m.i32.const(0), m.i32.const(rows), 1, rowBody)];
}

// ---- templates (dot, signlinear) ---------------------------------------------------------------

/** f32 sum of the lanes of several v128 accumulators. */
function hsum(m: M, L: Locals, accs: number[]): X {
  let v = m.local.get(accs[0]!, v128);
  for (const a of accs.slice(1)) v = m.f32x4.add(v, m.local.get(a, v128));
  const t = L.add(v128);
  const lane = (l: number) => m.f32x4.extract_lane(m.local.get(t, v128), l);
  return m.block(null, [m.local.set(t, v), m.f32.add(m.f32.add(lane(0), lane(1)), m.f32.add(lane(2), lane(3)))], f32);
}

/** A template's epilogue: given the statements that set `acc` for the output at flat index
 *  `flat`, evaluates k.out there (axis locals only when it reads loop indices) and stores it. */
function epilogue(m: M, env: Env, k: Kernel, acc: number, flatL: number): (flat: X) => X[] {
  const r = k.shape.length;
  env.accLocal = { local: acc, vec: false };
  env.accDepth = 2;
  env.flat = r ? { local: flatL, shape: k.shape } : undefined;
  const axes = r && topo([k.out]).some((x) => x.op === 'idx') ? decompose(m, env, k.shape, 0, r, m.local.get(flatL, i32), env.L) : [];
  const v = scalar(env, k.out);
  const stmts = [...take(env, 0), ...take(env, 1), ...take(env, 2)];
  return (flat) => [m.local.set(flatL, flat), ...axes, ...stmts, storeScalar(m, k.outDtype, m.local.get(flatL, i32), v)];
}

// ---- dot ----------------------------------------------------------------------------------------

function dotBody(m: M, k: DotKernel, L: Locals, imports: Set<string>): X[] {
  const env = newEnv(m, k, L, imports, () => 2);
  const flatL = L.add(i32);
  const bm = L.add(i32);
  const n = L.add(i32);
  const kk = L.add(i32);
  const aRow = L.add(i32);
  const bRow = L.add(i32);
  const acc = L.add(f32);
  const vacc = [L.add(v128), L.add(v128), L.add(v128), L.add(v128)];
  const K = k.K;
  const K16 = Math.floor(K / 16) * 16;
  const K4 = Math.floor(K / 4) * 4;
  const aPtr = () => m.local.get(1 + k.a, i32);
  const bPtr = () => m.local.get(1 + k.b, i32);
  const ld = (row: number, off: number) => m.v128.load(off, 4, m.i32.add(m.local.get(row, i32), m.i32.shl(m.local.get(kk, i32), m.i32.const(2))));
  const fmaV = (j: number) =>
    m.local.set(vacc[j]!, m.f32x4.add(m.local.get(vacc[j]!, v128), m.f32x4.mul(ld(aRow, 16 * j), ld(bRow, 16 * j))));
  const store = epilogue(m, env, k, acc, flatL);
  const perOut: X[] = [
    m.local.set(bRow, m.i32.add(bPtr(), m.i32.mul(m.i32.add(m.i32.mul(m.i32.div_u(m.local.get(bm, i32), m.i32.const(k.M)), m.i32.const(k.N)), m.local.get(n, i32)), m.i32.const(4 * K)))),
    ...vacc.map((a) => m.local.set(a, m.f32x4.splat(m.f32.const(0)))),
    forLoop(m, kk, m.i32.const(0), m.i32.const(K16), 16, [fmaV(0), fmaV(1), fmaV(2), fmaV(3)]),
    forLoop(m, kk, m.i32.const(K16), m.i32.const(K4), 4, [fmaV(0)]),
    m.local.set(acc, hsum(m, L, vacc)),
    forLoop(m, kk, m.i32.const(K4), m.i32.const(K), 1, [
      m.local.set(
        acc,
        m.f32.add(
          m.local.get(acc, f32),
          m.f32.mul(
            m.f32.load(0, 4, m.i32.add(m.local.get(aRow, i32), m.i32.shl(m.local.get(kk, i32), m.i32.const(2)))),
            m.f32.load(0, 4, m.i32.add(m.local.get(bRow, i32), m.i32.shl(m.local.get(kk, i32), m.i32.const(2)))),
          ),
        ),
      ),
    ]),
    ...store(m.i32.add(m.i32.mul(m.local.get(bm, i32), m.i32.const(k.N)), m.local.get(n, i32))),
  ];
  return [
    forLoop(m, bm, m.i32.const(0), m.i32.const(k.B * k.M), 1, [
      m.local.set(aRow, m.i32.add(aPtr(), m.i32.mul(m.local.get(bm, i32), m.i32.const(4 * K)))),
      forLoop(m, n, m.i32.const(0), m.i32.const(k.N), 1, perOut),
    ]),
  ];
}

// ---- signlinear ---------------------------------------------------------------------------------

/** Σ_i ±xg_i over packed words. Method (measured in bench/): per 4 columns, the word is splat into
 *  4 lanes and multiplied by [2^(31-j) ...] so column j's bit lands in each lane's sign bit; masked
 *  to the sign bit and XORed into x⊙g, it flips the sign of exactly the −1 columns (5 SIMD ops per
 *  4 weights, no table to build). */
function signBody(m: M, k: SignKernel, L: Locals, imports: Set<string>): X[] {
  const env = newEnv(m, k, L, imports, () => 2);
  const W = Math.ceil(k.I / 32);
  const scratch = () => m.local.get(1 + k.ins.length, i32);
  const row = L.add(i32);
  const o = L.add(i32);
  const w = L.add(i32);
  const i = L.add(i32);
  const xRow = L.add(i32);
  const sRow = L.add(i32);
  const bits = L.add(v128);
  const acc = L.add(f32);
  const va = [L.add(v128), L.add(v128), L.add(v128), L.add(v128)];
  const mulC = [0, 1, 2, 3, 4, 5, 6, 7].map(() => L.add(v128));
  const flatL = L.add(i32);
  const xPtr = () => m.local.get(1 + k.x, i32);
  const gPtr = () => m.local.get(1 + k.g, i32);
  const sPtr = () => m.local.get(1 + k.s, i32);
  const I4 = Math.floor(k.I / 4) * 4;
  const addr = (base: X, idx: X) => m.i32.add(base, m.i32.shl(idx, m.i32.const(2)));
  // x ⊙ g into scratch, zero-padded to W·32
  const prologue = [
    m.local.set(xRow, m.i32.add(xPtr(), m.i32.mul(m.local.get(row, i32), m.i32.const(4 * k.I)))),
    forLoop(m, i, m.i32.const(0), m.i32.const(I4), 4, [
      m.v128.store(0, 4, addr(scratch(), m.local.get(i, i32)), m.f32x4.mul(m.v128.load(0, 4, addr(m.local.get(xRow, i32), m.local.get(i, i32))), m.v128.load(0, 4, addr(gPtr(), m.local.get(i, i32))))),
    ]),
    forLoop(m, i, m.i32.const(I4), m.i32.const(k.I), 1, [
      m.f32.store(0, 4, addr(scratch(), m.local.get(i, i32)), m.f32.mul(m.f32.load(0, 4, addr(m.local.get(xRow, i32), m.local.get(i, i32))), m.f32.load(0, 4, addr(gPtr(), m.local.get(i, i32))))),
    ]),
    forLoop(m, i, m.i32.const(k.I), m.i32.const(W * 32), 1, [m.f32.store(0, 4, addr(scratch(), m.local.get(i, i32)), m.f32.const(0))]),
  ];
  const signMask = () => m.i32x4.splat(m.i32.const(-2147483648));
  const group = (j: number) => {
    const sgn = m.v128.and(m.i32x4.mul(m.local.get(bits, v128), m.local.get(mulC[j]!, v128)), signMask());
    const xg = m.v128.load(16 * j, 16, m.i32.add(scratch(), m.i32.shl(m.local.get(w, i32), m.i32.const(7))));
    const a = va[j & 3]!;
    return m.local.set(a, m.f32x4.add(m.local.get(a, v128), m.v128.xor(xg, sgn)));
  };
  const store = epilogue(m, env, k, acc, flatL);
  const perOut: X[] = [
    m.local.set(sRow, m.i32.add(sPtr(), m.i32.mul(m.local.get(o, i32), m.i32.const(4 * W)))),
    ...va.map((a) => m.local.set(a, m.f32x4.splat(m.f32.const(0)))),
    forLoop(m, w, m.i32.const(0), m.i32.const(W), 1, [
      m.local.set(bits, m.i32x4.splat(m.i32.load(0, 4, m.i32.add(m.local.get(sRow, i32), m.i32.shl(m.local.get(w, i32), m.i32.const(2)))))),
      ...[0, 1, 2, 3, 4, 5, 6, 7].map(group),
    ]),
    m.local.set(acc, hsum(m, L, va)),
    ...store(m.i32.add(m.i32.mul(m.local.get(row, i32), m.i32.const(k.O)), m.local.get(o, i32))),
  ];
  const consts = mulC.map((l, j) => m.local.set(l, m.v128.const(Array.from(new Uint8Array(new Uint32Array([31, 30, 29, 28].map((e) => 2 ** (e - 4 * j) >>> 0)).buffer)))));
  return [...consts, forLoop(m, row, m.i32.const(0), m.i32.const(k.M), 1, [...prologue, forLoop(m, o, m.i32.const(0), m.i32.const(k.O), 1, perOut)])];
}
