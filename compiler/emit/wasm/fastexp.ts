// exp(x) on f32x4 lanes inside a kernel, without calling the host (a host call per element costs
// ~5 ns): Cephes' expf — x = n·ln2 + r with n = round(x / ln2), |r| ≤ ln2/2, a degree-6
// polynomial for e^r, 2^n from the exponent bits; within 2 ulp of the correctly rounded value on
// [−87.3, 88.3]. Used where the tolerance of the reference comparison allows (attention's softmax
// weights).
import binaryen from 'binaryen';
import type { Locals } from './expr.ts';
import { madd, type M, type VConsts, type X } from './common.ts';

const { v128 } = binaryen;

const LOG2E = 1.4426950408889634;
/** lanes below give 0: a clamped input at LO gives e^LO ≥ 2^-124 (normal), so no lane ever computes
 *  a subnormal product (tens of cycles each on x86 without flush-to-zero) */
const LO = -86;
/** 1.5·2²³: adding it rounds to an integer held in the low mantissa bits */
const SHIFTER = 12582912;
const C1 = 0.693359375;
const C2 = -2.1219444e-4;
const P = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];

/** Statements computing exp of 4 lanes into a new v128 local (x is evaluated once; constants from
 *  the kernel's pool K); returns [stmts, local]. Clamps by pmin/pmax; n = round(x·log2 e) by the
 *  1.5·2²³ shifter (its low mantissa bits are n), r = x − n·ln2 in two multiply-adds (Cody–Waite),
 *  e^r = 1 + r + r²·q(r) with q evaluated by Estrin's scheme, 2ⁿ by shifting n's bits into the
 *  exponent. Lanes below LO (−inf included) are 0; lanes above 88.37 are not special-cased
 *  (≈ 2.5e38). The dependency chain is kept short (13 operations, Horner's would be 19): a loop of
 *  exps is bound by the latency the out-of-order window can hide, not by its operation count. */
export function fastExp4(m: M, L: Locals, K: VConsts, x: X): { stmts: X[]; out: number } {
  const [xv, xc, t, n, r, r2, out] = [0, 1, 2, 3, 4, 5, 6].map(() => L.add(v128)) as number[];
  const g = (l: number) => m.local.get(l!, v128);
  const c = (v: number) => K.f32(v);
  const mul = (a: X, b: X) => m.f32x4.mul(a, b);
  // q(r) = a0 + a1 r + a2 r² + a3 r³ + a4 r⁴ + a5 r⁵ = (a0 + a1 r) + r²(a2 + a3 r) + r⁴(a4 + a5 r)
  const [a5, a4, a3, a2, a1, a0] = P as [number, number, number, number, number, number];
  const pairAt = (lo: number, hi: number) => madd(m, c(hi), g(r), c(lo));
  const q = madd(m, mul(g(r2), g(r2)), pairAt(a4, a5), madd(m, g(r2), pairAt(a2, a3), pairAt(a0, a1)));
  const er = m.f32x4.add(madd(m, q, g(r2), g(r)), c(1));
  // 2ⁿ: n's bits (the shifter's low mantissa) into the exponent field, plus the bits of 1.0
  const two = m.i32x4.add(m.i32x4.shl(g(t), m.i32.const(23)), c(1));
  const stmts: X[] = [
    m.local.set(xv, x),
    m.local.set(xc, m.f32x4.pmin(m.f32x4.pmax(g(xv), c(LO)), c(88.37))),
    m.local.set(t, madd(m, g(xc), c(LOG2E), c(SHIFTER))),
    m.local.set(n, m.f32x4.sub(g(t), c(SHIFTER))),
    m.local.set(r, madd(m, g(n), c(-C2), madd(m, g(n), c(-C1), g(xc)))),
    m.local.set(r2, mul(g(r), g(r))),
    m.local.set(out, m.v128.andnot(mul(er, two), m.f32x4.lt(g(xv), c(LO)))),
  ];
  return { stmts, out };
}
