// exp, sigmoid and tanh on f32x4 lanes inside a kernel, without calling the host (a host call per
// element costs ~5 ns, ~20 cycles). exp is Cephes' expf: x = n·ln2 + r with n = round(x / ln2),
// |r| ≤ ln2/2, e^r by a degree-7 polynomial, 2ⁿ from exponent bits; within 2 ulp of the correctly
// rounded value. Two forms: `fastExp4` for softmax weights (inputs ≤ 0 up to rounding; results
// below e^−86 flushed to 0, so no lane ever multiplies a subnormal) and `exp4` for the language's
// `exp` (every input: subnormal results, overflow to +inf, NaN kept). sigmoid and tanh are built on
// exp4 (tanh by Cephes' odd polynomial near 0, where 1 − 2/(e^{2x} + 1) would cancel). Loop kernels
// use these for vector lanes and, on a splat, for scalar elements too, so a value does not depend on
// its position in the vector loop.
import binaryen from 'binaryen';
import type { Locals } from './expr.ts';
import { madd, type M, type X } from './common.ts';

const { v128 } = binaryen;

/** 4 lanes of the constant v */
const splat = (m: M, v: number): X => m.f32x4.splat(m.f32.const(v));

const LOG2E = 1.4426950408889634;
/** fastExp4: lanes below give 0; a clamped input at LO gives e^LO ≥ 2^-124 (normal), so no lane ever
 *  computes a subnormal product (tens of cycles each on x86 without flush-to-zero) */
const LO = -86;
/** exp4: below, e^x rounds to 0 in f32; above, to +inf */
const UNDER = -103.972084;
const OVER = 88.7228394;
/** 1.5·2²³: adding it rounds to an integer held in the low mantissa bits */
const SHIFTER = 12582912;
const C1 = 0.693359375;
const C2 = -2.1219444e-4;
const P = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];

interface Lanes {
  stmts: X[];
  /** the v128 local holding the result */
  out: number;
}

/** e^r·2ⁿ parts shared by both exps: statements setting t (shifter sum), r, r² from the clamped
 *  input xc; returns e^r. The dependency chain is kept short (Estrin's scheme, FMA Cody–Waite): a
 *  loop of exps is bound by the latency the out-of-order window can hide, not by operation count. */
function expCore(m: M, L: Locals, xc: number, stmts: X[]): { er: X; t: number } {
  const [t, n, r, r2] = [0, 1, 2, 3].map(() => L.add(v128)) as [number, number, number, number];
  const g = (l: number) => m.local.get(l, v128);
  const c = (v: number) => splat(m, v);
  stmts.push(
    m.local.set(t, madd(m, g(xc), c(LOG2E), c(SHIFTER))),
    m.local.set(n, m.f32x4.sub(g(t), c(SHIFTER))),
    m.local.set(r, madd(m, g(n), c(-C2), madd(m, g(n), c(-C1), g(xc)))),
    m.local.set(r2, m.f32x4.mul(g(r), g(r))),
  );
  // q(r) = a0 + a1 r + … + a5 r⁵ = (a0 + a1 r) + r²(a2 + a3 r) + r⁴(a4 + a5 r); e^r = 1 + r + r² q(r)
  const [a5, a4, a3, a2, a1, a0] = P as [number, number, number, number, number, number];
  const pairAt = (lo: number, hi: number) => madd(m, c(hi), g(r), c(lo));
  const q = madd(m, m.f32x4.mul(g(r2), g(r2)), pairAt(a4, a5), madd(m, g(r2), pairAt(a2, a3), pairAt(a0, a1)));
  return { er: m.f32x4.add(madd(m, q, g(r2), g(r)), c(1)), t };
}

/** 2^k for integer-valued lanes k held in a shifter sum's low mantissa bits (k + 127 in 1..254) */
const pow2 = (m: M, bits: X): X => m.i32x4.add(m.i32x4.shl(bits, m.i32.const(23)), splat(m, 1));

/** exp of 4 lanes for softmax weights (x evaluated once): lanes below LO (−inf included) are 0,
 *  lanes above 88.37 are not special-cased (≈ 2.5e38). */
export function fastExp4(m: M, L: Locals, x: X): Lanes {
  const xv = L.add(v128);
  const xc = L.add(v128);
  const out = L.add(v128);
  const g = (l: number) => m.local.get(l, v128);
  const stmts: X[] = [
    m.local.set(xv, x),
    m.local.set(xc, m.f32x4.pmin(m.f32x4.pmax(g(xv), splat(m, LO)), splat(m, 88.37))),
  ];
  const { er, t } = expCore(m, L, xc, stmts);
  stmts.push(m.local.set(out, m.v128.andnot(m.f32x4.mul(er, pow2(m, g(t))), m.f32x4.lt(g(xv), splat(m, LO)))));
  return { stmts, out };
}

