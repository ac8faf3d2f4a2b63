// The dot template: out[b, m, n] = Σ_k a[b, m, k] · b[b, n, k] (A·Bᵀ layout with both operands
// contiguous along k, see compiler/fuse/prepare.ts), then the kernel's elementwise epilogue.
//
// Phase 1 computes the raw dot products into the output buffer (into scratch when the output is
// bool): register blocks of MR rows of A × NR rows of B (8 v128 accumulators, multiply-adds fused
// where relaxed SIMD is on; each row's 4 values loaded once per k step and shared by the block),
// a 1×NR block for the leftover rows of A, 1×1 with 4 accumulators for the leftover rows of B;
// a block's four sums per row of A leave by a 4×4 transpose-add as one v128 store. Rows of A go in
// chunks of MC (≈ 16 KB, in L1 while this thread's blocks of B pass over them; 256 KB in L2 when
// B's k-chunk is too large for L2, so B streams from memory fewer times); with K > KC the
// k range is cut into chunks of KC as well, partial sums accumulating in the output. Phase 2
// applies the epilogue, 4 outputs at a time (skipped when it is the identity).
import binaryen from 'binaryen';
import type { MathImport } from '../../../runtime/wasm/abi.ts';
import type { DotKernel } from '../../kir/ir.ts';
import type { Locals } from '../../backends/wasm/emit/expr.ts';
import { epilogue, forLoop, hsum, madd, newEnv, type M, type X } from '../../backends/wasm/emit/common.ts';
import { paramsOf } from '../../backends/wasm/emit/abi.ts';
import { laneBytes } from '../../backends/wasm/emit/lanes.ts';
import { byteOffset, elemShift, loadQ8, loadQ8x4, loadStored, loadStored4 } from '../../backends/wasm/emit/stored.ts';

const { i32, f32, v128 } = binaryen;

/** dot register blocks: MR rows of A × NR rows of B; a thread's rows of B start at a multiple of NR */
const MR = 2;
export const NR = 4;

/** Which rows a thread takes: of B (whole blocks of NR), or, for one batch with more rows of A
 *  than of B (training's 2048 rows against widths of 64–512), of A (blocks of 4): each thread
 *  then streams half of A past all of B instead of all of A past half of B. */
export function dotSplit(k: DotKernel): 'M' | 'N' {
  return k.B === 1 && k.M > k.N && k.M >= 16 ? 'M' : 'N';
}

/** dot scratch: the raw products of a bool-valued output. */
export function dotScratch(k: DotKernel): number {
  return k.outDtype === 'bool' ? k.B * k.M * k.N * 4 : 0;
}

const KC = 1024;
/** bytes of A's rows a chunk keeps in L1 (measured on 2048×512·K64: 8 KB and 32 KB no better) */
const L1_ROWS_BYTES = 16384;
/** B's k-chunk above this (half a 2 MB L2) comes from memory on every chunk of A: A's chunks
 * then grow to L2_ROWS_BYTES so B streams fewer times (64×4096·K4096: 77.9 → 62.1 ms, 1 thread) */
const B_STREAMED_BYTES = 1 << 20;
const L2_ROWS_BYTES = 1 << 18;

