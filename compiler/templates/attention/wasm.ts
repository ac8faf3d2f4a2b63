// The attention template's Wasm body (modes and their semantics: runtime/prims/attention.ts). One
// parallel unit is one query row (b, h, i) for 'out' (outMode), one (b, g) for 'bwd' (bwdMode); a
// unit walks the other side's rows 4 at a time in SIMD, over operands transposed into the
// thread's scratch, within the range of blocks its mask row (column) allows, testing the mask only
// outside the range's run of full blocks (tables made once per call); the scores are never stored
// beyond one row. 'out' takes two passes (scores and their maximum, then exp and the weighted sum)
// and keeps the row's log-sum-exp beside the output; 'bwd' recomputes P = exp(s − lse) from it;
// exp is the in-kernel polynomial (compiler/backends/wasm/emit/fastexp.ts). Results go through the fused
// epilogue (via scratch when it is not the identity).
import binaryen from 'binaryen';
import type { MathImport } from '../../../runtime/wasm/abi.ts';
import type { AttnKernel } from '../../kir/ir.ts';
import type { Locals } from '../../backends/wasm/emit/expr.ts';
import {
  epilogue,
  forLoop,
  hsum as hsumLocals,
  madd,
  newEnv,
  type M,
  type X,
} from '../../backends/wasm/emit/common.ts';
import { paramsOf } from '../../backends/wasm/emit/abi.ts';
import { fastExp4 } from '../../backends/wasm/emit/fastexp.ts';

const { i32, f32, f64, v128 } = binaryen;

/** scratch per thread (layouts below) */
export const attnScratch = (k: AttnKernel): number => (k.mode === 'bwd' ? colLayout(k).bytes : rowLayout(k).bytes);

