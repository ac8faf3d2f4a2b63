// dot_general: contraction with batch axes (XLA's DotGeneral). Output axes: batch (in lhs order),
// lhs free axes, rhs free axes. The reference accumulates in f64 and rounds once.
import type { TensorType } from '../core/ir.ts';
import { alloc, numel, type Tensor } from '../core/tensor.ts';
import { fail, stridesOf, type PrimDef } from './def.ts';
import { stridedCopy } from './strided.ts';
import type { PrimParams } from '../core/prim_names.ts';
import { finish } from './elementwise.ts';

type P = PrimParams['dot_general'];

export function free(rank: number, used: number[]): number[] {
  return [...Array(rank).keys()].filter((i) => !used.includes(i));
}

function dotShape(a: TensorType, b: TensorType, p: P): number[] {
  const all = [a, b];
  const [ba, bb] = p.batch;
  const [ca, cb] = p.contract;
  if (ba.length !== bb.length || ca.length !== cb.length)
    fail('dot_general', 'batch/contract axis lists differ in length', all);
  const check = (axes: number[], t: TensorType) => {
    if (new Set(axes).size !== axes.length || axes.some((x) => x < 0 || x >= t.shape.length))
      fail('dot_general', `bad axes [${axes}]`, all);
  };
  check([...ba, ...ca], a);
  check([...bb, ...cb], b);
  ba.forEach((x, i) => a.shape[x] !== b.shape[bb[i]!] && fail('dot_general', 'batch dims differ', all));
  ca.forEach((x, i) => a.shape[x] !== b.shape[cb[i]!] && fail('dot_general', 'contracted dims differ', all));
  return [
    ...ba.map((x) => a.shape[x]!),
    ...free(a.shape.length, [...ba, ...ca]).map((x) => a.shape[x]!),
    ...free(b.shape.length, [...bb, ...cb]).map((x) => b.shape[x]!),
  ];
}

/** Copies t into a Float64Array laid out with axes in the given order. */
function permuted(t: Tensor, order: number[]): Float64Array {
  const st = stridesOf(t.shape);
  const d = stridedCopy(
    t,
    order.map((i) => t.shape[i]!),
    order.map((i) => st[i]!),
    0,
    true,
  ).data;
  return d instanceof Float64Array ? d : Float64Array.from(d);
}

export const dot_general: PrimDef<'dot_general'> = {
  name: 'dot_general',
  infer(args, p) {
    if (args.length !== 2) fail('dot_general', 'expects 2 operands', args);
    const [a, b] = args as [TensorType, TensorType];
    if (a.dtype !== b.dtype || a.dtype === 'sign' || a.dtype === 'bool')
      fail('dot_general', 'operands must share a numeric dtype', args);
    return [{ dtype: a.dtype, shape: dotShape(a, b, p) }];
  },
  eval([a, b], p, ctx) {
    const shape = dotShape(a!, b!, p);
    const [ba, bb] = p.batch;
    const [ca, cb] = p.contract;
    const fa = free(a!.shape.length, [...ba, ...ca]);
    const fb = free(b!.shape.length, [...bb, ...cb]);
    const B = numel(ba.map((x) => a!.shape[x]!));
    const M = numel(fa.map((x) => a!.shape[x]!));
    const K = numel(ca.map((x) => a!.shape[x]!));
    const N = numel(fb.map((x) => b!.shape[x]!));
    const out = alloc(a!.dtype, shape, ctx.f64);
    const o = out.data;
    const round = a!.dtype === 'f32' ? (x: number) => x : finish(a!.dtype);
    const oa = [...ba, ...fa, ...ca];
    const A = oa.every((v, i) => v === i) ? Float64Array.from(a!.data) : permuted(a!, oa); // [B, M, K]
    if (K >= 16) {
      // long contractions: each output is a dot product of two contiguous rows
      const ob = [...bb, ...fb, ...cb];
      const Bm = ob.every((v, i) => v === i) ? Float64Array.from(b!.data) : permuted(b!, ob); // [B, N, K]
      for (let bi = 0; bi < B; bi++)
        for (let m = 0; m < M; m++) {
          const aoff = (bi * M + m) * K;
          const ooff = (bi * M + m) * N;
          for (let n = 0; n < N; n++) {
            const boff = (bi * N + n) * K;
            let s0 = 0;
            let s1 = 0;
            let k = 0;
            for (; k + 1 < K; k += 2) {
              s0 += A[aoff + k]! * Bm[boff + k]!;
              s1 += A[aoff + k + 1]! * Bm[boff + k + 1]!;
            }
            if (k < K) s0 += A[aoff + k]! * Bm[boff + k]!;
            o[ooff + n] = round(s0 + s1);
          }
        }
    } else {
      // short contractions (attention scores over a head's few dims): accumulate rows of b
      const ob = [...bb, ...cb, ...fb];
      const Bm = ob.every((v, i) => v === i) ? Float64Array.from(b!.data) : permuted(b!, ob); // [B, K, N]
      const acc = new Float64Array(N);
      for (let bi = 0; bi < B; bi++)
        for (let m = 0; m < M; m++) {
          acc.fill(0);
          const aoff = (bi * M + m) * K;
          for (let k = 0; k < K; k++) {
            const av = A[aoff + k]!;
            const boff = (bi * K + k) * N;
            for (let n = 0; n < N; n++) acc[n] += av * Bm[boff + n]!;
          }
          const ooff = (bi * M + m) * N;
          for (let n = 0; n < N; n++) o[ooff + n] = round(acc[n]!);
        }
    }
    return [out];
  },
};
