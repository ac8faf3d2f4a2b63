// `obtc export --approximate`: a quantised student whose layer type no llama.cpp type holds exactly
// (OneBit's g and h, LittleBit's two sign factors, …) written in the nearest type, the loss shown.
// Each layer's matrix is what its own `apply` computes — W = apply(layer, I)ᵀ, run once on the
// identity, so any method's form folds (OneBit: W = diag(h) S diag(g)) — then, per layer:
//   rows of whole 128-blocks → Q1_0: signs of W, d = f16(mean |W| over the block) (the scale that
//     minimises the block's squared error for those signs);
//   with --ternary and rows of whole 256-blocks → TQ2_0/TQ1_0: γ = f16(mean |W| per block),
//     t = clip(round(W / γ), −1, 1) (BitNet's absmean);
//   otherwise the dense W in the dense matrices' type (F32/F16/BF16/Q8_0), with a note.
// The same approximation as a dense Llama (its matrices the values written) gives the perplexity
// after; the student itself the perplexity before.
import { compile, type Device } from '../compiler/api.ts';
import { CompileError } from '../compiler/syntax/diag.ts';
import { methodCompileOptions, type Method } from './method.ts';
import { roundF16, type Tensor } from '../runtime/core/tensor.ts';
import { floatsToStored } from '../runtime/core/stored_encode.ts';
import { storedToFloats } from '../runtime/core/stored.ts';
import { encodeQ1_0, encodeTQ, type LowBit } from './io/gguf_lowbit.ts';
import { STORED_OF, type GgufType } from './io/gguf_write.ts';

/** One layer as approximated: its bytes in a low-bit type, or its dense matrix; and the values written. */
export interface Approximated {
  lowbit?: { type: LowBit; bytes: Uint8Array };
  /** the f32 matrix [O, I] of the values written (what llama.cpp multiplies by) */
  w: Float32Array;
  note?: string;
}

/** The dense matrices [O, I] of a method's layers: apply(layer, eye(I)) transposed. */
export function denseOf(
  method: Method,
  layerType: string,
  device: Device,
): (layer: Record<string, Tensor>, O: number, I: number) => Float32Array {
  const src = 'import method\npub fn dense[Lin, I, O](l: Lin[I, O], x: f32[I, I]) -> f32[I, O] = apply(l, x)\n';
  const prog = compile(src, { path: `${method.file}#gguf-dense.obt`, ...methodCompileOptions(method) });
  if (!prog.ok) throw new CompileError(prog.diagnostics);
  return (layer, O, I) => {
    const eye = new Float32Array(I * I);
    for (let i = 0; i < I; i++) eye[i * I + i] = 1;
    const r = prog.runSync('dense', [layer, { dtype: 'f32', shape: [I, I], data: eye }], {
      types: { Lin: layerType },
      device,
    });
    const y = r.tensors[0]!.data; // [I, O]: row i is W's column i
    const w = new Float32Array(O * I);
    for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) w[o * I + i] = y[i * O + o]!;
    return w;
  };
}

/** Signs (bit 1 = −1) of a matrix's values t(o, i) < 0, packed 32 per word (rows whole words). */
function packRows(O: number, I: number, neg: (at: number) => boolean): Uint32Array {
  const words = new Uint32Array((O * I) / 32);
  for (let at = 0; at < O * I; at++) if (neg(at)) words[at >>> 5]! |= 1 << (at & 31);
  return words;
}

/** One layer's matrix [O, I] in the nearest llama.cpp type (see the file's comment). */
export function approximate(
  w: Float32Array,
  O: number,
  I: number,
  ternary: LowBit | undefined,
  dense: GgufType,
): Approximated {
  const B = ternary ? 256 : 128;
  if (I % B) {
    // as the writer writes it (Q8_0 rows that are not whole blocks of 32 go F16)
    const ty = dense === 'Q8_0' && I % 32 ? 'F16' : dense;
    const stored = STORED_OF[ty];
    return {
      w: stored ? storedToFloats(stored, floatsToStored(stored, w)) : w,
      note: `rows of ${I} weights are not whole ${ternary ?? 'Q1_0'} blocks of ${B}: written as ${ty} (the layer's dense matrix)`,
    };
  }
  const K = I / B;
  const d = new Float32Array(O * K);
  for (let o = 0; o < O; o++)
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let i = k * B; i < (k + 1) * B; i++) s += Math.abs(w[o * I + i]!);
      d[o * K + k] = roundF16(s / B);
    }
  const scale = (at: number) => d[Math.floor(at / I) * K + Math.floor((at % I) / B)]!;
  if (!ternary) {
    const s = packRows(O, I, (at) => w[at]! < 0);
    const out = Float32Array.from(w, (v, at) => (v < 0 ? -scale(at) : scale(at)));
    return { lowbit: { type: 'Q1_0', bytes: encodeQ1_0(s, d, O, I) }, w: out };
  }
  const t = Int8Array.from(w, (v, at) => {
    const g = scale(at);
    return g > 0 ? Math.max(-1, Math.min(1, Math.round(v / g))) : 0;
  });
  const sa = packRows(O, I, (at) => t[at]! < 0);
  const sb = packRows(O, I, (at) => t[at]! <= 0);
  const out = Float32Array.from(t, (v, at) => v * scale(at));
  return { lowbit: { type: ternary, bytes: encodeTQ(ternary as 'TQ1_0' | 'TQ2_0', sa, sb, d, O, I) }, w: out };
}
