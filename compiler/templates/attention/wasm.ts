// The attention template's Wasm body (modes and their semantics: runtime/prims/attention.ts). One
// parallel unit is one query row (b, h, i) for 'out', 'lse' and 'dq', one key row (b, g, j) for
// 'dkv'; a unit walks the other side's rows once, skipping masked pairs with one byte load, with
// its head's q (or k, v) and its accumulators in locals (Dh unrolled) and the scores never stored:
// 'out' is an online softmax (running max and sum, one exp per score), the backward modes
// recompute P = exp(s − lse) from the forward's log-sum-exp. exp is the in-kernel polynomial
// (compiler/emit/wasm/fastexp.ts). Results go through the fused epilogue (via scratch when it is
// not the identity).
import binaryen from 'binaryen';
import type { MathImport } from '../../../runtime/wasm/abi.ts';
import type { AttnKernel } from '../../kir/ir.ts';
import type { Locals } from '../../emit/wasm/expr.ts';
import { epilogue, forLoop, newEnv, type M, type X } from '../../emit/wasm/common.ts';
import { paramsOf } from '../../emit/wasm/abi.ts';
import { fastExp } from '../../emit/wasm/fastexp.ts';

const { i32, f32, f64 } = binaryen;

/** scratch per thread: a unit's results (dkv: dk and dv) for a non-identity epilogue */
export const attnScratch = (k: AttnKernel): number => 2 * k.Dh * 4;

/** A balanced sum of f32 terms (more independent adds in flight than a chain). */
function treeSum(m: M, xs: X[]): X {
  if (xs.length === 1) return xs[0]!;
  const h = xs.length >> 1;
  return m.f32.add(treeSum(m, xs.slice(0, h)), treeSum(m, xs.slice(h)));
}

