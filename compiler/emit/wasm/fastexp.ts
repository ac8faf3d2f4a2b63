// exp(x) in f32 inside a kernel, without calling the host (a host call per element costs ~5 ns):
// Cephes' expf — x = n·ln2 + r with n = round(x / ln2), |r| ≤ ln2/2, a degree-6 polynomial for
// e^r, 2^n from the exponent bits. Within 2 ulp of the correctly rounded value on [−87.3, 88.3];
// below −87.33 (−inf included) it is 0, above 88.37 it is +inf. Used where the tolerance of the
// reference comparison allows (attention's softmax weights).
import binaryen from 'binaryen';
import type { Locals } from './expr.ts';
import type { M, X } from './common.ts';

const { f32, i32 } = binaryen;

const LOG2E = 1.4426950408889634;
const C1 = 0.693359375;
const C2 = -2.1219444e-4;
const P = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];

/** Statements computing exp(x) into a new f32 local (x is evaluated once); returns [stmts, local]. */
export function fastExp(m: M, L: Locals, x: X): { stmts: X[]; out: number } {
  const xv = L.add(f32);
  const n = L.add(f32);
  const r = L.add(f32);
  const out = L.add(f32);
  const g = (l: number) => m.local.get(l, f32);
  const c = (v: number) => m.f32.const(v);
  let p: X = c(P[0]!);
  for (const k of P.slice(1)) p = m.f32.add(m.f32.mul(p, g(r)), c(k));
  // e^r = 1 + r + r²·p(r)
  const er = m.f32.add(m.f32.add(m.f32.mul(m.f32.mul(p, g(r)), g(r)), g(r)), c(1));
  const two = m.f32.reinterpret(m.i32.shl(m.i32.add(m.i32.trunc_s_sat.f32(g(n)), m.i32.const(127)), m.i32.const(23)));
  const stmts: X[] = [
    m.local.set(xv, x),
    m.local.set(n, m.f32.nearest(m.f32.mul(m.f32.min(m.f32.max(g(xv), c(-87.33)), c(88.37)), c(LOG2E)))),
    m.local.set(
      r,
      m.f32.sub(
        m.f32.sub(m.f32.min(m.f32.max(g(xv), c(-87.33)), c(88.37)), m.f32.mul(g(n), c(C1))),
        m.f32.mul(g(n), c(C2)),
      ),
    ),
    m.local.set(
      out,
      m.select(m.f32.lt(g(xv), c(-87.33)), c(0), m.select(m.f32.gt(g(xv), c(88.37)), c(Infinity), m.f32.mul(er, two))),
    ),
  ];
  void i32;
  return { stmts, out };
}
