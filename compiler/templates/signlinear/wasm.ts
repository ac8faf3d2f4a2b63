// The signlinear template on packed sign words (32 columns per u32, bit j of word w = column
// 32w + j, bit 1 = −1). Two methods, both sums of ±(x⊙g) in f32 (they differ in the order of
// additions, and lut forms its partial sums by subtraction from a group's sum, or — where that could
// overflow or meet ∞ − ∞ — from the signed terms themselves); `npm run bench` measures both and
// SIGN_METHOD says which one is used.
//
//   lut: T-MAC / bitnet.cpp style. For every group of 8 columns a table of the 256 partial sums
//     Σ ±xg over the group (one per sign byte) is built once per row of x; an output row is then
//     one f32 load + add per 8 weights (the byte of the weight row is the table index). Tables for
//     a tile of 8 groups (8 KB) stay in L1 while every output row consumes its 8 bytes of the
//     tile; the partial sums of the O outputs accumulate in scratch. Building a table costs 64
//     SIMD ops per 8 columns, amortised over the O output rows. The tile size matters most: with
//     16 groups (16 KB of tables next to 16 KB of partial sums and the streaming weights, in
//     Zen 4's 32 KB L1) 4096² ran at 10.5 G weights/s, with 8 at 16.7–17.5, with 4 at 12.2.
//   xor: per 4 columns, the sign bits are moved into each f32 lane's sign bit and XORed into x⊙g
//     (5 SIMD ops per 4 weights, no table); x⊙g sits in scratch permuted so that group j of a word
//     needs the same shift in every lane (no variable shifts in Wasm SIMD).
//
// Measured on the 2-core Zen 4 (npm run bench, 4096×4096 decode, one thread): lut 16.7–17.5 G
// weights/s, xor 10.4–12.9 (it executes ~5 SIMD ops per 4 weights, near this core's issue rate);
// lut is the default. See docs/architecture.md ("signlinear kernels").
//
// blocksignlinear (one scale per block of a row: llama.cpp's Q1_0 and ternary types) is lut with
// tiles that never straddle a block: a tile's sum for an output row is scaled by that row's block
// scale before it joins the row's partial sum (one load and multiply per 64 weights); x is not
// scaled by g.
import binaryen from 'binaryen';
import type { MathImport } from '../../../runtime/wasm/abi.ts';
import type { BlockSignKernel, SignKernel } from '../../kir/ir.ts';
import type { Locals } from '../../backends/wasm/emit/expr.ts';
import { epilogue, forLoop, hsum, newEnv, type M, type X } from '../../backends/wasm/emit/common.ts';
import { paramsOf } from '../../backends/wasm/emit/abi.ts';

export type SignMethod = 'lut' | 'xor';
export const SIGN_METHODS: readonly SignMethod[] = ['lut', 'xor'];

/** The signlinear method the emitter uses (OBT_SIGNLINEAR=xor|lut overrides it for measurements). */
export function signMethod(): SignMethod {
  const v = process.env.OBT_SIGNLINEAR;
  return v === 'xor' || v === 'lut' ? v : 'lut';
}

/** groups of 8 columns per signlinear LUT tile (a multiple of 4, at most 16): 8 tables × 1 KB stay in L1 */
const SIGN_TG = 8;
/** either kernel over packed signs */
export type AnySign = SignKernel | BlockSignKernel;
/** a tile of a blocked kernel lies within one block: blocks of 32 columns (4 groups) take tiles of 4 */
const tileGroups = (k: AnySign) => (k.kind === 'blocksignlinear' && (k.I / k.K / 8) % SIGN_TG !== 0 ? 4 : SIGN_TG);
const align16 = (n: number) => Math.ceil(n / 16) * 16;

/** signlinear scratch: x⊙g of one row (zero-padded to whole words), then (lut) the O partial sums
 *  and the tables of one tile. */
export function signScratch(
  k: AnySign,
  method: SignMethod = signMethod(),
): { xg: number; y: number; tab: number; bytes: number } {
  const W = Math.ceil(k.I / 32);
  const xg = 0;
  const y = W * 128;
  const tab = y + align16(k.O * 4);
  return method === 'lut' || k.kind === 'blocksignlinear'
    ? { xg, y, tab, bytes: tab + SIGN_TG * 1024 }
    : { xg, y, tab: y, bytes: y };
}

