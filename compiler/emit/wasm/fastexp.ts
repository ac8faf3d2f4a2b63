// exp(x) in f32 inside a kernel, without calling the host (a host call per element costs ~5 ns):
// Cephes' expf — x = n·ln2 + r with n = round(x / ln2), |r| ≤ ln2/2, a degree-6 polynomial for
// e^r, 2^n from the exponent bits. Within 2 ulp of the correctly rounded value on [−87.3, 88.3];
// below −87.33 (−inf included) it is 0, above 88.37 it is +inf. Used where the tolerance of the
// reference comparison allows (attention's softmax weights).
import binaryen from 'binaryen';
import type { Locals } from './expr.ts';
import type { M, X } from './common.ts';

const { f32 } = binaryen;

const LOG2E = 1.4426950408889634;
/** 1.5·2²³: adding it rounds to an integer held in the low mantissa bits */
const SHIFTER = 12582912;
const C1 = 0.693359375;
const C2 = -2.1219444e-4;
const P = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];

/** Statements computing exp(x) into a new f32 local (x is evaluated once); returns [stmts, local].
 *  Written with cheap instructions only: clamps as compare-and-select (Wasm's f32.min/max carry
 *  NaN and ±0 rules that cost a branchy sequence), n = round(x·log2 e) by the 1.5·2²³ shifter
 *  (its low mantissa bits are n) instead of nearest + a saturating truncation, and 2ⁿ by shifting
 *  those bits into the exponent. */
export function fastExp(m: M, L: Locals, x: X): { stmts: X[]; out: number } {
  const xv = L.add(f32);
  const xc = L.add(f32);
  const t = L.add(f32);
  const n = L.add(f32);
  const r = L.add(f32);
  const out = L.add(f32);
  const g = (l: number) => m.local.get(l, f32);
  const c = (v: number) => m.f32.const(v);
  let p: X = c(P[0]!);
  for (const k of P.slice(1)) p = m.f32.add(m.f32.mul(p, g(r)), c(k));
  // e^r = 1 + r + r²·p(r)
  const er = m.f32.add(m.f32.add(m.f32.mul(m.f32.mul(p, g(r)), g(r)), g(r)), c(1));
  const two = m.f32.reinterpret(m.i32.add(m.i32.shl(m.i32.reinterpret(g(t)), m.i32.const(23)), m.i32.const(127 << 23)));
  const stmts: X[] = [
    m.local.set(xv, x),
    m.local.set(
      xc,
      m.select(m.f32.gt(g(xv), c(88.37)), c(88.37), m.select(m.f32.lt(g(xv), c(-87.33)), c(-87.33), g(xv))),
    ),
    m.local.set(t, m.f32.add(m.f32.mul(g(xc), c(LOG2E)), c(SHIFTER))),
    m.local.set(n, m.f32.sub(g(t), c(SHIFTER))),
    m.local.set(r, m.f32.sub(m.f32.sub(g(xc), m.f32.mul(g(n), c(C1))), m.f32.mul(g(n), c(C2)))),
    m.local.set(
      out,
      m.select(m.f32.lt(g(xv), c(-87.33)), c(0), m.select(m.f32.gt(g(xv), c(88.37)), c(Infinity), m.f32.mul(er, two))),
    ),
  ];
  return { stmts, out };
}

/** exp on 4 lanes, the same algorithm as fastExp (clamps by pmin/pmax); lanes below −87.33
 *  (−inf included) are 0, lanes above 88.37 are not special-cased (≈ 2.5e38: the callers' inputs
 *  are ≤ 0 up to rounding). */
export function fastExp4(m: M, L: Locals, x: X): { stmts: X[]; out: number } {
  const { v128 } = binaryen;
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
  for (const k of P.slice(1)) p = add(mul(p, g(r)), c(k));
  const er = add(add(mul(mul(p, g(r)), g(r)), g(r)), c(1));
  const two = m.i32x4.add(m.i32x4.shl(g(t), m.i32.const(23)), m.i32x4.splat(m.i32.const(127 << 23)));
  const stmts: X[] = [
    m.local.set(xv, x),
    m.local.set(xc, m.f32x4.pmin(m.f32x4.pmax(g(xv), c(-87.33)), c(88.37))),
    m.local.set(t, add(mul(g(xc), c(LOG2E)), c(SHIFTER))),
    m.local.set(n, m.f32x4.sub(g(t), c(SHIFTER))),
    m.local.set(r, m.f32x4.sub(m.f32x4.sub(g(xc), mul(g(n), c(C1))), mul(g(n), c(C2)))),
    m.local.set(out, m.v128.bitselect(c(0), mul(er, two), m.f32x4.lt(g(xv), c(-87.33)))),
  ];
  return { stmts, out };
}
