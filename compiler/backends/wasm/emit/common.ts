// Helpers shared by the Wasm kernel emitters (loop kernels, dot, signlinear): loops, the
// expression environment, output stores, flat-index decomposition, horizontal sums, epilogues.
import binaryen from 'binaryen';
import type { MathImport } from '../../../../runtime/wasm/abi.ts';
import { kernelRoots, topo, type Kernel, type KNode } from '../../../kir/ir.ts';
import { Locals, scalar, vector, type Env, ELEM_BYTES } from './expr.ts';
import type { Parallelism } from '../../../../runtime/plan/plan.ts';
import { usesAcc } from '../../../kir/ir.ts';
import { InternalError } from '../../../syntax/diag.ts';

export { paramsOf } from './abi.ts';

export type M = binaryen.Module;

/** What the Wasm emitter needs of a template kernel (compiler/templates/). */
export interface WasmTemplate<K extends Kernel> {
  /** the kernel function's body (calling convention: compiler/backends/wasm/emit/loop.ts) */
  body(m: M, k: K, L: Locals, imports: Set<MathImport>): X[];
  /** scratch bytes per thread */
  scratch(k: K): number;
  /** how its work splits across threads */
  parallelism(k: K): Parallelism;
  /** what besides the kernel decides its code (part of the cache key) */
  variant?(k: K): string;
}
export type X = binaryen.ExpressionRef;
const { i32, f32, v128 } = binaryen;

/** a·b + c on f32x4 lanes: relaxed SIMD's madd (one fused multiply-add where the CPU has FMA,
 *  else rounded twice, as the spec allows) when the module enables relaxed SIMD, else mul then add.
 *  binaryen.js has no wrapper for SIMD ternaries: this calls its C API. */
export function madd(m: M, a: X, b: X, c: X): X {
  if (m.getFeatures() & binaryen.Features.RelaxedSIMD) {
    const api = binaryen as unknown as { _BinaryenSIMDTernary: (...a: number[]) => X; RelaxedMaddVecF32x4: number };
    return api._BinaryenSIMDTernary((m as unknown as { ptr: number }).ptr, api.RelaxedMaddVecF32x4, a, b, c);
  }
  return m.f32x4.add(m.f32x4.mul(a, b), c);
}

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

/** Indices one chunk of a long f32 sum spans before its sums move to the f64 running totals. */
export const SUM_CHUNK = 4096;

/**
 * A summing loop `for i in [start, end) by step { body }` over more than SUM_CHUNK indices whose
 * f32 accumulators `accs` (scalars, or f32x4 with `vec`) run chunk by chunk: each chunk starts them
 * at zero, and its sums are added to running totals in f64 (per lane), which go back into the
 * accumulators once at the end. A plain f32 loop stops growing once its total is 2^24 times the
 * addend — a sum over 2^31 − 1 ones returned 2^28 (16 chains × 2^24), silently — and loses 1e-4
 * on 10^9-sized totals; the f64 totals keep long sums within an f32 rounding of exact. The
 * accumulators' values on entry are carried in; the chunk counter is an i32 of its own, so no
 * index passes 2^31. Loops of at most `chunk` indices (SUM_CHUNK; fewer for a loop over rows,
 * so that a chunk still spans about SUM_CHUNK elements) are plain loops.
 */
export function summingLoop(
  m: M,
  L: { add(t: binaryen.Type): number },
  i: number,
  start: number,
  end: number,
  step: number,
  body: X[],
  accs: number[],
  vec: boolean,
  chunk = SUM_CHUNK,
): X[] {
  if (end - start <= chunk || !accs.length) return [forLoop(m, i, m.i32.const(start), m.i32.const(end), step, body)];
  const f64 = binaryen.f64;
  const c = L.add(i32);
  const cEnd = L.add(i32);
  const n = Math.ceil((end - start) / chunk);
  const chunkStart = () => m.i32.add(m.i32.const(start), m.i32.mul(m.local.get(c, i32), m.i32.const(chunk)));
  // per accumulator: one f64 total, or two f64x2 (lanes 0–1, 2–3) for an f32x4
  const tots = accs.map(() => (vec ? [L.add(v128), L.add(v128)] : [L.add(f64)]));
  const HI = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
  const LO2 = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
  const get = (l: number, t: binaryen.Type) => m.local.get(l, t);
  const init = (a: number, q: number): X[] =>
    vec
      ? [
          m.local.set(tots[q]![0]!, m.f64x2.promote_low_f32x4(get(a, v128))),
          m.local.set(tots[q]![1]!, m.f64x2.promote_low_f32x4(m.i8x16.shuffle(get(a, v128), get(a, v128), HI))),
        ]
      : [m.local.set(tots[q]![0]!, m.f64.promote(get(a, f32)))];
  const addIn = (a: number, q: number): X[] =>
    vec
      ? [
          m.local.set(tots[q]![0]!, m.f64x2.add(get(tots[q]![0]!, v128), m.f64x2.promote_low_f32x4(get(a, v128)))),
          m.local.set(
            tots[q]![1]!,
            m.f64x2.add(
              get(tots[q]![1]!, v128),
              m.f64x2.promote_low_f32x4(m.i8x16.shuffle(get(a, v128), get(a, v128), HI)),
            ),
          ),
        ]
      : [m.local.set(tots[q]![0]!, m.f64.add(get(tots[q]![0]!, f64), m.f64.promote(get(a, f32))))];
  const out = (a: number, q: number): X =>
    vec
      ? m.local.set(
          a,
          m.i8x16.shuffle(
            m.f32x4.demote_f64x2_zero(get(tots[q]![0]!, v128)),
            m.f32x4.demote_f64x2_zero(get(tots[q]![1]!, v128)),
            LO2,
          ),
        )
      : m.local.set(a, m.f32.demote(get(tots[q]![0]!, f64)));
  const zero = () => (vec ? m.f32x4.splat(m.f32.const(0)) : m.f32.const(0));
  return [
    ...accs.flatMap(init),
    forLoop(m, c, m.i32.const(0), m.i32.const(n), 1, [
      ...accs.map((a) => m.local.set(a, zero())),
      // the last chunk ends at `end` (the sum past it, which may wrap, is not selected)
      m.local.set(
        cEnd,
        m.select(
          m.i32.eq(m.local.get(c, i32), m.i32.const(n - 1)),
          m.i32.const(end),
          m.i32.add(chunkStart(), m.i32.const(chunk)),
        ),
      ),
      forLoop(m, i, chunkStart(), m.local.get(cEnd, i32), step, body),
      ...accs.flatMap(addIn),
    ]),
    ...accs.map(out),
  ];
}

