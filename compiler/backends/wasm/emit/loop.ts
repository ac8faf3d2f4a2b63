// Loop kernels → the body of a binaryen function `(out, in0, ..., inN, scratch, lo, hi) -> ()`:
// byte addresses of the buffers and of this thread's scratch, and the range [lo, hi) of the
// kernel's parallel units this call computes (its parallelism; one thread passes [0, units)).
// Every kernel function has this signature; template kernels (compiler/templates/) write their own
// bodies. A loop kernel is a loop over the output rows, an inner loop over the last output axis (4
// lanes at a time, then a scalar tail), and the reduction loops inside; a reduction whose body
// reads its last axis contiguously is vectorised along that axis instead.
import binaryen from 'binaryen';
import type { MathImport } from '../../../../runtime/wasm/abi.ts';
import { affineOf, topo, type KNode, type LoopKernel } from '../../../kir/ir.ts';
import { type Locals, scalar, vector } from './expr.ts';
import {
  decompose,
  forLoop,
  forget,
  forgetAlong,
  newEnv,
  outAddr,
  paramsOf,
  storeScalar,
  SUM_CHUNK,
  summingLoop,
  take,
  type M,
  type X,
} from './common.ts';
import { columnSplit } from './abi.ts';
import { transposeBody, transposeForm } from './transpose.ts';
import { lanePattern, type LanePattern } from './lanes.ts';

const { i32, f32, v128 } = binaryen;

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
  const c =
    op === 'max'
      ? u
        ? m.i32.gt_u(ga(), gb())
        : m.i32.gt_s(ga(), gb())
      : u
        ? m.i32.lt_u(ga(), gb())
        : m.i32.lt_s(ga(), gb());
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

/** Whether every load in the body that moves along axis `ax` reads it contiguously: by its affine
 *  form, or by its lane pattern (a reshape's div/rem that amounts to + idx, compiler/backends/wasm/emit/lanes.ts). */
function contiguousAlong(body: KNode, ax: number, extents: number[]): boolean {
  const memo = new Map<KNode, LanePattern | undefined>();
  for (const n of topo([body])) {
    if (n.op !== 'load' || !(n.at.deps & (1 << ax))) continue;
    if (n.dtype === 'bool') return false;
    const a = affineOf(n.at);
    const affine = [...a.terms].every(
      ([t, c]) => !(t.deps & (1 << ax)) || (t.op === 'idx' && t.axis === ax && c === 1),
    );
    if (affine) continue;
    const p = lanePattern(n.at, ax, (x) => extents[x], memo);
    if (!p || p.c.some((x, l) => ((x - p.c[0]) | 0) !== l)) return false;
  }
  return true;
}