export function attnBody(m: M, k: AttnKernel, L: Locals, imports: Set<MathImport>): X[] {
  const { Dh, mode } = k;
  const P = paramsOf(k);
  // a local's own type (parameters are i32 pointers and bounds)
  const get = (l: number) => m.local.get(l, l < L.nparams ? i32 : L.types[l - L.nparams]!);
  const c = (v: number) => m.i32.const(v);
  const fc = (v: number) => m.f32.const(v);
  const ptr = (b: number) => get(1 + b);
  const set = (l: number, v: X) => m.local.set(l, v);
  const ld = (base: number, x: number) => m.f32.load(4 * x, 4, get(base));
  const dims = Array.from({ length: Dh }, (_, x) => x);
  /** Dh v128 locals, each holding one scalar splat across the lanes (set once per unit) */
  const locals = () => dims.map(() => L.add(v128));
  /** Σ_d splats[d] · col(d): two multiply-add chains (even and odd d), then their sum */
  const vdot = (splats: number[], col: (d: number) => X): X => {
    const chain = (par: number): X | undefined =>
      dims
        .filter((d) => d % 2 === par)
        .reduce<X | undefined>(
          (acc, d) =>
            acc === undefined ? m.f32x4.mul(get(splats[d]!), col(d)) : madd(m, get(splats[d]!), col(d), acc),
          undefined,
        );
    const [a, b] = [chain(0)!, chain(1)];
    return b === undefined ? a : m.f32x4.add(a, b);
  };

  const u = L.add(i32);
  const bi = L.add(i32);
  const rest = L.add(i32);
  const row = L.add(i32); // i (query row) or j (key row)
  const head = L.add(i32); // h or g
  const it = L.add(i32); // the walked side's row

  // results: written straight to the output when the epilogue is the identity, else to scratch
  // and stored through the epilogue in a loop (each binaryen expression may appear once)
  const identity = k.out.op === 'acc' && k.outDtype === 'f32';
  const env = newEnv(m, k, L, imports, () => 2);
  const accL = L.add(f32);
  const flatL = L.add(i32);
  const xi = L.add(i32);
  const store = identity ? undefined : epilogue(m, env, k, accL, flatL);
  /** stores each segment's values[x] at flat index base + x (at most two segments: dk and dv) */
  const results = (segs: { base: X; values: X[] }[]): X[] => {
    const bases = segs.map(() => L.add(i32));
    const sets = segs.map((g, n) => set(bases[n]!, g.base));
    if (identity)
      return [
        ...sets,
        ...segs.flatMap((g, n) => [
          set(bases[n]!, m.i32.add(get(0), m.i32.shl(get(bases[n]!), c(2)))),
          ...g.values.map((v, x) => m.f32.store(4 * x, 4, get(bases[n]!), v)),
        ]),
      ];
    const n0 = segs[0]!.values.length;
    const total = segs.reduce((a, g) => a + g.values.length, 0);
    const flat =
      segs.length === 1
        ? m.i32.add(get(bases[0]!), get(xi))
        : m.select(
            m.i32.lt_u(get(xi), c(n0)),
            m.i32.add(get(bases[0]!), get(xi)),
            m.i32.add(get(bases[1]!), m.i32.sub(get(xi), c(n0))),
          );
    return [
      ...segs.flatMap((g, n) => g.values.map((v, x) => m.f32.store(4 * (x + (n ? n0 : 0)), 4, get(P.scratch), v))),
      ...sets,
      forLoop(m, xi, c(0), c(total), 1, [
        set(accL, m.f32.load(0, 4, m.i32.add(get(P.scratch), m.i32.shl(get(xi), c(2))))),
        ...store!(flat),
      ]),
    ];
  };
  const outBase = L.add(i32);
  /** the f32 sum of a v128's lanes */
  const hsum = (v: X): X => {
    const t = L.add(v128);
    return m.block(null, [m.local.set(t, v), hsumLocals(m, L, [t])], f32);
  };
  const x: Ctx = {
    ...{ get, c, fc, ptr, set, ld, dims, locals, vdot, hsum, results },
    v4: (v: number) => m.f32x4.splat(fc(v)),
    // lanes it..it+3 that exist (< n)
    inLanes: (n: number) =>
      m.i32x4.lt_s(
        m.i32x4.add(m.i32x4.splat(get(it)), m.v128.const([0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0])),
        m.i32x4.splat(c(n)),
      ),
    ...{ u, bi, rest, row, head, it, outBase },
  };
  if (mode === 'out') imports.add('log');
  return mode === 'bwd' ? bwdMode(m, k, L, x) : outMode(m, k, L, x);
}

/** Per row of one side of the mask (x.row; once per call and thread): the first and one past the
 *  last 4-block (x.it) whose lanes `any` has a lane of, then the first run of blocks all of whose
 *  lanes `all` has (empty at the first block when there is none), as four i32 at table + 16·row:
 *  units skip masked-out blocks (half of a causal mask) without testing them, and blocks in the
 *  run (all but the diagonal's, for a causal mask) without a mask test. `rowSetup` runs first in
 *  each row, `test` before each block's `any` and `all`. */
function blockRanges(
  m: M,
  x: Ctx,
  rows: number,
  end4: number,
  r: BlockRange,
  table: () => X,
  rowSetup: X[],
  test: () => X[],
  any: () => X,
  all: () => X,
): X {
  const { get, c, set, row, it } = x;
  const at = () => m.i32.add(table(), m.i32.shl(get(row), c(4)));
  return forLoop(m, row, c(0), c(rows), 1, [
    ...rowSetup,
    set(r.lo, c(end4)),
    set(r.hi, c(0)),
    set(r.flo, c(-1)),
    set(r.fhi, c(-1)),
    forLoop(m, it, c(0), c(end4), 4, [
      ...test(),
      m.if(
        m.v128.any_true(any()),
        m.block(null, [
          set(r.lo, m.select(m.i32.lt_s(get(it), get(r.lo)), get(it), get(r.lo))),
          set(r.hi, m.i32.add(get(it), c(4))),
        ]),
      ),
      // a full block starts the run or extends it when it follows the run's last block
      m.if(
        m.i32.and(m.i32x4.all_true(all()), m.i32.or(m.i32.lt_s(get(r.flo), c(0)), m.i32.eq(get(r.fhi), get(it)))),
        m.block(null, [
          set(r.flo, m.select(m.i32.lt_s(get(r.flo), c(0)), get(it), get(r.flo))),
          set(r.fhi, m.i32.add(get(it), c(4))),
        ]),
      ),
    ]),
    m.if(m.i32.lt_s(get(r.flo), c(0)), m.block(null, [set(r.flo, get(r.lo)), set(r.fhi, get(r.lo))])),
    m.i32.store(0, 4, at(), get(r.lo)),
    m.i32.store(4, 4, at(), get(r.hi)),
    m.i32.store(8, 4, at(), get(r.flo)),
    m.i32.store(12, 4, at(), get(r.fhi)),
  ]);
}

