// Loads of f32 values held at a stored precision (runtime/core/stored.ts), converted in registers:
// bfloat16 is the high half of an f32 (a shift); an IEEE half is rebased by integer ops and one
// multiply by 2^112 (exact for normal and subnormal halves alike), ±inf and NaN selected apart;
// a Q8_0 element is its block's f16 scale times its int8. Scalar and 4-lane forms; `addr` is the
// element's byte address (a Q8_0 element's is found from its index).
import binaryen from 'binaryen';
import type { KBuf } from '../../../kir/ir.ts';
import type { Stored } from '../../../../runtime/core/tensor.ts';
import type { Locals } from './expr.ts';

type M = binaryen.Module;
type X = binaryen.ExpressionRef;
const { i32, v128 } = binaryen;

/** log2 of an element's bytes in a kernel input (f32, i32, u32: 4; bf16, f16: 2; not for Q8_0). */
export const elemShift = (b: KBuf | undefined, bytes = 4): number => (b?.stored ? 1 : Math.log2(bytes));

/** The byte offset of element `elems` (an i32 expression; for Q8_0 a multiple of 32: a block's
 *  start) in a kernel input. */
export function byteOffset(m: M, b: KBuf | undefined, elems: X): X {
  return b?.stored === 'q8_0'
    ? m.i32.mul(m.i32.shr_u(elems, m.i32.const(5)), m.i32.const(34))
    : m.i32.shl(elems, m.i32.const(elemShift(b)));
}

/** Element `j` (an i32 expression) of a Q8_0 input at `ptr`: its block's f16 scale times its int8. */
export function loadQ8(m: M, L: Locals, ptr: X, j: X): X {
  const jl = L.add(i32);
  const blk = L.add(i32);
  const get = (l: number) => m.local.get(l, i32);
  return m.block(
    null,
    [
      m.local.set(jl, j),
      m.local.set(blk, m.i32.add(ptr, m.i32.mul(m.i32.shr_u(get(jl), m.i32.const(5)), m.i32.const(34)))),
      m.f32.mul(
        loadStored(m, L, 'f16', 0, get(blk)),
        m.f32.convert_s.i32(m.i32.load8_s(2, 1, m.i32.add(get(blk), m.i32.and(get(jl), m.i32.const(31))))),
      ),
    ],
    binaryen.f32,
  );
}

/** Elements k..k+3 of a Q8_0 row at `row` (k a multiple of 4: the four lie in one block). */
export function loadQ8x4(m: M, L: Locals, row: X, k: X): X {
  const kl = L.add(i32);
  const blk = L.add(i32);
  const get = (l: number) => m.local.get(l, i32);
  const q = m.v128.load32_zero(2, 1, m.i32.add(get(blk), m.i32.and(get(kl), m.i32.const(31))));
  return m.block(
    null,
    [
      m.local.set(kl, k),
      m.local.set(blk, m.i32.add(row, m.i32.mul(m.i32.shr_u(get(kl), m.i32.const(5)), m.i32.const(34)))),
      m.f32x4.mul(
        m.f32x4.convert_i32x4_s(m.i32x4.extend_low_i16x8_s(m.i16x8.extend_low_i8x16_s(q))),
        m.f32x4.splat(loadStored(m, L, 'f16', 0, get(blk))),
      ),
    ],
    v128,
  );
}

/** 2^112 as an f32: a half's exponent bias (15) moved to an f32's (127) */
const REBIAS = 5.192296858534828e33;

/** One stored element as an f32. */
export function loadStored(m: M, L: Locals, s: Stored, offset: number, addr: X): X {
  const h = m.i32.load16_u(offset, 2, addr);
  if (s === 'bf16') return m.f32.reinterpret(m.i32.shl(h, m.i32.const(16)));
  const w = L.add(i32);
  const e = L.add(i32); // the exponent and mantissa bits, moved to an f32's places
  const get = (l: number) => m.local.get(l, i32);
  const mag = m.select(
    m.i32.ge_u(get(e), m.i32.const(0x7c00 << 13)),
    m.i32.or(get(e), m.i32.const(0x7f800000)),
    m.i32.reinterpret(m.f32.mul(m.f32.reinterpret(get(e)), m.f32.const(REBIAS))),
  );
  return m.block(
    null,
    [
      m.local.set(w, h),
      m.local.set(e, m.i32.shl(m.i32.and(get(w), m.i32.const(0x7fff)), m.i32.const(13))),
      m.f32.reinterpret(m.i32.or(mag, m.i32.shl(m.i32.and(get(w), m.i32.const(0x8000)), m.i32.const(16)))),
    ],
    binaryen.f32,
  );
}

/** Four consecutive stored elements as an f32x4. */
export function loadStored4(m: M, L: Locals, s: Stored, offset: number, addr: X): X {
  const h = m.v128.load16x4_u(offset, 2, addr);
  const sh = (x: X, n: number) => m.i32x4.shl(x, m.i32.const(n));
  if (s === 'bf16') return sh(h, 16);
  const w = L.add(v128);
  const e = L.add(v128);
  const get = (l: number) => m.local.get(l, v128);
  const splat = (n: number) => m.i32x4.splat(m.i32.const(n));
  const mag = m.v128.bitselect(
    m.v128.or(get(e), splat(0x7f800000)),
    m.f32x4.mul(get(e), m.f32x4.splat(m.f32.const(REBIAS))),
    m.i32x4.ge_u(get(e), splat(0x7c00 << 13)),
  );
  return m.block(
    null,
    [
      m.local.set(w, h),
      m.local.set(e, sh(m.v128.and(get(w), splat(0x7fff)), 13)),
      m.v128.or(mag, sh(m.v128.and(get(w), splat(0x8000)), 16)),
    ],
    v128,
  );
}
