// The dot template: each output is a K-long dot product of two contiguous rows (A·Bᵀ layout, see
// compiler/fuse/prepare.ts), 4 v128 accumulators, the kernel's elementwise epilogue per output.
import binaryen from 'binaryen';
import type { DotKernel } from '../../kir/ir.ts';
import type { Locals } from './expr.ts';
import { epilogue, forLoop, hsum, newEnv, type M, type X } from './common.ts';

const { i32, f32, v128 } = binaryen;

export function dotBody(m: M, k: DotKernel, L: Locals, imports: Set<string>): X[] {
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