/** A row's block range [lo, hi) and its run of full blocks [flo, fhi) (lo ≤ flo ≤ fhi ≤ hi). */
interface BlockRange {
  lo: number;
  hi: number;
  flo: number;
  fhi: number;
}
const blockRange = (L: Locals): BlockRange => ({ lo: L.add(i32), hi: L.add(i32), flo: L.add(i32), fhi: L.add(i32) });
/** sets a row's range from its table entry at `entry` (a fresh expression per use) */
const loadRange = (m: M, r: BlockRange, entry: () => X): X[] =>
  (['lo', 'hi', 'flo', 'fhi'] as const).map((f, n) => m.local.set(r[f], m.i32.load(4 * n, 4, entry())));
/** the range's three loops: masked blocks before the run, the run, masked blocks after it */
const rangeLoops = (m: M, x: Ctx, r: BlockRange, step: number, body: (masked: boolean) => X[]): X[] => [
  forLoop(m, x.it, x.get(r.lo), x.get(r.flo), step, body(true)),
  forLoop(m, x.it, x.get(r.flo), x.get(r.fhi), step, body(false)),
  forLoop(m, x.it, x.get(r.fhi), x.get(r.hi), step, body(true)),
];

/** What both unit kinds share: local helpers, the unit's decoded indices, the results' store. */
interface Ctx {
  get: (l: number) => X;
  c: (v: number) => X;
  fc: (v: number) => X;
  v4: (v: number) => X;
  ptr: (b: number) => X;
  set: (l: number, v: X) => X;
  ld: (base: number, x: number) => X;
  hsum: (v: X) => X;
  inLanes: (n: number) => X;
  dims: number[];
  locals: () => number[];
  vdot: (splats: number[], col: (d: number) => X) => X;
  u: number;
  bi: number;
  rest: number;
  row: number;
  head: number;
  it: number;
  outBase: number;
  results: (segs: { base: X; values: X[] }[]) => X[];
}

/** Row-mode scratch layout: results (2·Dh floats), then k and v of the current (b, g)
 *  transposed to [Dh][S4] (S4 = S rounded up to 4, zero padded), then one row of scores [S4]. */
const rowLayout = (k: AttnKernel) => {
  const S4 = Math.ceil(k.S / 4) * 4;
  const kT = Math.ceil((2 * k.Dh * 4) / 16) * 16;
  const vT = kT + k.Dh * S4 * 4;
  const sc = vT + k.Dh * S4 * 4;
  const rg = sc + S4 * 4;
  return { S4, kT, vT, sc, rg, bytes: rg + k.T * 16 };
};

/** 'out': one query row per unit, its keys 4 at a time (SIMD) from k and v of its
 *  (b, g) transposed into scratch once per (b, g) a thread meets. */