export function loopBody(m: M, k: LoopKernel, L: Locals, imports: Set<MathImport>): X[] {
  const tr = transposeForm(k);
  if (tr) return transposeBody(m, k, L, tr);
  const r = k.shape.length;
  const R = k.red?.shape.length ?? 0;
  const depthOf = (a: number) => (a < r - 1 ? 1 : a === r - 1 ? 2 : a < r + R - 1 ? 3 : 4);
  const env = newEnv(m, k, L, imports, depthOf);
  const inner = r ? k.shape[r - 1]! : 1;
  const flatL = L.add(i32);
  const innerL = L.add(i32);
  if (r) env.axis.set(r - 1, innerL);
  env.flat = r ? { local: flatL, shape: k.shape } : undefined;
  const red = k.red;
  const redLast = red ? red.shape[R - 1]! : 0;
  const redRows = red ? red.shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
  const rInner = L.add(i32);
  if (red) env.axis.set(r + R - 1, rInner);
  const redvec = !!red && red.op !== 'argmax' && redLast >= 4 && contiguousAlong(red.body, r + R - 1, env.extents);
  const outvec = !redvec && r > 0 && inner >= 4 && k.outDtype !== 'bool' && (!red || red.op !== 'argmax');

  /** Reduction loops for one element; returns statements and the local holding the scalar/vector acc. */
  const reduction = (vecOut: boolean): { stmts: X[]; acc: number; accs?: number[] } => {
    const red = k.red!;
    const d = red.body.dtype;
    const ty = d === 'f32' ? f32 : i32;
    const stmts: X[] = [];
    const rOuter = L.add(i32);
    // long f32 sums run as two-level summation (summingLoop), over rows and along the last axis
    const sumF32 = red.op === 'sum' && d === 'f32';
    const redOuterLoop = (inside: X[], accs: number[] = [], vec = false): X[] => {
      if (R === 1) return inside;
      const body = [
        ...decompose(m, env, red.shape, 0, R - 1, m.local.get(rOuter, i32), L, r),
        ...take(env, 3),
        ...inside,
      ];
      const rowChunk = Math.max(1, Math.floor(SUM_CHUNK / Math.max(1, redLast)));
      return summingLoop(m, L, rOuter, 0, redRows, 1, body, sumF32 ? accs : [], vec, rowChunk);
    };
    if (red.op === 'argmax') {
      const best = L.add(ty);
      const bi = L.add(i32);
      const seen = L.add(i32);
      const pos = L.add(i32);
      stmts.push(
        m.local.set(best, identConst(m, 'max', d)),
        m.local.set(bi, m.i32.const(0)),
        m.local.set(seen, m.i32.const(0)),
        m.local.set(pos, m.i32.const(0)),
      );
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
        m.if(
          m.i32.or(m.i32.eqz(m.local.get(seen, i32)), better),
          m.block(null, [
            m.local.set(best, gv()),
            m.local.set(bi, m.local.get(pos, i32)),
            m.local.set(seen, m.i32.const(1)),
          ]),
        ),
        m.local.set(pos, m.i32.add(m.local.get(pos, i32), m.i32.const(1))),
      ];
      const innerLoop = forLoop(m, rInner, m.i32.const(0), m.i32.const(redLast), 1, [...take(env, 4), ...upd]);
      stmts.push(...redOuterLoop([innerLoop]));
      return { stmts, acc: bi };
    }
    const op = red.op;
    const initV = () => (d === 'f32' ? m.f32x4.splat(identConst(m, op, d)) : m.i32x4.splat(identConst(m, op, d)));
    const upd = (a: number, b: X) => m.local.set(a, combineVec(m, op, d, m.local.get(a, v128), b));
    if (vecOut) {
      // one accumulator per column block, its body evaluated at that block's columns
      const accs = blocks.map(() => L.add(v128));
      const upds = blocks.map((b, q) => {
        useBlock(b);
        stmts.push(m.local.set(accs[q]!, initV()));
        return upd(accs[q]!, vector(env, red.body));
      });
      const inner = summingLoop(m, L, rInner, 0, redLast, 1, [...take(env, 4), ...upds], sumF32 ? accs : [], true);
      stmts.push(...redOuterLoop(inner, accs, true));
      return { stmts, acc: accs[0]!, accs };
    }
    const acc = L.add(ty);
    stmts.push(m.local.set(acc, identConst(m, op, d)));
    let innerStmts: X[];
    if (redvec) {
      const saved = env.vaxis;
      const ax = r + R - 1;
      env.vaxis = ax;
      // 16 elements per iteration into 4 accumulators (independent chains; one chain is bound by
      // the add's latency), then 4 at a time into the first, then the scalar tail
      const U = redLast >= 16 ? 4 : 1;
      const accs = Array.from({ length: U }, () => L.add(v128));
      const at = [rInner, ...accs.slice(1).map(() => L.add(i32))];
      const bodies = at.map((l) => {
        env.axis.set(ax, l);
        forgetAlong(env, k, ax);
        return vector(env, red.body);
      });
      env.axis.set(ax, rInner);
      const ustmts = [
        ...at.slice(1).map((l, q) => m.local.set(l, m.i32.add(m.local.get(rInner, i32), m.i32.const(4 * (q + 1))))),
        ...take(env, 4),
        ...bodies.map((b, q) => upd(accs[q]!, b)),
      ];
      forgetAlong(env, k, ax);
      const b = vector(env, red.body);
      const vstmts = take(env, 4);
      env.vaxis = saved;
      forget(env, k, 4);
      const sb = scalar(env, red.body);
      const sstmts = take(env, 4);
      const main16 = U > 1 ? Math.floor(redLast / 16) * 16 : 0;
      const main4 = Math.floor(redLast / 4) * 4;
      const horiz = (x: number) => {
        const g = () => m.local.get(x, v128);
        const lane = (l: number) => (d === 'f32' ? m.f32x4.extract_lane(g(), l) : m.i32x4.extract_lane(g(), l));
        return combine(m, op, d, combine(m, op, d, lane(0), lane(1), L), combine(m, op, d, lane(2), lane(3), L), L);
      };
      const g = (a: number) => m.local.get(accs[a]!, v128);
      innerStmts = [
        ...accs.map((a) => m.local.set(a, initV())),
        ...(U > 1 ? summingLoop(m, L, rInner, 0, main16, 16, ustmts, sumF32 ? accs : [], true) : []),
        forLoop(m, rInner, m.i32.const(main16), m.i32.const(main4), 4, [...vstmts, upd(accs[0]!, b)]),
        ...(U > 1 ? [upd(accs[0]!, g(1)), upd(accs[2]!, g(3)), upd(accs[0]!, g(2))] : []),
        m.local.set(acc, combine(m, op, d, m.local.get(acc, ty), horiz(accs[0]!), L)),
        forLoop(m, rInner, m.i32.const(main4), m.i32.const(redLast), 1, [
          ...sstmts,
          m.local.set(acc, combine(m, op, d, m.local.get(acc, ty), sb, L)),
        ]),
      ];
    } else {
      const b = scalar(env, red.body);
      const body = [...take(env, 4), m.local.set(acc, combine(m, op, d, m.local.get(acc, ty), b, L))];
      innerStmts = summingLoop(m, L, rInner, 0, redLast, 1, body, sumF32 ? [acc] : [], false);
    }
    stmts.push(...redOuterLoop(innerStmts, [acc]));
    return { stmts, acc };
  };
  // reduction axes r..r+R-2 get their locals from the outer reduction index (decompose)
  for (let j = 0; j < R - 1; j++) env.axis.set(r + j, L.add(i32));

  // Column blocks: a vector element computes `blocks.length` groups of 4 outputs, block q at
  // columns innerL + 4q (its own axis and flat-index locals). A reduction over rows (not along its
  // last axis) takes 4 blocks per pass: 4 independent accumulator chains, and each row's 64 bytes
  // of a column block read once, not once per 4 columns.
  type Block = { col: number; flat: number };
  let blocks: Block[] = [{ col: innerL, flat: flatL }];
  /** evaluates nodes at block b's columns from here on (nodes along the last axis recomputed) */
  const useBlock = (b: Block) => {
    env.axis.set(r - 1, b.col);
    if (env.flat) env.flat.local = b.flat;
    forgetAlong(env, k, r - 1);
  };

  /** The code for one output element (vector of 4 or scalar), or for each column block. */
  const element = (vec: boolean, nBlocks = 1): X[] => {
    const saved = env.vaxis;
    env.vaxis = vec ? r - 1 : undefined;
    forget(env, k, 2);
    blocks = [{ col: innerL, flat: flatL }];
    const stmts: X[] = [];
    for (let q = 1; q < nBlocks; q++) {
      const b = { col: L.add(i32), flat: L.add(i32) };
      blocks.push(b);
      stmts.push(
        m.local.set(b.col, m.i32.add(m.local.get(innerL, i32), m.i32.const(4 * q))),
        m.local.set(b.flat, m.i32.add(m.local.get(flatL, i32), m.i32.const(4 * q))),
      );
    }
    let accInfo: { stmts: X[]; acc: number; accs?: number[] } | undefined;
    if (red) accInfo = reduction(vec);
    const values = blocks.map((b, q) => {
      useBlock(b);
      if (accInfo) env.accLocal = { local: accInfo.accs?.[q] ?? accInfo.acc, vec };
      forget(env, k, env.accDepth);
      return vec ? vector(env, k.out) : scalar(env, k.out);
    });
    stmts.push(...take(env, 2), ...(accInfo?.stmts ?? []), ...take(env, 2.5));
    blocks.forEach((b, q) => {
      const flat = m.local.get(b.flat, i32);
      if (vec) stmts.push(m.v128.store(0, 4, outAddr(m, flat, k.outDtype), values[q]!));
      else stmts.push(storeScalar(m, k.outDtype, flat, values[q]!));
    });
    useBlock(blocks[0]!);
    blocks = [blocks[0]!];
    env.vaxis = saved;
    env.accLocal = undefined;
    return stmts;
  };

  const oL = L.add(i32);
  const rowStart = L.add(i32);
  const setFlat = () => m.local.set(flatL, m.i32.add(m.local.get(rowStart, i32), m.local.get(innerL, i32)));
  const main4 = outvec ? Math.floor(inner / 4) * 4 : 0;
  const rowPre = r > 1 ? decompose(m, env, k.shape, 0, r - 1, m.local.get(oL, i32), L) : [];
  // column blocks of 4 vectors for reductions over rows
  const COLS = 4;
  const blocked = outvec && !!red && inner >= 4 * COLS;
  const blockStmts = blocked ? element(true, COLS) : [];
  const vecStmts = outvec ? element(true) : [];
  const tailStmts = element(false);
  const rowBody: X[] = [
    ...rowPre,
    m.local.set(rowStart, m.i32.mul(m.local.get(oL, i32), m.i32.const(inner))),
    ...take(env, 0),
    ...take(env, 1),
  ];
  const P = paramsOf(k);
  const get = (l: number) => m.local.get(l, i32);
  if (columnSplit(k)) {
    // the units are this row's elements [lo, hi), lo a multiple of 4: lanes of 4, then the tail
    const end4 = L.add(i32);
    rowBody.push(m.local.set(end4, m.i32.sub(get(P.hi), m.i32.and(m.i32.sub(get(P.hi), get(P.lo)), m.i32.const(3)))));
    rowBody.push(m.local.set(innerL, get(P.lo)));
    if (blocked) {
      const end16 = L.add(i32);
      const span = m.i32.sub(get(end4), get(P.lo));
      rowBody.push(m.local.set(end16, m.i32.sub(get(end4), m.i32.rem_u(span, m.i32.const(4 * COLS)))));
      rowBody.push(forLoop(m, innerL, get(innerL), get(end16), 4 * COLS, [setFlat(), ...blockStmts]));
    }
    if (outvec) rowBody.push(forLoop(m, innerL, get(innerL), get(end4), 4, [setFlat(), ...vecStmts]));
    rowBody.push(forLoop(m, innerL, get(innerL), get(P.hi), 1, [setFlat(), ...tailStmts]));
    return [forLoop(m, oL, m.i32.const(0), m.i32.const(1), 1, rowBody)];
  }
  const main16 = blocked ? Math.floor(inner / (4 * COLS)) * 4 * COLS : 0;
  if (blocked)
    rowBody.push(forLoop(m, innerL, m.i32.const(0), m.i32.const(main16), 4 * COLS, [setFlat(), ...blockStmts]));
  if (outvec) rowBody.push(forLoop(m, innerL, m.i32.const(main16), m.i32.const(main4), 4, [setFlat(), ...vecStmts]));
  rowBody.push(forLoop(m, innerL, m.i32.const(main4), m.i32.const(inner), 1, [setFlat(), ...tailStmts]));
  return [forLoop(m, oL, get(P.lo), get(P.hi), 1, rowBody)];
}
