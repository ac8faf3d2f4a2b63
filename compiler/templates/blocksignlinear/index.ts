// The blocksignlinear template: out[m, o] = Σ_k d[o, k] · Σ_{i in block k} x[m, i] · ±1[o, i] over
// packed sign words (llama.cpp's Q1_0 and, as two sign planes, its ternary types), never unpacked
// to a dense matrix. The Wasm and WGSL emitters are signlinear's (signlinear/wasm.ts, matvec.ts)
// with the block scale applied per tile / per word; the epilogue starts from the sum itself.
import type { Eqn, Var } from '../../../runtime/core/ir.ts';
import { numel } from '../../../runtime/core/ir.ts';
import type { BlockSignKernel } from '../../kir/ir.ts';
import type { Template } from '../../backends/template.ts';
import { signBody, signScratch } from '../signlinear/wasm.ts';
import { emitMatvec, matvecDecls, matvecGroups, matvecVec4 } from '../signlinear/matvec.ts';

export const blocksignlinear: Template<BlockSignKernel, 'blocksignlinear'> = {
  kind: 'blocksignlinear',
  prim: 'blocksignlinear',
  fuse: {
    buffers: [0, 1, 2],
    epilogue: (_cx, _e, acc) => acc,
    kernel(e: Eqn<'blocksignlinear'>, common, buf) {
      const [x, s, d] = e.args as [Var, Var, Var];
      const [O, I] = s.type.shape as [number, number];
      const K = d.type.shape[1]!;
      return {
        kind: 'blocksignlinear',
        ...common,
        outDtype: 'f32',
        M: numel(x.type.shape) / I,
        O,
        I,
        K,
        x: buf(x),
        s: buf(s),
        d: buf(d),
      };
    },
  },
  wasm: {
    body: (m, k, L, imports) => signBody(m, k, L, imports, 'lut'),
    scratch: (k) => signScratch(k, 'lut').bytes + 16,
    parallelism: (k) => ({ units: k.O, align: 4, work: (k.M * k.O * k.I) / 4 }),
  },
  wgsl: {
    extents: (k) => ({ B: 1, M: k.M, N: k.O, K: k.I }),
    longK: 256,
    tileLoads(w, k, { M, N, K }) {
      // A is x; B is ±d[n, block] decoded from one packed word per output row
      const W = Math.ceil(K / 32);
      w.line(`if (m0 + r < ${M} && k < ${K}) { va = in${k.x}[(m0 + r) * ${K} + k]; }`);
      w.block(`if (n0 + r < ${N} && k < ${K})`, () => {
        w.line(`let word = in${k.s}[(n0 + r) * ${W} + k / 32];`);
        w.line(`let dv = in${k.d}[(n0 + r) * ${k.K} + k / ${k.I / k.K}];`);
        w.line('vb = select(dv, -dv, ((word >> u32(k % 32)) & 1u) == 1u);');
      });
    },
    accumulate(w, k, from, step) {
      const W = Math.ceil(k.I / 32);
      w.line('var acc = 0.0f;');
      w.line(`let xrow = (flat / ${k.O}) * ${k.I};`);
      w.line(`let o = flat % ${k.O};`);
      w.block(`for (var wi = ${from}; wi < ${W}; wi += ${step})`, () => {
        w.line(`let word = in${k.s}[o * ${W} + wi];`);
        w.line('var part = 0.0f;');
        w.block('for (var j = 0; j < 32; j++)', () => {
          w.line(`let v = in${k.x}[xrow + wi * 32 + j];`);
          w.line('part += select(v, -v, ((word >> u32(j)) & 1u) == 1u);');
        });
        w.line(`acc += part * in${k.d}[o * ${k.K} + wi / ${k.I / k.K / 32}];`);
      });
    },
    vec4Inputs: (k, loads) => (matvecVec4(k, loads) ? [k.x] : []),
    decode: { groups: matvecGroups, decls: matvecDecls, emit: emitMatvec },
  },
};