export function attnBody(m: M, k: AttnKernel, L: Locals, imports: Set<MathImport>): X[] {
  const { B, T, S, H, KV, Dh, mode } = k;
  const G = H / KV;
  const P = paramsOf(k);
  // a local's own type (parameters are i32 pointers and bounds)
  const get = (l: number) => m.local.get(l, l < L.nparams ? i32 : L.types[l - L.nparams]!);
  const c = (v: number) => m.i32.const(v);
  const fc = (v: number) => m.f32.const(v);
  const ptr = (b: number) => get(1 + b);
  const set = (l: number, v: X) => m.local.set(l, v);
  const ld = (base: number, x: number) => m.f32.load(4 * x, 4, get(base));
  const dims = Array.from({ length: Dh }, (_, x) => x);
  const locals = () => dims.map(() => L.add(f32));

  const u = L.add(i32);
  const bi = L.add(i32);
  const rest = L.add(i32);
  const row = L.add(i32); // i (query row) or j (key row)
  const head = L.add(i32); // h or g
  const it = L.add(i32); // the walked side's row
  const hh = L.add(i32);
  const qp = L.add(i32);
  const kp = L.add(i32);
  const vp = L.add(i32);
  const dp = L.add(i32);
  const mp = L.add(i32);
  const s = L.add(f32);

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
  const exp = (x: X): { stmts: X[]; out: number } => fastExp(m, L, x);

  if (mode === 'dkv') {
    // unit u = (b, g, j): key row j of KV head g
    const ks = locals();
    const vs = locals();
    const aK = locals();
    const aV = locals();
    const lse = L.add(f32);
    const delta = L.add(f32);
    const rIdx = L.add(i32);
    const qs = locals();
    const dos = locals();
    const e = exp(m.f32.sub(get(s), get(lse)));
    const pe = e.out;
    const dpv = L.add(f32);
    const ds = L.add(f32);
    const pair: X[] = [
      // query row (b, i, h): q and dO at ((b·T + i)·H + h)·Dh
      set(
        rIdx,
        m.i32.add(
          m.i32.mul(m.i32.add(m.i32.mul(get(bi), c(T)), get(it)), c(H)),
          m.i32.add(m.i32.mul(get(head), c(G)), get(hh)),
        ),
      ),
      set(qp, m.i32.add(ptr(k.q), m.i32.shl(m.i32.mul(get(rIdx), c(Dh)), c(2)))),
      set(dp, m.i32.add(ptr(k.dO), m.i32.shl(m.i32.mul(get(rIdx), c(Dh)), c(2)))),
      ...dims.map((x) => set(qs[x]!, ld(qp, x))),
      ...dims.map((x) => set(dos[x]!, ld(dp, x))),
      set(
        s,
        treeSum(
          m,
          dims.map((x) => m.f32.mul(get(ks[x]!), get(qs[x]!))),
        ),
      ),
      set(lse, m.f32.load(0, 4, m.i32.add(ptr(k.lse), m.i32.shl(get(rIdx), c(2))))),
      set(delta, m.f32.load(0, 4, m.i32.add(ptr(k.delta), m.i32.shl(get(rIdx), c(2))))),
      ...e.stmts,
      set(
        dpv,
        treeSum(
          m,
          dims.map((x) => m.f32.mul(get(dos[x]!), get(vs[x]!))),
        ),
      ),
      set(ds, m.f32.mul(get(pe), m.f32.sub(get(dpv), get(delta)))),
      ...dims.map((x) => set(aV[x]!, m.f32.add(get(aV[x]!), m.f32.mul(get(pe), get(dos[x]!))))),
      ...dims.map((x) => set(aK[x]!, m.f32.add(get(aK[x]!), m.f32.mul(get(ds), get(qs[x]!))))),
    ];
    const unit: X[] = [
      set(bi, m.i32.div_u(get(u), c(KV * S))),
      set(rest, m.i32.rem_u(get(u), c(KV * S))),
      set(head, m.i32.div_u(get(rest), c(S))),
      set(row, m.i32.rem_u(get(rest), c(S))),
      // k, v at ((b·S + j)·KV + g)·Dh; k pre-scaled
      set(
        kp,
        m.i32.shl(
          m.i32.mul(m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(get(bi), c(S)), get(row)), c(KV)), get(head)), c(Dh)),
          c(2),
        ),
      ),
      set(vp, m.i32.add(ptr(k.v), get(kp))),
      set(outBase, m.i32.shr_u(get(kp), c(2))),
      set(kp, m.i32.add(ptr(k.k), get(kp))),
      ...dims.map((x) => set(ks[x]!, m.f32.mul(ld(kp, x), fc(k.scale)))),
      ...dims.map((x) => set(vs[x]!, ld(vp, x))),
      ...dims.flatMap((x) => [set(aK[x]!, fc(0)), set(aV[x]!, fc(0))]),
      // every query row i that may attend to key j (mask[i, j]), every head of the group
      forLoop(m, it, c(0), c(T), 1, [
        m.if(
          m.i32.load8_u(0, 1, m.i32.add(ptr(k.mask), m.i32.add(m.i32.mul(get(it), c(S)), get(row)))),
          forLoop(m, hh, c(0), c(G), 1, pair),
        ),
      ]),
      ...results([
        { base: get(outBase), values: dims.map((x) => m.f32.mul(get(aK[x]!), fc(k.scale))) },
        { base: m.i32.add(get(outBase), c(B * S * KV * Dh)), values: dims.map((x) => get(aV[x]!)) },
      ]),
    ];
    return [forLoop(m, u, get(P.lo), get(P.hi), 1, unit)];
  }

  // unit u = (b, h, i): query row i of head h; its KV head g = h / G
  const qs = locals();
  const start: X[] = [
    set(bi, m.i32.div_u(get(u), c(H * T))),
    set(rest, m.i32.rem_u(get(u), c(H * T))),
    set(head, m.i32.div_u(get(rest), c(T))),
    set(row, m.i32.rem_u(get(rest), c(T))),
    // q at ((b·T + i)·H + h)·Dh, pre-scaled
    set(outBase, m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(get(bi), c(T)), get(row)), c(H)), get(head))),
    set(qp, m.i32.add(ptr(k.q), m.i32.shl(m.i32.mul(get(outBase), c(Dh)), c(2)))),
    ...dims.map((x) => set(qs[x]!, m.f32.mul(ld(qp, x), fc(k.scale)))),
    // key row 0 of KV head g: ((b·S)·KV + g)·Dh
    set(kp, m.i32.shl(m.i32.mul(m.i32.add(m.i32.mul(get(bi), c(S * KV)), m.i32.div_u(get(head), c(G))), c(Dh)), c(2))),
    set(vp, mode === 'lse' ? c(0) : m.i32.add(ptr(k.v), get(kp))),
    set(kp, m.i32.add(ptr(k.k), get(kp))),
    set(mp, m.i32.add(ptr(k.mask), m.i32.mul(get(row), c(S)))),
  ];
  const step = [
    set(kp, m.i32.add(get(kp), c(KV * Dh * 4))),
    ...(mode === 'lse' ? [] : [set(vp, m.i32.add(get(vp), c(KV * Dh * 4)))]),
  ];
  const score = set(
    s,
    treeSum(
      m,
      dims.map((x) => m.f32.mul(get(qs[x]!), ld(kp, x))),
    ),
  );
  const walk = (pair: X[]): X =>
    forLoop(m, it, c(0), c(S), 1, [
      m.if(m.i32.load8_u(0, 1, m.i32.add(get(mp), get(it))), m.block(null, [score, ...pair])),
      ...step,
    ]);

  if (mode === 'out' || mode === 'lse') {
    const mx = L.add(f32);
    const l = L.add(f32);
    const acc = mode === 'out' ? locals() : [];
    const up = exp(m.f32.sub(get(mx), get(s))); // rescale when the max grows
    const pe = exp(m.f32.sub(get(s), get(mx)));
    const grow: X[] = [
      ...up.stmts,
      set(l, m.f32.add(m.f32.mul(get(l), get(up.out)), fc(1))),
      ...acc.map((a, x) => set(a, m.f32.add(m.f32.mul(get(a), get(up.out)), ld(vp, x)))),
      set(mx, get(s)),
    ];
    const add: X[] = [
      ...pe.stmts,
      set(l, m.f32.add(get(l), get(pe.out))),
      ...acc.map((a, x) => set(a, m.f32.add(get(a), m.f32.mul(get(pe.out), ld(vp, x))))),
    ];
    const inv = L.add(f32);
    const tail: X[] =
      mode === 'out'
        ? [
            set(inv, m.select(m.f32.gt(get(l), fc(0)), m.f32.div(fc(1), get(l)), fc(0))),
            ...results([{ base: m.i32.mul(get(outBase), c(Dh)), values: acc.map((a) => m.f32.mul(get(a), get(inv))) }]),
          ]
        : [
            ...results([
              {
                base: get(outBase),
                values: [
                  m.select(
                    m.f32.gt(get(l), fc(0)),
                    m.f32.add(get(mx), m.f32.demote(m.call('log', [m.f64.promote(get(l))], f64))),
                    fc(-Infinity),
                  ),
                ],
              },
            ]),
          ];
    if (mode === 'lse') imports.add('log');
    const unit: X[] = [
      ...start,
      set(mx, fc(-Infinity)),
      set(l, fc(0)),
      ...acc.map((a) => set(a, fc(0))),
      walk([m.if(m.f32.gt(get(s), get(mx)), m.block(null, grow), m.block(null, add))]),
      ...tail,
    ];
    return [forLoop(m, u, get(P.lo), get(P.hi), 1, unit)];
  }

  // dq: dq_i = scale Σ_j P (dO_i·v_j − delta_i) k_j
  const dos = locals();
  const acc = locals();
  const lse = L.add(f32);
  const delta = L.add(f32);
  const pe = exp(m.f32.sub(get(s), get(lse)));
  const ds = L.add(f32);
  const pair: X[] = [
    ...pe.stmts,
    set(
      ds,
      m.f32.mul(
        get(pe.out),
        m.f32.sub(
          treeSum(
            m,
            dims.map((x) => m.f32.mul(get(dos[x]!), ld(vp, x))),
          ),
          get(delta),
        ),
      ),
    ),
    ...acc.map((a, x) => set(a, m.f32.add(get(a), m.f32.mul(get(ds), ld(kp, x))))),
  ];
  const unit: X[] = [
    ...start,
    set(dp, m.i32.add(ptr(k.dO), m.i32.shl(m.i32.mul(get(outBase), c(Dh)), c(2)))),
    ...dims.map((x) => set(dos[x]!, ld(dp, x))),
    set(lse, m.f32.load(0, 4, m.i32.add(ptr(k.lse), m.i32.shl(get(outBase), c(2))))),
    set(delta, m.f32.load(0, 4, m.i32.add(ptr(k.delta), m.i32.shl(get(outBase), c(2))))),
    ...acc.map((a) => set(a, fc(0))),
    walk(pair),
    ...results([{ base: m.i32.mul(get(outBase), c(Dh)), values: acc.map((a) => m.f32.mul(get(a), fc(k.scale))) }]),
  ];
  return [forLoop(m, u, get(P.lo), get(P.hi), 1, unit)];
}