function outMode(m: M, k: AttnKernel, L: Locals, x: Ctx): X[] {
  const { T, S, H, KV, Dh } = k;
  const G = H / KV;
  const P = paramsOf(k);
  const { get, c, fc, v4, ptr, set, ld, hsum, dims, locals, vdot, u, bi, rest, row, head, it, outBase } = x;
  const lay = rowLayout(k);
  const S4 = lay.S4;
  const qs = locals();
  const qp = L.add(i32);
  const mp = L.add(i32);
  const cur = L.add(i32);
  const key = L.add(i32);
  const jj = L.add(i32);
  const src = L.add(i32);
  const valid = L.add(v128);
  const s4 = L.add(v128);
  const jr = blockRange(L); // the row's 4-key blocks with a key, and its run of full ones
  const [jlo, jhi] = [jr.lo, jr.hi];
  const kTp = L.add(i32); // kT + 4j
  const vTp = L.add(i32);
  const T0 = () => m.i32.add(get(P.scratch), c(lay.kT));
  const V0 = () => m.i32.add(get(P.scratch), c(lay.vT));
  const RG = () => m.i32.add(get(P.scratch), c(lay.rg));
  const col = (base: number, d: number, off = 0) => m.v128.load((d * S4 + off) * 4, 16, get(base));
  // the transpose of k and v of (b, g) into scratch: kT[d][j] = k[b, j, g, d]
  const transpose: X[] = [
    set(src, m.i32.shl(m.i32.mul(m.i32.add(m.i32.mul(get(bi), c(S * KV)), m.i32.div_u(get(head), c(G))), c(Dh)), c(2))),
    forLoop(m, jj, c(0), c(S4), 1, [
      ...dims.flatMap((d) => {
        const at = (base: X) => m.i32.add(base, m.i32.shl(m.i32.add(m.i32.mul(c(d), c(S4)), get(jj)), c(2)));
        // a fresh expression per use: a binaryen expression may have one parent only
        const inRange = () => m.i32.lt_u(get(jj), c(S));
        const from = (b: number) => m.select(inRange(), m.f32.load(4 * d, 4, m.i32.add(ptr(b), get(src))), fc(0));
        return [m.f32.store(0, 4, at(T0()), from(k.k)), m.f32.store(0, 4, at(V0()), from(k.v))];
      }),
      // next key row (clamped to the last: rows past S only feed zeros)
      set(src, m.select(m.i32.lt_u(m.i32.add(get(jj), c(1)), c(S)), m.i32.add(get(src), c(KV * Dh * 4)), get(src))),
    ]),
  ];
  const start: X[] = [
    set(bi, m.i32.div_u(get(u), c(H * T))),
    set(rest, m.i32.rem_u(get(u), c(H * T))),
    set(head, m.i32.div_u(get(rest), c(T))),
    set(row, m.i32.rem_u(get(rest), c(T))),
    set(key, m.i32.add(m.i32.mul(get(bi), c(KV)), m.i32.div_u(get(head), c(G)))),
    m.if(m.i32.ne(get(key), get(cur)), m.block(null, [...transpose, set(cur, get(key))])),
    // q at ((b·T + i)·H + h)·Dh, pre-scaled
    set(outBase, m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(get(bi), c(T)), get(row)), c(H)), get(head))),
    set(qp, m.i32.add(ptr(k.q), m.i32.shl(m.i32.mul(get(outBase), c(Dh)), c(2)))),
    ...dims.map((d) => set(qs[d]!, m.f32x4.splat(m.f32.mul(ld(qp, d), fc(k.scale))))),
    set(mp, m.i32.add(ptr(k.mask), m.i32.mul(get(row), c(S)))),
    ...loadRange(m, jr, () => m.i32.add(RG(), m.i32.shl(get(row), c(4)))),
  ];
  // lanes j..j+3 that exist and that the mask allows (of the mask row at mp)
  const lanes = () =>
    m.v128.and(
      m.i32x4.ne(
        m.i32x4.extend_low_i16x8_u(m.i16x8.extend_low_i8x16_u(m.v128.load32_zero(0, 1, m.i32.add(get(mp), get(it))))),
        m.i32x4.splat(c(0)),
      ),
      // S a multiple of 4: every lane exists
      S % 4 ? x.inLanes(S) : m.v128.const(new Array(16).fill(255)),
    );
  const score = (masked: boolean) => [
    set(kTp, m.i32.add(T0(), m.i32.shl(get(it), c(2)))),
    set(
      s4,
      vdot(qs, (d) => col(kTp, d)),
    ),
    ...(masked ? [set(s4, m.v128.bitselect(get(s4), v4(-Infinity), get(valid)))] : []),
  ];
  // each mask row's range of 4-key blocks with a key
  const ranges = blockRanges(
    m,
    x,
    T,
    S4,
    jr,
    RG,
    [set(mp, m.i32.add(ptr(k.mask), m.i32.mul(get(row), c(S))))],
    () => [],
    lanes,
    lanes,
  );

  // two passes over the row's keys, no online rescaling: (1) the scores into scratch (−inf where
  // masked) and their lane maxima, over the row's range [jlo, jhi) of 4-key blocks with a key (no
  // mask test in its run of full blocks);
  // (2) over that range p = exp(s − max), l = Σ p and Σ p·v; out = Σ p·v / l, lse = max + log l.
  // Each pass's live values fit in registers.
  const m4 = L.add(v128);
  const l4 = L.add(v128);
  const mx = L.add(f32);
  const mxv = L.add(v128);
  const l = L.add(f32);
  const inv = L.add(f32);
  const scp = L.add(i32); // the score row + 4j
  const acc = dims.map(() => L.add(v128));
  const SC = () => m.i32.add(get(P.scratch), c(lay.sc));
  const pass1 = rangeLoops(m, x, jr, 4, (masked) => {
    const keep = [...score(masked), m.v128.store(0, 16, get(scp), get(s4)), set(m4, m.f32x4.pmax(get(m4), get(s4)))];
    return [
      set(scp, m.i32.add(SC(), m.i32.shl(get(it), c(2)))),
      ...(masked
        ? [
            set(valid, lanes()),
            m.if(m.v128.any_true(get(valid)), m.block(null, keep), m.v128.store(0, 16, get(scp), v4(-Infinity))),
          ]
        : keep),
    ];
  });
  // pass 2 two blocks at a time (their exps interleaved: one exp's chain is too long for the
  // out-of-order window to hide alone), then the odd block
  const block2 = (offs: number[]): X[] => {
    const pes = offs.map((o) => fastExp4(m, L, m.f32x4.sub(m.v128.load(4 * o, 16, get(scp)), get(mxv))));
    const zip = pes[0]!.stmts.flatMap((st, i) => [st, ...pes.slice(1).map((p) => p.stmts[i]!)]);
    return [
      set(scp, m.i32.add(SC(), m.i32.shl(get(it), c(2)))),
      ...zip,
      ...pes.map((p) => set(l4, m.f32x4.add(get(l4), get(p.out)))),
      set(vTp, m.i32.add(V0(), m.i32.shl(get(it), c(2)))),
      ...pes.flatMap((p, n) => acc.map((a, d) => set(a, madd(m, get(p.out), col(vTp, d, offs[n]!), get(a))))),
    ];
  };
  const j8 = L.add(i32);
  const pass2: X[] = [
    set(j8, m.i32.sub(get(jhi), m.i32.and(m.i32.sub(get(jhi), get(jlo)), c(7)))),
    forLoop(m, it, get(jlo), get(j8), 8, block2([0, 4])),
    m.if(m.i32.lt_s(get(it), get(jhi)), m.block(null, block2([0]))),
  ];
  const lane = (l: number) => m.f32x4.extract_lane(get(m4), l);
  const mx2 = (a: X, b: X) => {
    const ta = L.add(f32);
    const tb = L.add(f32);
    return m.block(null, [set(ta, a), set(tb, b), m.select(m.f32.gt(get(ta), get(tb)), get(ta), get(tb))], f32);
  };
  // out[b, i, h, 0..Dh) then the row's lse at out[b, i, h, Dh]
  const tail: X[] = [
    set(inv, m.select(m.f32.gt(get(l), fc(0)), m.f32.div(fc(1), get(l)), fc(0))),
    ...x.results([
      {
        base: m.i32.mul(get(outBase), c(Dh + 1)),
        values: [
          ...acc.map((a) => m.f32.mul(hsum(get(a)), get(inv))),
          m.select(
            m.f32.gt(get(l), fc(0)),
            m.f32.add(get(mx), m.f32.demote(m.call('log', [m.f64.promote(get(l))], f64))),
            fc(-Infinity),
          ),
        ],
      },
    ]),
  ];
  const unit = [
    ...start,
    set(m4, v4(-Infinity)),
    ...pass1,
    set(mx, mx2(mx2(lane(0), lane(1)), mx2(lane(2), lane(3)))),
    set(mxv, m.f32x4.splat(get(mx))),
    set(l4, v4(0)),
    ...acc.map((a) => set(a, v4(0))),
    ...pass2,
    set(l, hsum(get(l4))),
    ...tail,
  ];
  return [ranges, set(cur, c(-1)), forLoop(m, u, get(P.lo), get(P.hi), 1, unit)];
}

