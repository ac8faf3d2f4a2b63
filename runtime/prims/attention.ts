// Fused scaled dot-product attention with grouped KV heads and a boolean mask, as two primitive
// modes that share one definition (query head h reads KV head h / (H / KV)):
//   s[b,h,i,j] = scale · Σ_d q[b,i,h,d] k[b,j,h/G,d]   where mask[i,j]
//   lse[b,i,h] = log Σ_{j: mask} exp s[b,h,i,j]        (−inf for a row with no key)
//   P[b,h,i,j] = exp(s − lse) where mask, else 0
//   out[b,i,h,d]   = Σ_j P v[b,j,h/G,d],  out[b,i,h,Dh] = lse              mode 'out'  (q, k, v, mask)
//     (the forward keeps its log-sum-exp beside the output, for the backward: f32[B, T, H, Dh + 1])
//   dS = P ⊙ (do·v − delta),  delta[b,i,h] = Σ_d do ⊙ out
//   dq[b,i,h,d] = scale Σ_j dS k,  dk[b,j,g,d] = scale Σ_{h∈g} Σ_i dS q,  dv[b,j,g,d] = Σ_{h∈g} Σ_i P do
//                                    mode 'bwd'  (q, k, v, mask, do, lse, delta): one flat f32 vector,
//                                    dq (B·T·H·Dh), then dk and dv (B·S·KV·Dh each)
// A row whose mask has no key gives 0 (the unfused softmax would give NaN). This is the reference
// the Wasm and WGSL kernels (compiler/templates/attention/) are compared with.
import type { TensorType } from '../core/ir.ts';
import type { AttentionParams } from '../core/prim_names.ts';
import { alloc, type Tensor } from '../core/tensor.ts';
import { fail, type PrimDef } from './def.ts';

export interface AttnDims {
  B: number;
  T: number;
  S: number;
  H: number;
  KV: number;
  Dh: number;
}

const ARITY = { out: 4, bwd: 7 } as const;

/** Checks the operands of a mode; returns the extents. */
export function attentionDims(args: TensorType[], p: AttentionParams): AttnDims {
  const n = ARITY[p.mode];
  if (args.length !== n) fail('attention', `mode ${p.mode} expects ${n} operands`, args);
  const q = args[0]!;
  const k = args[1]!;
  const mask = args[3]!;
  if (q.dtype !== 'f32' || q.shape.length !== 4) fail('attention', 'q must be f32[B, T, H, Dh]', args);
  const [B, T, H, Dh] = q.shape as [number, number, number, number];
  if (k.dtype !== 'f32' || k.shape.length !== 4 || k.shape[0] !== B || k.shape[3] !== Dh)
    fail('attention', `k must be f32[${B}, S, KV, ${Dh}]`, args);
  const [, S, KV] = k.shape as [number, number, number];
  if (KV < 1 || H % KV !== 0) fail('attention', 'the query heads must be a multiple of the KV heads', args);
  const same = (t: TensorType, shape: number[]) =>
    t.dtype === 'f32' && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!same(args[2]!, k.shape)) fail('attention', 'v must have the shape of k', args);
  if (mask.dtype !== 'bool' || mask.shape.length !== 2 || mask.shape[0] !== T || mask.shape[1] !== S)
    fail('attention', `mask must be bool[${T}, ${S}]`, args);
  if (n === 7) {
    if (!same(args[4]!, q.shape)) fail('attention', 'do must have the shape of q', args);
    if (!same(args[5]!, [B, T, H]) || !same(args[6]!, [B, T, H]))
      fail('attention', `lse and delta must be f32[${B}, ${T}, ${H}]`, args);
  }
  if (!Number.isFinite(p.scale)) fail('attention', 'the scale must be finite', args);
  return { B, T, S, H, KV, Dh };
}

function attentionShape(d: AttnDims, mode: AttentionParams['mode']): number[] {
  switch (mode) {
    case 'out':
      return [d.B, d.T, d.H, d.Dh + 1];
    case 'bwd':
      return [d.B * d.T * d.H * d.Dh + 2 * d.B * d.S * d.KV * d.Dh];
  }
}