const { i32, f32, v128 } = binaryen;

export function signBody(
  m: M,
  k: AnySign,
  L: Locals,
  imports: Set<MathImport>,
  method: SignMethod = signMethod(),
): X[] {
  return method === 'lut' || k.kind === 'blocksignlinear' ? signLut(m, k, L, imports) : signXor(m, k, L, imports);
}

interface Common {
  W: number;
  row: number;
  o: number;
  acc: number;
  flatL: number;
  scratch: () => X;
  sPtr: () => X;
  /** this call's range of output features */
  lo: () => X;
  hi: () => X;
  /** x ⊙ g of row `row` into scratch (permuted for xor), zero-padded to W·32 columns */
  prologue: X[];
  /** stores the output (row, o) from `acc` through the kernel's epilogue */
  store: X[];
}

function common(m: M, k: AnySign, L: Locals, imports: Set<MathImport>, permute: boolean): Common {
  const env = newEnv(m, k, L, imports, () => 2);
  const W = Math.ceil(k.I / 32);
  const P = paramsOf(k);
  const scratch = () => m.local.get(P.scratch, i32);
  const row = L.add(i32);
  const o = L.add(i32);
  const i = L.add(i32);
  const xRow = L.add(i32);
  const acc = L.add(f32);
  const flatL = L.add(i32);
  const g = k.kind === 'signlinear' ? k.g : undefined;
  const gPtr = () => m.local.get(1 + g!, i32);
  const I4 = Math.floor(k.I / 4) * 4;
  const at = (base: X, idx: X) => m.i32.add(base, m.i32.shl(idx, m.i32.const(2)));
  const xi = () => m.local.get(i, i32);
  // xor: column c = 32w + 8l + j sits at scratch float 32w + 4j + l
  const dst = (idx: () => X) =>
    permute
      ? at(
          scratch(),
          m.i32.or(
            m.i32.and(idx(), m.i32.const(~31)),
            m.i32.or(
              m.i32.shl(m.i32.and(idx(), m.i32.const(7)), m.i32.const(2)),
              m.i32.and(m.i32.shr_u(idx(), m.i32.const(3)), m.i32.const(3)),
            ),
          ),
        )
      : at(scratch(), idx());
  const xAt = (idx: () => X) => m.f32.load(0, 4, at(m.local.get(xRow, i32), idx()));
  const xgAt = (idx: () => X) =>
    g === undefined ? xAt(idx) : m.f32.mul(xAt(idx), m.f32.load(0, 4, at(gPtr(), idx())));
  const xv = m.v128.load(0, 4, at(m.local.get(xRow, i32), xi()));
  const prologue = [
    m.local.set(xRow, m.i32.add(m.local.get(1 + k.x, i32), m.i32.mul(m.local.get(row, i32), m.i32.const(4 * k.I)))),
    permute
      ? forLoop(m, i, m.i32.const(0), m.i32.const(k.I), 1, [m.f32.store(0, 4, dst(xi), xgAt(xi))])
      : forLoop(m, i, m.i32.const(0), m.i32.const(I4), 4, [
          m.v128.store(
            0,
            4,
            at(scratch(), xi()),
            g === undefined ? xv : m.f32x4.mul(xv, m.v128.load(0, 4, at(gPtr(), xi()))),
          ),
        ]),
    ...(permute
      ? []
      : [forLoop(m, i, m.i32.const(I4), m.i32.const(k.I), 1, [m.f32.store(0, 4, at(scratch(), xi()), xgAt(xi))])]),
    forLoop(m, i, m.i32.const(k.I), m.i32.const(W * 32), 1, [m.f32.store(0, 4, dst(xi), m.f32.const(0))]),
  ];
  const store = epilogue(
    m,
    env,
    k,
    acc,
    flatL,
  )(m.i32.add(m.i32.mul(m.local.get(row, i32), m.i32.const(k.O)), m.local.get(o, i32)));
  return {
    W,
    row,
    o,
    acc,
    flatL,
    scratch,
    sPtr: () => m.local.get(1 + k.s, i32),
    lo: () => m.local.get(P.lo, i32),
    hi: () => m.local.get(P.hi, i32),
    prologue,
    store,
  };
}