/** exp of 4 lanes, every input: 2ⁿ as 2^⌊n/2⌋·2^(n−⌊n/2⌋) (both factors normal for n in
 *  [−150, 128], so subnormal results and e^x up to FLT_MAX come out right), 0 below UNDER, +inf
 *  above OVER, NaN lanes NaN. */
export function exp4(m: M, L: Locals, x: X): Lanes {
  const xv = L.add(v128);
  const xc = L.add(v128);
  const out = L.add(v128);
  const g = (l: number) => m.local.get(l, v128);
  // pmax/pmin keep a NaN first operand, so NaN lanes stay NaN through the polynomial
  const stmts: X[] = [
    m.local.set(xv, x),
    m.local.set(xc, m.f32x4.pmin(m.f32x4.pmax(g(xv), splat(m, UNDER)), splat(m, OVER))),
  ];
  const { er, t } = expCore(m, L, xc, stmts);
  // n − SHIFTER's bits as an integer: t's low mantissa bits hold n + 2²² (two's complement below)
  const nInt = L.add(v128);
  const half = L.add(v128);
  stmts.push(
    m.local.set(nInt, m.i32x4.sub(g(t), splat(m, SHIFTER))),
    m.local.set(half, m.i32x4.shr_s(g(nInt), m.i32.const(1))),
  );
  const scaled = m.f32x4.mul(m.f32x4.mul(er, pow2(m, g(half))), pow2(m, m.i32x4.sub(g(nInt), g(half))));
  stmts.push(
    m.local.set(
      out,
      m.v128.bitselect(
        splat(m, Infinity),
        m.v128.andnot(scaled, m.f32x4.lt(g(xv), splat(m, UNDER))),
        m.f32x4.gt(g(xv), splat(m, OVER)),
      ),
    ),
  );
  return { stmts, out };
}

/** sigmoid from e = e^−|x| ∈ (0, 1] (never overflows): 1 / (1 + e) for x ≥ 0, e / (1 + e) below
 *  (so sigmoid(−100) is the subnormal it is, not 1/inf); NaN → NaN */
export function sigmoid4(m: M, L: Locals, x: X): Lanes {
  const xv = L.add(v128);
  const out = L.add(v128);
  const g = (l: number) => m.local.get(l, v128);
  const e = exp4(m, L, m.f32x4.neg(m.f32x4.abs(g(xv))));
  const num = m.v128.bitselect(g(e.out), splat(m, 1), m.f32x4.lt(g(xv), splat(m, 0)));
  return {
    stmts: [m.local.set(xv, x), ...e.stmts, m.local.set(out, m.f32x4.div(num, m.f32x4.add(splat(m, 1), g(e.out))))],
    out,
  };
}

/** Cephes tanhf: |x| < 0.625: x + x³·P(x²); else sign(x)·(1 − 2/(e^{2|x|} + 1)) (→ ±1; NaN kept) */
const TANH_P = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1];
export function tanh4(m: M, L: Locals, x: X): Lanes {
  const [xv, ax, z, out] = [0, 1, 2, 3].map(() => L.add(v128)) as [number, number, number, number];
  const g = (l: number) => m.local.get(l, v128);
  const c = (v: number) => splat(m, v);
  const stmts: X[] = [
    m.local.set(xv, x),
    m.local.set(ax, m.f32x4.abs(g(xv))),
    m.local.set(z, m.f32x4.mul(g(xv), g(xv))),
  ];
  let p: X = c(TANH_P[0]!);
  for (const k of TANH_P.slice(1)) p = madd(m, p, g(z), c(k));
  const small = madd(m, m.f32x4.mul(p, g(z)), g(xv), g(xv));
  const e = exp4(m, L, m.f32x4.add(g(ax), g(ax)));
  stmts.push(...e.stmts);
  const big = m.f32x4.sub(c(1), m.f32x4.div(c(2), m.f32x4.add(g(e.out), c(1))));
  // the sign of x onto the large-|x| form: (big's bits) | (x's sign bit)
  const signed = m.v128.or(big, m.v128.and(g(xv), c(-0)));
  stmts.push(m.local.set(out, m.v128.bitselect(small, signed, m.f32x4.lt(g(ax), c(0.625)))));
  return { stmts, out };
}