export const attention: PrimDef<'attention'> = {
  name: 'attention',
  infer(args, p) {
    return [{ dtype: 'f32', shape: attentionShape(attentionDims(args, p), p.mode) }];
  },
  eval(args, p, ctx) {
    const d = attentionDims(args, p);
    const out = alloc('f32', attentionShape(d, p.mode), ctx.f64);
    evalAttention(d, p, args, out);
    return [out];
  },
};

function evalAttention(d: AttnDims, p: AttentionParams, args: Tensor[], out: Tensor): void {
  const { B, T, S, H, KV, Dh } = d;
  const G = H / KV;
  const q = args[0]!.data;
  const k = args[1]!.data;
  const v = args[2]!.data;
  const mask = args[3]!.data;
  const dO = args[4]?.data;
  // dk and dv sum over queries and heads: accumulated in f64, rounded once
  const o = p.mode === 'bwd' ? new Float64Array(out.data.length) : out.data;
  const nq = B * T * H * Dh;
  const nk = B * S * KV * Dh;
  const qAt = (b: number, i: number, h: number) => ((b * T + i) * H + h) * Dh;
  const kAt = (b: number, j: number, g: number) => ((b * S + j) * KV + g) * Dh;
  const score = (qi: number, kj: number) => {
    let s = 0;
    for (let x = 0; x < Dh; x++) s += q[qi + x]! * k[kj + x]!;
    return p.scale * s;
  };
  // the row log-sum-exp (computed, or the given operand in the backward modes)
  const rowLse = (b: number, i: number, h: number): number => {
    if (p.mode === 'bwd') return args[5]!.data[(b * T + i) * H + h]!;
    let m = -Infinity;
    const s = new Float64Array(S);
    for (let j = 0; j < S; j++)
      if (mask[i * S + j]) m = Math.max(m, (s[j] = score(qAt(b, i, h), kAt(b, j, Math.floor(h / G)))));
    if (m === -Infinity) return -Infinity;
    let l = 0;
    for (let j = 0; j < S; j++) if (mask[i * S + j]) l += Math.exp(s[j]! - m);
    return m + Math.log(l);
  };
  const acc = new Float64Array(2 * Dh);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / G);
      for (let i = 0; i < T; i++) {
        const qi = qAt(b, i, h);
        const L = rowLse(b, i, h);
        const delta = p.mode === 'out' ? 0 : args[6]!.data[(b * T + i) * H + h]!;
        acc.fill(0);
        for (let j = 0; j < S; j++) {
          if (!mask[i * S + j]) continue;
          const kj = kAt(b, j, g);
          const P = Math.exp(score(qi, kj) - L);
          if (p.mode === 'out') {
            for (let x = 0; x < Dh; x++) acc[x]! += P * v[kj + x]!;
            continue;
          }
          let dp = 0;
          for (let x = 0; x < Dh; x++) dp += dO![qi + x]! * v[kj + x]!;
          const dS = P * (dp - delta);
          for (let x = 0; x < Dh; x++) acc[x]! += dS * k[kj + x]!;
          // dk, dv: scatter into key j's rows (the sums over i and the group's heads)
          const dk = nq + kj;
          const dv = nq + nk + kj;
          for (let x = 0; x < Dh; x++) {
            o[dk + x] = o[dk + x]! + p.scale * dS * q[qi + x]!;
            o[dv + x] = o[dv + x]! + P * dO![qi + x]!;
          }
        }
        if (p.mode === 'out') {
          const oi = ((b * T + i) * H + h) * (Dh + 1);
          for (let x = 0; x < Dh; x++) o[oi + x] = acc[x]!;
          o[oi + Dh] = L;
        } else for (let x = 0; x < Dh; x++) o[qi + x] = p.scale * acc[x]!;
      }
    }
  if (o !== out.data) out.data.set(o);
}
