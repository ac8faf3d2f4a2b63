// Loop kernels that only move an f32 tensor's elements so that the output's last axis reads the
// input at a stride while some other output axis reads it contiguously (a transpose: the backward
// pass's dW = dYᵀ·X makes one per linear layer). The generic loop kernel would gather each vector
// lane by lane; this one moves 4×4 tiles: four v128 loads along the contiguous input axis, a 4×4
// shuffle transpose, four v128 stores along the output's last axis. A parallel unit is one group of
// 4 output rows along the contiguous axis (all other axes fixed).
import binaryen from 'binaryen';
import { affineOf, type KNode, type LoopKernel } from '../../../kir/ir.ts';
import type { Locals } from './expr.ts';
import { forLoop, paramsOf, type M, type X } from './common.ts';
import { laneBytes } from './lanes.ts';

const { i32, v128 } = binaryen;

export interface TransposeForm {
  /** the input buffer */
  buf: number;
  /** the output axis the input reads contiguously (stride 1) */
  axis: number;
  /** the input stride of every output axis, and the constant offset */
  strides: number[];
  offset: number;
}

/** The transpose form of a loop kernel, when it is one (both tile axes multiples of 4). */
export function transposeForm(k: LoopKernel): TransposeForm | undefined {
  const r = k.shape.length;
  const out = k.out;
  if (k.red || k.outDtype !== 'f32' || r < 2 || out.op !== 'load' || out.dtype !== 'f32') return undefined;
  if (k.ins[out.buf]?.stored) return undefined; // its tiles are of f32 words
  const a = affineOf(out.at);
  const strides = new Array<number>(r).fill(0);
  for (const [t, c] of a.terms) {
    if (t.op !== 'idx' || t.axis >= r || strides[t.axis] !== 0) return undefined;
    strides[t.axis] = c;
  }
  const last = r - 1;
  if (strides[last] === 1 || strides[last] === 0 || k.shape[last]! % 4) return undefined;
  const axis = strides.findIndex((s, d) => s === 1 && d !== last && k.shape[d]! % 4 === 0);
  if (axis < 0) return undefined;
  return { buf: (out as Extract<KNode, { op: 'load' }>).buf, axis, strides, offset: a.c };
}

/** Parallel units of a transpose kernel: groups of 4 output rows along its contiguous axis. */
export const transposeUnits = (k: LoopKernel): number => k.shape.slice(0, -1).reduce((x, y) => x * y, 1) / 4;

/** The kernel body (calling convention: compiler/backends/wasm/emit/loop.ts). */
export function transposeBody(m: M, k: LoopKernel, L: Locals, f: TransposeForm): X[] {
  const r = k.shape.length;
  const last = r - 1;
  const P = paramsOf(k);
  const get = (l: number) => m.local.get(l, i32);
  const c = (v: number) => m.i32.const(v);
  const u = L.add(i32);
  const t = L.add(i32);
  const q = L.add(i32);
  const src = L.add(i32); // input element index of the tile's first lane
  const dst = L.add(i32); // output element index of the tile's first row
  const idx = k.shape.map(() => L.add(i32));
  // output row strides (elements)
  const outStride = k.shape.map((_, d) => k.shape.slice(d + 1).reduce((x, y) => x * y, 1));
  // the unit's indices: axes other than the last, the contiguous axis counted in groups of 4
  const extent = (d: number) => (d === f.axis ? k.shape[d]! / 4 : k.shape[d]!);
  const decode: X[] = [m.local.set(t, get(u))];
  for (let d = last - 1; d >= 0; d--) {
    decode.push(m.local.set(idx[d]!, m.i32.rem_u(get(t), c(extent(d)))));
    decode.push(m.local.set(t, m.i32.div_u(get(t), c(extent(d)))));
  }
  decode.push(m.local.set(idx[f.axis]!, m.i32.shl(get(idx[f.axis]!), c(2))));
  const lin = (coef: (d: number) => number, base: number) =>
    Array.from({ length: last }, (_, d) => d).reduce<X>(
      (acc, d) => m.i32.add(acc, m.i32.mul(get(idx[d]!), c(coef(d)))),
      c(base),
    );
  const vs = [0, 1, 2, 3].map(() => L.add(v128));
  const lo = [0, 1, 2, 3].map(() => L.add(v128));
  const g = (l: number) => m.local.get(l, v128);
  const shuf = (a: number, b: number, lanes: number[]) => m.i8x16.shuffle(g(a), g(b), laneBytes(lanes));
  const inAt = (l: number) => m.i32.add(get(1 + f.buf), m.i32.shl(m.i32.add(get(src), c(l * f.strides[last]!)), c(2)));
  const outAt = () => m.i32.add(m.local.get(0, i32), m.i32.shl(get(dst), c(2)));
  const tile: X[] = [
    // v_l = in[.., 4p..4p+3 (contiguous), .., 4q + l]
    ...vs.map((v, l) => m.local.set(v, m.v128.load(0, 4, inAt(l)))),
    // 4×4 transpose: rows a = [v0[a], v1[a], v2[a], v3[a]]
    m.local.set(lo[0]!, shuf(vs[0]!, vs[1]!, [0, 4, 1, 5])),
    m.local.set(lo[1]!, shuf(vs[2]!, vs[3]!, [0, 4, 1, 5])),
    m.local.set(lo[2]!, shuf(vs[0]!, vs[1]!, [2, 6, 3, 7])),
    m.local.set(lo[3]!, shuf(vs[2]!, vs[3]!, [2, 6, 3, 7])),
    ...[0, 1, 2, 3].map((a) => {
      const [x, y] = a < 2 ? [lo[0]!, lo[1]!] : [lo[2]!, lo[3]!];
      const sel = a % 2 === 0 ? [0, 1, 4, 5] : [2, 3, 6, 7];
      return m.v128.store(a * outStride[f.axis]! * 4, 4, outAt(), shuf(x, y, sel));
    }),
    m.local.set(src, m.i32.add(get(src), c(4 * f.strides[last]!))),
    m.local.set(dst, m.i32.add(get(dst), c(4))),
  ];
  return [
    forLoop(m, u, get(P.lo), get(P.hi), 1, [
      ...decode,
      m.local.set(
        src,
        lin((d) => f.strides[d]!, f.offset),
      ),
      m.local.set(
        dst,
        lin((d) => outStride[d]!, 0),
      ),
      forLoop(m, q, c(0), c(k.shape[last]! / 4), 1, tile),
    ]),
  ];
}