function signXor(m: M, k: SignKernel, L: Locals, imports: Set<MathImport>): X[] {
  const c = common(m, k, L, imports, true);
  const { W, o } = c;
  const w = L.add(i32);
  const sRow = L.add(i32);
  const u = L.add(v128);
  const mask = L.add(v128);
  const va = [L.add(v128), L.add(v128), L.add(v128), L.add(v128)];
  // lane l holds the word shifted left by 24 − 8l: bit 8l + j is at 24 + j, so group j needs
  // (u << (7 − j)) & signbit in every lane
  const spread = m.v128.const(Array.from(new Uint8Array(new Uint32Array([2 ** 24, 2 ** 16, 2 ** 8, 1]).buffer)));
  const group = (j: number) => {
    const shifted = j === 7 ? m.local.get(u, v128) : m.i32x4.shl(m.local.get(u, v128), m.i32.const(7 - j));
    const sgn = m.v128.and(shifted, m.local.get(mask, v128));
    const xg = m.v128.load(16 * j, 16, m.i32.add(c.scratch(), m.i32.shl(m.local.get(w, i32), m.i32.const(7))));
    const a = va[j & 3]!;
    return m.local.set(a, m.f32x4.add(m.local.get(a, v128), m.v128.xor(xg, sgn)));
  };
  const perOut: X[] = [
    m.local.set(sRow, m.i32.add(c.sPtr(), m.i32.mul(m.local.get(o, i32), m.i32.const(4 * W)))),
    ...va.map((a) => m.local.set(a, m.f32x4.splat(m.f32.const(0)))),
    forLoop(m, w, m.i32.const(0), m.i32.const(W), 1, [
      m.local.set(
        u,
        m.i32x4.mul(
          m.i32x4.splat(
            m.i32.load(0, 4, m.i32.add(m.local.get(sRow, i32), m.i32.shl(m.local.get(w, i32), m.i32.const(2)))),
          ),
          spread,
        ),
      ),
      ...[0, 1, 2, 3, 4, 5, 6, 7].map(group),
    ]),
    m.local.set(c.acc, hsum(m, L, va)),
    ...c.store,
  ];
  return [
    m.local.set(mask, m.i32x4.splat(m.i32.const(-2147483648))),
    forLoop(m, c.row, m.i32.const(0), m.i32.const(k.M), 1, [...c.prologue, forLoop(m, o, c.lo(), c.hi(), 1, perOut)]),
  ];
}