/** bwd scratch layout: results, then per head of the group q and dO of (b, h) transposed to
 *  [Dh][T4] and lse, delta as [T4] (T4 = T rounded up to 4, zero padded), then the mask column
 *  ranges, then per head the dq accumulators [Dh][T4]. */
const colLayout = (k: AttnKernel) => {
  const T4 = Math.ceil(k.T / 4) * 4;
  const base = Math.ceil((2 * k.Dh * 4) / 16) * 16;
  const perHead = (2 * k.Dh + 2) * T4 * 4;
  const rg = base + (k.H / k.KV) * perHead;
  const dq = Math.ceil((rg + k.S * 16) / 16) * 16;
  const dqHead = k.Dh * T4 * 4;
  return { T4, base, perHead, rg, dq, dqHead, bytes: dq + (k.H / k.KV) * dqHead };
};

/** 'bwd': one (b, g) per unit; its key rows j one by one, and for each the query rows that see it
 *  4 at a time (SIMD), for every head of the group, from q, dO, lse and delta of (b, g)'s heads
 *  transposed into scratch at the unit's start. dk and dv of key j are summed in registers and
 *  stored after it; dq of the group's query rows accumulates in scratch ([Dh][T4] per head, P and
 *  dS computed once for all three) and is stored at the unit's end. */
