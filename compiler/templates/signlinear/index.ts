// The signlinear template: out[m, o] = (Σ_i (x[m, i] · g[i]) · ±1[o, i]) · h[o] over packed sign
// words (never unpacked to a dense matrix), then the fused epilogue.
import type { Eqn, Var } from '../../../runtime/core/ir.ts';
import { numel } from '../../../runtime/core/ir.ts';
import type { SignKernel } from '../../kir/ir.ts';
import type { Template } from '../../backends/template.ts';
import { signBody, signMethod, signScratch } from './wasm.ts';
import { emitMatvec, matvecDecls, matvecGroups, matvecVec4 } from './matvec.ts';

export const signlinear: Template<SignKernel, 'signlinear'> = {
  kind: 'signlinear',
  prim: 'signlinear',
  fuse: {
    // x, s, g; h is read by the epilogue
    buffers: [0, 1, 2],
    // ⊙ h is the first step of the epilogue
    epilogue: (cx, e, acc, index) => cx.g.bin('mul', acc, cx.at(e.args[3]!, [index[index.length - 1]!])),
    kernel(e: Eqn<'signlinear'>, common, buf) {
      const [x, s, gv] = e.args as [Var, Var, Var];
      const [O, I] = s.type.shape as [number, number];
      const xi = buf(x);
      const si = buf(s);
      const gi = buf(gv);
      return { kind: 'signlinear', ...common, outDtype: 'f32', M: numel(x.type.shape) / I, O, I, x: xi, s: si, g: gi };
    },
  },
  wasm: {
    body: (m, k, L, imports) => signBody(m, k, L, imports),
    scratch: (k) => signScratch(k).bytes + 16,
    // a thread takes output features in multiples of 4 (one SIMD store)
    parallelism: (k) => ({ units: k.O, align: 4, work: (k.M * k.O * k.I) / 4 }),
    variant: () => signMethod(),
  },
  wgsl: {
    extents: (k) => ({ B: 1, M: k.M, N: k.O, K: k.I }),
    longK: 256,
    tileLoads(w, k, { M, N, K }) {
      // A is x ⊙ g; B is ±1 decoded from one packed word per output row
      const W = Math.ceil(K / 32);
      w.line(`if (m0 + r < ${M} && k < ${K}) { va = in${k.x}[(m0 + r) * ${K} + k] * in${k.g}[k]; }`);
      w.block(`if (n0 + r < ${N} && k < ${K})`, () => {
        w.line(`let word = in${k.s}[(n0 + r) * ${W} + k / 32];`);
        w.line('vb = select(1.0f, -1.0f, ((word >> u32(k % 32)) & 1u) == 1u);');
      });
    },
    accumulate(w, k, from, step) {
      const W = Math.ceil(k.I / 32);
      w.line('var acc = 0.0f;');
      w.line(`let xrow = (flat / ${k.O}) * ${k.I};`);
      w.line(`let srow = (flat % ${k.O}) * ${W};`);
      w.block(`for (var wi = ${from}; wi < ${W}; wi += ${step})`, () => {
        w.line(`let word = in${k.s}[srow + wi];`);
        w.line(`let n = min(32, ${k.I} - wi * 32);`);
        w.block('for (var j = 0; j < n; j++)', () => {
          w.line('let col = wi * 32 + j;');
          w.line(`let v = in${k.x}[xrow + col] * in${k.g}[col];`);
          w.line('acc += select(v, -v, ((word >> u32(j)) & 1u) == 1u);');
        });
      });
    },
    vec4Inputs: (k, loads) => (matvecVec4(k, loads) ? [k.x, k.g] : []),
    decode: { groups: matvecGroups, decls: matvecDecls, emit: emitMatvec },
  },
};
