// exp(x) on f32x4 lanes inside a kernel, without calling the host (a host call per element costs
// ~5 ns): Cephes' expf — x = n·ln2 + r with n = round(x / ln2), |r| ≤ ln2/2, a degree-6
// polynomial for e^r, 2^n from the exponent bits; within 2 ulp of the correctly rounded value on
// [−87.3, 88.3]. Used where the tolerance of the reference comparison allows (attention's softmax
// weights).
import binaryen from 'binaryen';
import type { Locals } from './expr.ts';
import { madd, type M, type X } from './common.ts';

const { v128 } = binaryen;

const LOG2E = 1.4426950408889634;
/** 1.5·2²³: adding it rounds to an integer held in the low mantissa bits */
const SHIFTER = 12582912;
const C1 = 0.693359375;
const C2 = -2.1219444e-4;
const P = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];

/** Statements computing exp of 4 lanes into a new v128 local (x is evaluated once); returns
 *  [stmts, local]. Clamps by pmin/pmax; n = round(x·log2 e) by the 1.5·2²³ shifter (its low
 *  mantissa bits are n), 2ⁿ by shifting those bits into the exponent. Lanes below −87.33 (−inf
 *  included) are 0; lanes above 88.37 are not special-cased (≈ 2.5e38: the callers' inputs are
 *  ≤ 0 up to rounding). */
export function fastExp4(m: M, L: Locals, x: X): { stmts: X[]; out: number } {
  const xv = L.add(v128);
  const xc = L.add(v128);
  const t = L.add(v128);
  const n = L.add(v128);
  const r = L.add(v128);
  const out = L.add(v128);
  const g = (l: number) => m.local.get(l, v128);
  const c = (v: number) => m.f32x4.splat(m.f32.const(v));
  const mul = (a: X, b: X) => m.f32x4.mul(a, b);
  const add = (a: X, b: X) => m.f32x4.add(a, b);
  let p: X = c(P[0]!);
  for (const k of P.slice(1)) p = madd(m, p, g(r), c(k));
  const er = add(madd(m, mul(p, g(r)), g(r), g(r)), c(1));
  const two = m.i32x4.add(m.i32x4.shl(g(t), m.i32.const(23)), m.i32x4.splat(m.i32.const(127 << 23)));
  const stmts: X[] = [
    m.local.set(xv, x),
    m.local.set(xc, m.f32x4.pmin(m.f32x4.pmax(g(xv), c(-87.33)), c(88.37))),
    m.local.set(t, madd(m, g(xc), c(LOG2E), c(SHIFTER))),
    m.local.set(n, m.f32x4.sub(g(t), c(SHIFTER))),
    m.local.set(r, m.f32x4.sub(m.f32x4.sub(g(xc), mul(g(n), c(C1))), mul(g(n), c(C2)))),
    m.local.set(out, m.v128.bitselect(c(0), mul(er, two), m.f32x4.lt(g(xv), c(-87.33)))),
  ];
  return { stmts, out };
}