function signLut(m: M, k: AnySign, L: Locals, imports: Set<MathImport>): X[] {
  const c = common(m, k, L, imports, false);
  const { W, o } = c;
  const TG = tileGroups(k);
  const blocked = k.kind === 'blocksignlinear' ? k : undefined;
  const dp = L.add(i32); // blocked: the scale of (o, the tile's block)
  const G = 4 * W; // sign bytes (groups of 8 columns) per weight row
  const lay = signScratch(k, 'lut');
  const t = L.add(i32); // first group of the tile
  const gi = L.add(i32);
  const xs = L.add(i32);
  const tb = L.add(i32);
  const sRow = L.add(i32);
  const yp = L.add(i32);
  const sum = L.add(f32);
  const mag = L.add(f32);
  const dv = L.add(v128);
  const first = L.add(v128);
  const a = [0, 1, 2, 3, 4, 5, 6, 7].map(() => L.add(f32));
  const words = Array.from({ length: TG / 4 }, () => L.add(i32));
  const p = [0, 1, 2, 3].map(() => L.add(f32));
  const get = (l: number, ty = i32) => m.local.get(l, ty);
  const tabBase = () => m.i32.add(c.scratch(), m.i32.const(lay.tab));
  const yBase = () => m.i32.add(c.scratch(), m.i32.const(lay.y));

  // T[b] = Σ_k (bit k of b ? −xg : +xg)[8g + k]: the 4 entries of the low 2 bits from the group
  // sum S, then each further bit k doubles the table: T[2^k + j] = T[j] − 2·xg_k. Its values stay
  // within 2·Σ|xg|; when that is not finite (an infinite or NaN xg, or 2·xg overflowing) S − 2·xg
  // could give ∞ − ∞ = NaN or overflow where the signed sum is ±∞ or finite, and the table is
  // built from the signed sums themselves.
  const buildTable = (): X[] => [
    m.local.set(xs, m.i32.add(c.scratch(), m.i32.shl(m.i32.add(get(t), get(gi)), m.i32.const(5)))),
    m.local.set(tb, m.i32.add(tabBase(), m.i32.shl(get(gi), m.i32.const(10)))),
    ...a.map((l, j) => m.local.set(l, m.f32.load(4 * j, 4, get(xs)))),
    m.local.set(
      sum,
      a.slice(1).reduce((s, l) => m.f32.add(s, get(l, f32)), get(a[0]!, f32) as X),
    ),
    m.local.set(
      mag,
      a.slice(1).reduce((s, l) => m.f32.add(s, m.f32.abs(get(l, f32))), m.f32.abs(get(a[0]!, f32)) as X),
    ),
    m.local.set(mag, m.f32.add(get(mag, f32), get(mag, f32))),
    m.if(
      m.f32.ne(m.f32.sub(get(mag, f32), get(mag, f32)), m.f32.const(0)),
      m.block(null, signedSums()),
      m.block(null, fromSum()),
    ),
  ];
  // T[j] + xg_k and T[j] − xg_k for each bit k: exact signed sums, in column order
  const signedSums = (): X[] => {
    const x = (j: number) => get(a[j]!, f32);
    const lanes = [
      m.f32.add(x(0), x(1)),
      m.f32.add(m.f32.neg(x(0)), x(1)),
      m.f32.sub(x(0), x(1)),
      m.f32.sub(m.f32.neg(x(0)), x(1)),
    ];
    const body: X[] = [m.local.set(first, m.f32x4.splat(lanes[0]!))];
    for (let l = 1; l < 4; l++) body.push(m.local.set(first, m.f32x4.replace_lane(get(first, v128), l, lanes[l]!)));
    body.push(m.v128.store(0, 16, get(tb), get(first, v128)));
    for (let bit = 2; bit < 8; bit++) {
      const n = 1 << bit;
      body.push(m.local.set(dv, m.f32x4.splat(x(bit))));
      for (let j = 0; j < n; j += 4)
        body.push(
          m.local.set(first, m.v128.load(4 * j, 16, get(tb))),
          m.v128.store(4 * (n + j), 16, get(tb), m.f32x4.sub(get(first, v128), get(dv, v128))),
          m.v128.store(4 * j, 16, get(tb), m.f32x4.add(get(first, v128), get(dv, v128))),
        );
    }
    return body;
  };
  const fromSum = (): X[] => {
    const body: X[] = [
      m.local.set(first, m.f32x4.splat(get(sum, f32))),
      m.local.set(
        first,
        m.f32x4.replace_lane(
          get(first, v128),
          1,
          m.f32.sub(get(sum, f32), m.f32.add(get(a[0]!, f32), get(a[0]!, f32))),
        ),
      ),
      m.local.set(
        first,
        m.f32x4.replace_lane(
          get(first, v128),
          2,
          m.f32.sub(get(sum, f32), m.f32.add(get(a[1]!, f32), get(a[1]!, f32))),
        ),
      ),
      m.local.set(
        first,
        m.f32x4.replace_lane(
          get(first, v128),
          3,
          m.f32.sub(
            m.f32.sub(get(sum, f32), m.f32.add(get(a[0]!, f32), get(a[0]!, f32))),
            m.f32.add(get(a[1]!, f32), get(a[1]!, f32)),
          ),
        ),
      ),
      m.v128.store(0, 16, get(tb), get(first, v128)),
    ];
    for (let bit = 2; bit < 8; bit++) {
      const n = 1 << bit;
      body.push(m.local.set(dv, m.f32x4.splat(m.f32.add(get(a[bit]!, f32), get(a[bit]!, f32)))));
      for (let j = 0; j < n; j += 4)
        body.push(m.v128.store(4 * (n + j), 16, get(tb), m.f32x4.sub(m.v128.load(4 * j, 16, get(tb)), get(dv, v128))));
    }
    return body;
  };

  // one output row's share of a tile of `tg` groups: one table load per sign byte
  const consume = (tg: number): X[] => {
    const body: X[] = [];
    for (let q = 0; q < tg / 4; q++) body.push(m.local.set(words[q]!, m.i32.load(4 * q, 1, get(sRow))));
    for (let q = 0; q < tg / 4; q++)
      for (let b = 0; b < 4; b++) {
        const word = get(words[q]!);
        const idx = m.i32.and(
          b === 0 ? m.i32.shl(word, m.i32.const(2)) : m.i32.shr_u(word, m.i32.const(8 * b - 2)),
          m.i32.const(0x3fc),
        );
        const v = m.f32.load(1024 * (4 * q + b), 4, m.i32.add(tabBase(), idx));
        const g = 4 * q + b;
        body.push(m.local.set(p[g & 3]!, g < 4 ? v : m.f32.add(get(p[g & 3]!, f32), v)));
      }
    const parts = p.slice(0, Math.min(4, tg)).map((l) => get(l, f32));
    const total =
      parts.length === 4
        ? m.f32.add(m.f32.add(parts[0]!, parts[1]!), m.f32.add(parts[2]!, parts[3]!))
        : parts.reduce((s, x) => m.f32.add(s, x));
    const scaled = blocked ? m.f32.mul(total, m.f32.load(0, 4, get(dp))) : total;
    body.push(m.f32.store(0, 4, get(yp), m.f32.add(m.f32.load(0, 4, get(yp)), scaled)));
    body.push(
      m.local.set(sRow, m.i32.add(get(sRow), m.i32.const(4 * W))),
      m.local.set(yp, m.i32.add(get(yp), m.i32.const(4))),
      ...(blocked ? [m.local.set(dp, m.i32.add(get(dp), m.i32.const(4 * blocked.K)))] : []),
    );
    return body;
  };
  const tile = (tg: number): X[] => [
    forLoop(m, gi, m.i32.const(0), m.i32.const(tg), 1, buildTable()),
    m.local.set(sRow, m.i32.add(m.i32.add(c.sPtr(), m.i32.mul(c.lo(), m.i32.const(4 * W))), get(t))),
    m.local.set(yp, m.i32.add(yBase(), m.i32.shl(c.lo(), m.i32.const(2)))),
    ...(blocked
      ? [
          // d + 4 (lo · K + t / (groups per block))
          m.local.set(
            dp,
            m.i32.add(
              m.local.get(1 + blocked.d, i32),
              m.i32.shl(
                m.i32.add(
                  m.i32.mul(c.lo(), m.i32.const(blocked.K)),
                  m.i32.div_u(get(t), m.i32.const(blocked.I / blocked.K / 8)),
                ),
                m.i32.const(2),
              ),
            ),
          ),
        ]
      : []),
    forLoop(m, o, c.lo(), c.hi(), 1, consume(tg)),
  ];
  const full = Math.floor(G / TG) * TG;
  const perRow: X[] = [
    ...c.prologue,
    forLoop(m, o, c.lo(), c.hi(), 1, [
      m.f32.store(0, 4, m.i32.add(yBase(), m.i32.shl(get(o), m.i32.const(2))), m.f32.const(0)),
    ]),
    ...(full ? [forLoop(m, t, m.i32.const(0), m.i32.const(full), TG, tile(TG))] : []),
    ...(G > full ? [m.local.set(t, m.i32.const(full)), ...tile(G - full)] : []),
    forLoop(m, o, c.lo(), c.hi(), 1, [
      m.local.set(c.acc, m.f32.load(0, 4, m.i32.add(yBase(), m.i32.shl(get(o), m.i32.const(2))))),
      ...c.store,
    ]),
  ];
  return [forLoop(m, c.row, m.i32.const(0), m.i32.const(k.M), 1, perRow)];
}
