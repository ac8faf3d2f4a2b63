// The attention template: fused scaled dot-product attention in one of its modes (forward,
// log-sum-exp, dq, dk·dv; runtime/prims/attention.ts), every operand a buffer, the scores never
// materialised; same-shape elementwise consumers fuse as its epilogue.
import type { Eqn, Var } from '../../../runtime/core/ir.ts';
import type { AttnKernel } from '../../kir/ir.ts';
import type { Template } from '../../backends/template.ts';
import { attentionDims } from '../../../runtime/prims/attention.ts';
import { InternalError } from '../../syntax/diag.ts';
import { attnBody, attnScratch } from './wasm.ts';
import { attnAccumulate } from './wgsl.ts';

export const attention: Template<AttnKernel, 'attention'> = {
  kind: 'attention',
  prim: 'attention',
  fuse: {
    buffers: [0, 1, 2, 3, 4, 5, 6],
    epilogue: (_cx, _e, acc) => acc,
    kernel(e: Eqn<'attention'>, common, buf) {
      const args = e.args as Var[];
      const d = attentionDims(
        args.map((a) => a.type),
        e.params,
      );
      const at = (i: number) => (i < args.length ? buf(args[i]!) : -1);
      return {
        kind: 'attention',
        ...common,
        outDtype: 'f32',
        mode: e.params.mode,
        scale: e.params.scale,
        ...d,
        q: at(0),
        k: at(1),
        v: at(2),
        mask: at(3),
        dO: at(4),
        lse: at(5),
        delta: at(6),
      };
    },
  },
  wasm: {
    body: attnBody,
    scratch: attnScratch,
    // a thread takes whole query rows (bwd: whole (b, g) pairs, which own their dq rows)
    parallelism: (k) => ({
      units: k.mode === 'bwd' ? k.B * k.KV : k.B * k.H * k.T,
      align: 1,
      work: k.B * k.H * k.T * k.S * k.Dh * (k.mode === 'out' ? 1 : 3),
    }),
  },
  wgsl: {
    // never tiled, never one workgroup per output: one invocation per output element
    extents: (k) => ({ B: 1, M: 1, N: k.shape.reduce((a, b) => a * b, 1), K: 1 }),
    longK: Infinity,
    tileLoads() {
      throw new InternalError('wgsl: attention has no tiled form');
    },
    accumulate: (w, k) => attnAccumulate(w, k),
    vec4Inputs: () => [],
  },
};
