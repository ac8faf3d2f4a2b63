// The signlinear template on packed sign words (32 columns per u32, bit 1 = −1): see signBody.
import binaryen from 'binaryen';
import type { SignKernel } from '../../kir/ir.ts';
import type { Locals } from './expr.ts';
import { epilogue, forLoop, hsum, newEnv, type M, type X } from './common.ts';

const { i32, f32, v128 } = binaryen;

/** Σ_i ±xg_i over packed words. Method (measured in bench/): per 4 columns, the word is splat into
 *  4 lanes and multiplied by [2^(31-j) ...] so column j's bit lands in each lane's sign bit; masked
 *  to the sign bit and XORed into x⊙g, it flips the sign of exactly the −1 columns (5 SIMD ops per
 *  4 weights, no table to build). */
export function signBody(m: M, k: SignKernel, L: Locals, imports: Set<string>): X[] {
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