export function newEnv(m: M, k: Kernel, L: Locals, imports: Set<MathImport>, depthOf: (a: number) => number): Env {
  return {
    m,
    L,
    axis: new Map(),
    ptr: (b) => m.local.get(1 + b, i32),
    ins: k.ins,
    depthOf,
    accDepth: 2.5,
    lists: new Map(),
    extents: [...k.shape, ...(k.kind === 'loop' && k.red ? k.red.shape : [])],
    lanes: new Map(),
    sc: new Map(),
    vc: new Map(),
    imports,
  };
}

/** Takes (and clears) the statements of one depth. */
export function take(env: Env, d: number): X[] {
  const l = env.lists.get(d) ?? [];
  env.lists.delete(d);
  return l;
}

/** Forgets memoised nodes of depth >= d (they are recomputed in the next code version). */
export function forget(env: Env, k: Kernel, d: number): void {
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

/** Forgets memoised nodes that depend on loop axis `axis` (or on acc). */
export function forgetAlong(env: Env, k: Kernel, axis: number): void {
  for (const n of topo(kernelRoots(k)))
    if (n.deps & (1 << axis) || usesAcc(n)) {
      env.sc.delete(n);
      env.vc.delete(n);
    }
}

export const outAddr = (m: M, flat: X, d: KNode['dtype']) =>
  m.i32.add(m.local.get(0, i32), m.i32.shl(flat, m.i32.const(Math.log2(ELEM_BYTES[d]))));

export function storeScalar(m: M, d: KNode['dtype'], flat: X, v: X): X {
  const a = outAddr(m, flat, d);
  return d === 'f32' ? m.f32.store(0, 4, a, v) : d === 'bool' ? m.i32.store8(0, 1, a, v) : m.i32.store(0, 4, a, v);
}

/** Sets the locals of output axes lo..hi-1 from a row-major flat index over shape[lo..hi). */
export function decompose(
  m: M,
  env: Env,
  shape: number[],
  lo: number,
  hi: number,
  flat: X,
  L: Locals,
  axisOffset = 0,
): X[] {
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

/** f32 sum of the lanes of several v128 accumulators. */
export function hsum(m: M, L: Locals, accs: number[]): X {
  let v = m.local.get(accs[0]!, v128);
  for (const a of accs.slice(1)) v = m.f32x4.add(v, m.local.get(a, v128));
  const t = L.add(v128);
  const lane = (l: number) => m.f32x4.extract_lane(m.local.get(t, v128), l);
  return m.block(null, [m.local.set(t, v), m.f32.add(m.f32.add(lane(0), lane(1)), m.f32.add(lane(2), lane(3)))], f32);
}

/** A template's epilogue: given the statements that set `acc` for the output at flat index
 *  `flat`, evaluates k.out there (axis locals only when it reads loop indices) and stores it.
 *  With `vec` (an f32 output), acc is a v128 local holding the raw values of the 4 outputs at
 *  flat..flat+3, consecutive along the last axis (one row), and the 4 results are stored. */
export function epilogue(m: M, env: Env, k: Kernel, acc: number, flatL: number, vec = false): (flat: X) => X[] {
  const r = k.shape.length;
  if (vec && (!r || k.outDtype !== 'f32'))
    throw new InternalError('wasm: a vector epilogue needs an f32 tensor output');
  env.accLocal = { local: acc, vec };
  env.accDepth = 2;
  env.flat = r ? { local: flatL, shape: k.shape } : undefined;
  if (vec) env.vaxis = r - 1;
  const axes =
    r && (vec || topo([k.out]).some((x) => x.op === 'idx'))
      ? decompose(m, env, k.shape, 0, r, m.local.get(flatL, i32), env.L)
      : [];
  const v = vec ? vector(env, k.out) : scalar(env, k.out);
  const stmts = [...take(env, 0), ...take(env, 1), ...take(env, 2)];
  const flatAt = () => m.local.get(flatL, i32);
  return (flat) => [
    m.local.set(flatL, flat),
    ...axes,
    ...stmts,
    vec
      ? m.v128.store(0, 4, m.i32.add(m.local.get(0, i32), m.i32.shl(flatAt(), m.i32.const(2))), v)
      : storeScalar(m, k.outDtype, flatAt(), v),
  ];
}