export function dotBody(m: M, k: DotKernel, L: Locals, imports: Set<MathImport>): X[] {
  const env = newEnv(m, k, L, imports, () => 2);
  const { B, M: Mr, N, K } = k;
  const get = (l: number, t = i32) => m.local.get(l, t);
  const c = (v: number) => m.i32.const(v);
  const identity = k.out.op === 'acc' && k.outDtype === 'f32';
  const P = paramsOf(k);
  const lo = () => get(P.lo);
  const hi = () => get(P.hi);
  const rawBase = () => (k.outDtype === 'bool' ? get(P.scratch) : get(0));
  const nEnd4 = L.add(i32);
  const nTail0 = L.add(i32);
  const chunked = Mr >= MR && K > KC;
  const kc = L.add(i32);
  const kEnd = L.add(i32);
  const kEnd4 = L.add(i32);
  const kk = L.add(i32);
  const bi = L.add(i32);
  const mi = L.add(i32);
  const ni = L.add(i32);
  const aRows = [0, 1].map(() => L.add(i32));
  const bRows = [0, 1, 2, 3].map(() => L.add(i32));
  const accs = Array.from({ length: 8 }, () => L.add(v128));
  const sum = L.add(f32);
  const rawAt = L.add(i32);

  // an operand held at a stored precision is read 2 bytes an element, converted as it is loaded
  const bufOf = (row: number) => k.ins[bRows.includes(row) ? k.b : k.a];
  const elemAt = (row: number) => m.i32.add(get(row), m.i32.shl(get(kk), c(elemShift(bufOf(row)))));
  /** 4 values of a row from element kk + off/4 (off in f32 bytes) */
  const ldU = (row: number, off: number) => {
    const s = bufOf(row)?.stored;
    if (s === 'q8_0') return loadQ8x4(m, L, get(row), m.i32.add(get(kk), c(off / 4)));
    return s ? loadStored4(m, L, s, off / 2, elemAt(row)) : m.v128.load(off, 4, elemAt(row));
  };
  const ld = (row: number) => ldU(row, 0);
  const ldS = (row: number) => {
    const s = bufOf(row)?.stored;
    if (s === 'q8_0') return loadQ8(m, L, get(row), get(kk));
    return s ? loadStored(m, L, s, 0, elemAt(row)) : m.f32.load(0, 4, elemAt(row));
  };
  const macc = (a: number, x: X, y: X) => m.local.set(a, madd(m, x, y, get(a, v128)));

  /** stores the raw dot(s) of row mi + i of A and rows ni + j.. of B of this k chunk into
   *  raw[b, m, n..]: one f32, or (v128) 4 of them; later k chunks add to what is there */
  const emitAt = (i: number, j: number, value: X, v128Out: boolean): X => {
    const at = m.i32.add(
      rawBase(),
      m.i32.shl(
        m.i32.add(
          m.i32.mul(m.i32.add(m.i32.mul(get(bi), c(Mr)), m.i32.add(get(mi), c(i))), c(N)),
          m.i32.add(get(ni), c(j)),
        ),
        c(2),
      ),
    );
    const store = (o: number, al: number, ptr: X, v: X) =>
      v128Out ? m.v128.store(o, al, ptr, v) : m.f32.store(o, al, ptr, v);
    if (!chunked) return store(0, 4, at, value);
    // kc = 0: nothing there yet
    const prev = v128Out
      ? m.v128.bitselect(
          m.f32x4.splat(m.f32.const(0)),
          m.v128.load(0, 4, get(rawAt)),
          m.i32x4.splat(m.i32.sub(c(0), m.i32.eqz(get(kc)))),
        )
      : m.select(m.i32.eqz(get(kc)), m.f32.const(0), m.f32.load(0, 4, get(rawAt)));
    return m.block(null, [
      m.local.set(rawAt, at),
      store(0, 4, get(rawAt), v128Out ? m.f32x4.add(prev, value) : m.f32.add(prev, value)),
    ]);
  };
  const emitOut = (i: number, j: number, value: X): X => emitAt(i, j, value, false);
  const emitOut4 = (i: number, value: X): X => emitAt(i, 0, value, true);

  /** an mr × nr block over k in [kc, kEnd): u accumulators per pair (k step 4u), then step 4, then scalar */
  const block = (mr: number, nr: number, u: number): X[] => {
    const pairs: [number, number][] = [];
    for (let i = 0; i < mr; i++) for (let j = 0; j < nr; j++) pairs.push([i, j]);
    const acc = (p: number, q: number) => accs[p * u + q]!;
    // each row's 4 values loaded once per step into a local, then used by every pair
    const va = Array.from({ length: mr }, () => L.add(v128));
    const vb = Array.from({ length: nr }, () => L.add(v128));
    const loads = (q: number, load: (row: number, off: number) => X): X[] => [
      ...va.map((l, i) => m.local.set(l, load(aRows[i]!, 16 * q))),
      ...vb.map((l, j) => m.local.set(l, load(bRows[j]!, 16 * q))),
    ];
    // u k steps of 4 per iteration of the main loop, step q into accumulator set q (unrolling
    // further with the same accumulators measured slower on the training shapes)
    const stepU: X[] = [];
    for (let q = 0; q < u; q++) {
      stepU.push(...loads(q, ldU));
      pairs.forEach(([i, j], p) => stepU.push(macc(acc(p, q), get(va[i]!, v128), get(vb[j]!, v128))));
    }
    const body: X[] = [
      ...pairs.flatMap((_, p) =>
        Array.from({ length: u }, (_, q) => m.local.set(acc(p, q), m.f32x4.splat(m.f32.const(0)))),
      ),
      m.local.set(kk, get(kc)),
    ];
    if (u > 1) {
      const kEndU = L.add(i32);
      body.push(m.local.set(kEndU, m.i32.sub(get(kEnd), m.i32.rem_u(m.i32.sub(get(kEnd), get(kc)), c(4 * u)))));
      body.push(whileLoop(m, kk, get(kEndU), 4 * u, stepU));
    }
    body.push(
      whileLoop(m, kk, get(kEnd4), 4, [
        ...loads(0, (row) => ld(row)),
        ...pairs.map(([i, j], p) => macc(acc(p, 0), get(va[i]!, v128), get(vb[j]!, v128))),
      ]),
    );
    if (nr === 4 && K % 4 === 0) {
      // per row of A: the 4 accumulators' lane sums as one vector (a 4×4 transpose-add), stored
      // as the 4 consecutive outputs (ni..ni+3)
      for (let i = 0; i < mr; i++) {
        const tot = [0, 1, 2, 3].map((j) => {
          const t = L.add(v128);
          const parts = Array.from({ length: u }, (_, q) => get(acc(i * nr + j, q), v128));
          body.push(
            m.local.set(
              t,
              parts.reduce((x, y) => m.f32x4.add(x, y)),
            ),
          );
          return t;
        });
        const lanes = (x: number, y: number, sel: number[]) =>
          m.i8x16.shuffle(x === -1 ? get(tot[0]!, v128) : get(x, v128), get(y, v128), laneBytes(sel));
        const s01 = L.add(v128);
        const s23 = L.add(v128);
        body.push(
          m.local.set(s01, m.f32x4.add(lanes(tot[0]!, tot[1]!, [0, 4, 1, 5]), lanes(tot[0]!, tot[1]!, [2, 6, 3, 7]))),
          m.local.set(s23, m.f32x4.add(lanes(tot[2]!, tot[3]!, [0, 4, 1, 5]), lanes(tot[2]!, tot[3]!, [2, 6, 3, 7]))),
          emitOut4(i, m.f32x4.add(lanes(s01, s23, [0, 1, 4, 5]), lanes(s01, s23, [2, 3, 6, 7]))),
        );
      }
      return body;
    }
    pairs.forEach(([i, j], p) => {
      const s: X[] = [
        m.local.set(
          sum,
          hsum(
            m,
            L,
            Array.from({ length: u }, (_, q) => acc(p, q)),
          ),
        ),
      ];
      if (K % 4)
        s.push(
          forLoop(m, kk, get(kEnd4), get(kEnd), 1, [
            m.local.set(sum, m.f32.add(get(sum, f32), m.f32.mul(ldS(aRows[i]!), ldS(bRows[j]!)))),
          ]),
        );
      s.push(emitOut(i, j, get(sum, f32)));
      body.push(...s);
    });
    return body;
  };

  const rowA = (i: number) =>
    m.local.set(
      aRows[i]!,
      m.i32.add(
        get(1 + k.a),
        byteOffset(m, k.ins[k.a], m.i32.mul(m.i32.add(m.i32.mul(get(bi), c(Mr)), m.i32.add(get(mi), c(i))), c(K))),
      ),
    );
  const rowB = (j: number) =>
    m.local.set(
      bRows[j]!,
      m.i32.add(
        get(1 + k.b),
        byteOffset(m, k.ins[k.b], m.i32.mul(m.i32.add(m.i32.mul(get(bi), c(N)), m.i32.add(get(ni), c(j))), c(K))),
      ),
    );
  const M2 = Math.floor(Mr / MR) * MR;
  const N4 = Math.floor(N / NR) * NR;
  const rowsOfA = (mr: number, nr: number, u: number): X[] => [
    ...Array.from({ length: mr }, (_, i) => rowA(i)),
    ...block(mr, nr, u),
  ];
  // rows of A in chunks of MC (MC·Kc·4 bytes ≈ 16 KB stay in L1 while this thread's blocks of B
  // pass over them; a block of B, NR·Kc·4 bytes, stays in L1 while a chunk's rows pass over it)
  const Kc = Math.min(K, KC);
  const rowsBytes = N * Kc * 4 > B_STREAMED_BYTES ? L2_ROWS_BYTES : L1_ROWS_BYTES;
  const MC = Math.max(MR, Math.floor(rowsBytes / (Kc * 4) / MR) * MR);
  const mc = L.add(i32);
  const mEnd = L.add(i32);
  // this thread's rows of A [mLo, mHi) and of B [nLo, nHi) (one of them split, see dotSplit)
  const splitM = dotSplit(k) === 'M';
  const mLo = () => (splitM ? lo() : c(0));
  const mHi = () => (splitM ? hi() : c(Mr));
  const nLo = () => (splitM ? c(0) : lo());
  const nHi = () => (splitM ? c(N) : hi());
  const m2 = L.add(i32); // the end of the rows of A in MR blocks
  const mChunks: X[] =
    splitM || M2
      ? [
          forLoop(m, mc, mLo(), get(m2), MC, [
            m.local.set(
              mEnd,
              m.select(m.i32.lt_s(m.i32.add(get(mc), c(MC)), get(m2)), m.i32.add(get(mc), c(MC)), get(m2)),
            ),
            forLoop(m, ni, nLo(), get(nEnd4), NR, [
              ...Array.from({ length: NR }, (_, j) => rowB(j)),
              forLoop(m, mi, get(mc), get(mEnd), MR, rowsOfA(MR, NR, 1)),
            ]),
          ]),
        ]
      : [];
  const mTail: X[] =
    splitM || Mr > M2
      ? [
          forLoop(m, ni, nLo(), get(nEnd4), NR, [
            ...Array.from({ length: NR }, (_, j) => rowB(j)),
            forLoop(m, mi, get(m2), mHi(), 1, rowsOfA(1, NR, 2)),
          ]),
        ]
      : [];
  const nTail: X[] = [rowB(0), forLoop(m, mi, mLo(), mHi(), 1, rowsOfA(1, 1, 4))];
  const perChunk: X[] = [
    m.local.set(
      kEnd,
      chunked ? m.select(m.i32.lt_s(m.i32.add(get(kc), c(KC)), c(K)), m.i32.add(get(kc), c(KC)), c(K)) : c(K),
    ),
    m.local.set(kEnd4, m.i32.sub(get(kEnd), m.i32.rem_u(m.i32.sub(get(kEnd), get(kc)), c(4)))),
    // rows of B [nLo, nHi), nLo a multiple of NR; register blocks up to min(nHi, N4)
    m.local.set(nEnd4, m.select(m.i32.lt_s(nHi(), c(N4)), nHi(), c(N4))),
    m.local.set(nTail0, m.select(m.i32.gt_s(nLo(), c(N4)), nLo(), c(N4))),
    m.local.set(m2, m.i32.sub(mHi(), m.i32.and(m.i32.sub(mHi(), mLo()), c(MR - 1)))),
    ...(N4 ? [...mChunks, ...mTail] : []),
    ...(N > N4 ? [forLoop(m, ni, get(nTail0), nHi(), 1, nTail)] : []),
  ];
  const phase1 = forLoop(m, bi, c(0), c(B), 1, [
    chunked ? forLoop(m, kc, c(0), c(K), KC, perChunk) : m.block(null, [m.local.set(kc, c(0)), ...perChunk]),
  ]);
  if (identity) return [phase1];
  // phase 2: the epilogue over every output, reading its raw dot product: 4 outputs of a row at a
  // time (f32 outputs), then the row's scalar tail
  const acc = L.add(f32);
  const accV = L.add(v128);
  const flatL = L.add(i32);
  const flatV = L.add(i32);
  const row = L.add(i32);
  const nv = L.add(i32);
  const store = epilogue(m, env, k, acc, flatL);
  const vec = k.outDtype === 'f32' && N >= 4;
  const storeV = vec
    ? epilogue(
        m,
        newEnv(m, k, L, imports, () => 2),
        k,
        accV,
        flatV,
        true,
      )
    : undefined;
  const at = (flat: X) => m.i32.add(rawBase(), m.i32.shl(flat, c(2)));
  const flat = () => m.i32.add(m.i32.mul(get(row), c(N)), get(ni));
  const phase2 = forLoop(m, row, mLo(), splitM ? mHi() : c(B * Mr), 1, [
    ...(storeV
      ? [
          m.local.set(nv, m.i32.sub(nHi(), m.i32.and(m.i32.sub(nHi(), nLo()), c(3)))),
          forLoop(m, ni, nLo(), get(nv), 4, [m.local.set(accV, m.v128.load(0, 4, at(flat()))), ...storeV(flat())]),
        ]
      : [m.local.set(ni, nLo())]),
    forLoop(m, ni, get(ni), nHi(), 1, [m.local.set(acc, m.f32.load(0, 4, at(flat()))), ...store(flat())]),
  ]);
  return [phase1, phase2];
}

/** while (i < end) { body; i += step } — i keeps its current value (continues a previous loop) */
function whileLoop(m: M, i: number, end: X, step: number, body: X[]): X {
  return forLoop(m, i, m.local.get(i, i32), end, step, body);
}