function bwdMode(m: M, k: AttnKernel, L: Locals, x: Ctx): X[] {
  const { B, T, S, H, KV, Dh } = k;
  const G = H / KV;
  const P = paramsOf(k);
  const { get, c, fc, v4, ptr, set, ld, hsum, dims, locals, vdot, u, bi, row, head, it, outBase } = x;
  const lay = colLayout(k);
  const T4 = lay.T4;
  const hh = L.add(i32);
  const ks = locals();
  const vs = locals();
  const aK = dims.map(() => L.add(v128));
  const aV = dims.map(() => L.add(v128));
  const ii = L.add(i32);
  const hb = L.add(i32); // this head's block of scratch
  const kp = L.add(i32);
  const vp = L.add(i32);
  const valid = L.add(v128);
  const mv = L.add(v128);
  const qi = L.add(i32); // the query row's flat (b·T + i)·H + h
  const at = L.add(i32); // hb + 4i
  const dqp = L.add(i32); // this head's dq accumulators + 4i
  const DQ0 = () => m.i32.add(get(P.scratch), c(lay.dq));
  // the output: dq (NQ floats), then dk, dv (NK each)
  const NQ = B * T * H * Dh;
  const NK = B * S * KV * Dh;
  // [Dh][T4] column d of q, dO; then lse, delta rows
  const Q = (d: number) => d * T4 * 4;
  const DO = (d: number) => (Dh + d) * T4 * 4;
  const LSE = 2 * Dh * T4 * 4;
  const DEL = (2 * Dh + 1) * T4 * 4;
  const hbOf = (h: X) => m.i32.add(m.i32.add(get(P.scratch), c(lay.base)), m.i32.mul(h, c(lay.perHead)));
  // transpose (b, g)'s heads: qT[hh][d][i] = q[b, i, g·G + hh, d], … ; rows past T are zeros
  const fill = (off: number, from: (inRange: () => X) => X): X =>
    m.f32.store(
      off,
      4,
      m.i32.add(get(hb), m.i32.shl(get(ii), c(2))),
      from(() => m.i32.lt_u(get(ii), c(T))),
    );
  const src = (b: number, d: number, stride: number, inRange: () => X) =>
    m.select(inRange(), m.f32.load(4 * d, 4, m.i32.add(ptr(b), m.i32.shl(m.i32.mul(get(qi), c(stride)), c(2)))), fc(0));
  const transpose = forLoop(m, hh, c(0), c(G), 1, [
    set(hb, hbOf(get(hh))),
    forLoop(m, ii, c(0), c(T4), 1, [
      // the row index, clamped to the last row (rows past T only feed zeros)
      set(
        qi,
        m.i32.add(
          m.i32.mul(m.i32.add(m.i32.mul(get(bi), c(T)), m.select(m.i32.lt_u(get(ii), c(T)), get(ii), c(T - 1))), c(H)),
          m.i32.add(m.i32.mul(get(head), c(G)), get(hh)),
        ),
      ),
      ...dims.map((d) => fill(Q(d), (r) => src(k.q, d, Dh, r))),
      ...dims.map((d) => fill(DO(d), (r) => src(k.dO, d, Dh, r))),
      fill(LSE, (r) => src(k.lse, 0, 1, r)),
      fill(DEL, (r) => src(k.delta, 0, 1, r)),
    ]),
  ]);
  const col = (off: number) => m.v128.load(off, 16, get(at));
  const maskAt = (l: number) =>
    m.i32.load8_u(0, 1, m.i32.add(ptr(k.mask), m.i32.add(m.i32.mul(m.i32.add(get(it), c(l)), c(S)), get(row))));
  // lanes i..i+3 that exist and see key j (a column of the mask: four byte loads, clamped rows)
  const laneMask = (): X[] => [
    set(mv, m.i32x4.splat(maskAt(0))),
    ...[1, 2, 3].map((l) =>
      set(mv, m.i32x4.replace_lane(get(mv), l, m.select(m.i32.lt_u(m.i32.add(get(it), c(l)), c(T)), maskAt(l), c(0)))),
    ),
    set(valid, m.v128.and(m.i32x4.ne(get(mv), m.i32x4.splat(c(0))), x.inLanes(T))),
  ];
  // each mask column's (key j's) range of blocks of 4 query rows that see it
  const ir = blockRange(L);
  const RG = () => m.i32.add(get(P.scratch), c(lay.rg));
  const ranges = blockRanges(
    m,
    x,
    S,
    T4,
    ir,
    RG,
    [],
    laneMask,
    () => get(valid),
    () => get(valid),
  );
  const s4 = L.add(v128);
  const ds = L.add(v128);
  // the query block's work for head hh of the group (masked: P = 0 in the lanes the mask hides)
  const perHead = (masked: boolean): X[] => {
    const pe = fastExp4(m, L, m.f32x4.sub(get(s4), col(LSE)));
    return [
      set(at, m.i32.add(hbOf(get(hh)), m.i32.shl(get(it), c(2)))),
      set(
        s4,
        vdot(ks, (d) => col(Q(d))),
      ),
      ...pe.stmts,
      ...(masked ? [set(pe.out, m.v128.bitselect(get(pe.out), v4(0), get(valid)))] : []),
      set(
        ds,
        m.f32x4.mul(
          get(pe.out),
          m.f32x4.sub(
            vdot(vs, (d) => col(DO(d))),
            col(DEL),
          ),
        ),
      ),
      ...aV.map((a, d) => set(a, madd(m, get(pe.out), col(DO(d)), get(a)))),
      ...aK.map((a, d) => set(a, madd(m, get(ds), col(Q(d)), get(a)))),
      // dq[hh][d][i..i+3] += dS · scale·k_j[d]
      set(dqp, m.i32.add(m.i32.add(DQ0(), m.i32.mul(get(hh), c(lay.dqHead))), m.i32.shl(get(it), c(2)))),
      ...dims.map((d) =>
        m.v128.store(d * T4 * 4, 16, get(dqp), madd(m, get(ds), get(ks[d]!), m.v128.load(d * T4 * 4, 16, get(dqp)))),
      ),
    ];
  };
  const perKey: X[] = [
    // k (pre-scaled) and v of key row j at ((b·S + j)·KV + g)·Dh
    set(outBase, m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(get(bi), c(S)), get(row)), c(KV)), get(head))),
    set(kp, m.i32.add(ptr(k.k), m.i32.shl(m.i32.mul(get(outBase), c(Dh)), c(2)))),
    set(vp, m.i32.add(ptr(k.v), m.i32.shl(m.i32.mul(get(outBase), c(Dh)), c(2)))),
    ...dims.map((d) => set(ks[d]!, m.f32x4.splat(m.f32.mul(ld(kp, d), fc(k.scale))))),
    ...dims.map((d) => set(vs[d]!, m.f32x4.splat(ld(vp, d)))),
    ...[...aK, ...aV].map((a) => set(a, v4(0))),
    ...loadRange(m, ir, () => m.i32.add(RG(), m.i32.shl(get(row), c(4)))),
    // no mask test in the run of blocks all of whose query rows see key j
    ...rangeLoops(m, x, ir, 4, (masked) =>
      masked
        ? [...laneMask(), m.if(m.v128.any_true(get(valid)), forLoop(m, hh, c(0), c(G), 1, perHead(true)))]
        : [forLoop(m, hh, c(0), c(G), 1, perHead(false))],
    ),
    ...x.results([
      {
        base: m.i32.add(c(NQ), m.i32.mul(get(outBase), c(Dh))),
        values: aK.map((a) => m.f32.mul(hsum(get(a)), fc(k.scale))),
      },
      { base: m.i32.add(c(NQ + NK), m.i32.mul(get(outBase), c(Dh))), values: aV.map((a) => hsum(get(a))) },
    ]),
  ];
  // dq of the unit's query rows (b, i, g·G + hh) from the accumulators, row by row
  const dqOut: X[] = [
    forLoop(m, hh, c(0), c(G), 1, [
      forLoop(m, ii, c(0), c(T), 1, [
        set(dqp, m.i32.add(m.i32.add(DQ0(), m.i32.mul(get(hh), c(lay.dqHead))), m.i32.shl(get(ii), c(2)))),
        ...x.results([
          {
            base: m.i32.mul(
              m.i32.add(
                m.i32.mul(m.i32.add(m.i32.mul(get(bi), c(T)), get(ii)), c(H)),
                m.i32.add(m.i32.mul(get(head), c(G)), get(hh)),
              ),
              c(Dh),
            ),
            values: dims.map((d) => m.f32.load(d * T4 * 4, 4, get(dqp))),
          },
        ]),
      ]),
    ]),
  ];
  const unit: X[] = [
    set(bi, m.i32.div_u(get(u), c(KV))),
    set(head, m.i32.rem_u(get(u), c(KV))),
    transpose,
    forLoop(m, ii, c(0), c(G * lay.dqHead), 16, [m.v128.store(0, 16, m.i32.add(DQ0(), get(ii)), v4(0))]),
    forLoop(m, row, c(0), c(S), 1, perKey),
    ...dqOut,
  ];
  return [ranges, forLoop(m, u, get(P.lo), get(P.hi), 1, unit)];
}
