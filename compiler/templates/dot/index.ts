// The dot template: out[b, m, n] = Σ_k A[b, m, k] · B[b, n, k] over contiguous operands (the
// canonical dot_general layout of compiler/fuse/prepare.ts), then the fused epilogue.
import type { Eqn, Var } from '../../../runtime/core/ir.ts';
import { numel } from '../../../runtime/core/ir.ts';
import type { DotKernel } from '../../kir/ir.ts';
import type { Template } from '../../backends/template.ts';
import { inAt } from '../../backends/webgpu/emit/stored.ts';
import { dotBody, dotScratch, dotSplit, NR } from './wasm.ts';

export const dot: Template<DotKernel, 'dot_general'> = {
  kind: 'dot',
  prim: 'dot_general',
  fuse: {
    buffers: [0, 1],
    epilogue: (_cx, _e, acc) => acc,
    kernel(e: Eqn<'dot_general'>, common, buf) {
      const [a, bb] = e.args as [Var, Var];
      const nb = e.params.batch[0].length;
      const nc = e.params.contract[0].length;
      const B = numel(a.type.shape.slice(0, nb));
      const K = numel(a.type.shape.slice(a.type.shape.length - nc));
      const M = numel(a.type.shape.slice(nb, a.type.shape.length - nc));
      const N = numel(bb.type.shape.slice(nb, bb.type.shape.length - nc));
      const ai = buf(a);
      const bi = buf(bb);
      return { kind: 'dot', ...common, B, M, N, K, a: ai, b: bi };
    },
  },
  wasm: {
    body: dotBody,
    scratch: dotScratch,
    // a thread takes whole blocks of NR rows of B, or blocks of 4 rows of A (dotSplit)
    parallelism: (k) =>
      dotSplit(k) === 'M'
        ? { units: k.M, align: 4, work: k.M * k.N * k.K }
        : { units: k.N, align: NR, work: k.B * k.M * k.N * k.K },
  },
  wgsl: {
    extents: (k) => ({ B: k.B, M: k.M, N: k.N, K: k.K }),
    longK: 128,
    tileLoads(w, k, { M, N, K }) {
      w.line(`if (m0 + r < ${M} && k < ${K}) { va = ${inAt(k, k.a, `(bb * ${M} + m0 + r) * ${K} + k`)}; }`);
      w.line(`if (n0 + r < ${N} && k < ${K}) { vb = ${inAt(k, k.b, `(bb * ${N} + n0 + r) * ${K} + k`)}; }`);
    },
    accumulate(w, k, from, step, vec4) {
      w.line('var acc = 0.0f;');
      w.line(`let arow = ((flat / ${k.N}) * ${k.K});`);
      w.line(`let brow = ((flat / ${k.M * k.N}) * ${k.N} + flat % ${k.N}) * ${k.K};`);
      if (vec4)
        w.block(`for (var kk = ${from}; kk < ${k.K / 4}; kk += ${step})`, () =>
          w.line(`acc += dot(in${k.a}[arow / 4 + kk], in${k.b}[brow / 4 + kk]);`),
        );
      else
        w.block(`for (var kk = ${from}; kk < ${k.K}; kk += ${step})`, () =>
          w.line(`acc += ${inAt(k, k.a, 'arow + kk')} * ${inAt(k, k.b, 'brow + kk')};`),
        );
    },
    // the matvec form reads both operands as vec4 when K is a multiple of 4 (and neither is stored)
    vec4Inputs: (k, loads) =>
      k.K % 4 === 0 && !loads.has(k.a) && !loads.has(k.b) && !k.ins[k.a]?.stored && !k.ins[k.b]?.stored
        ? [k.a, k.b]
        : [],
  },
};
