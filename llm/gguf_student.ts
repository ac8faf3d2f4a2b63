// Which llama.cpp type holds a quantised model's linear layers exactly, decided from the method's
// inference form — what it stores, then what its `apply` computes — never from its name:
//   storage: the layer's fields are one sign[O, I] (Q1_0) or two (ternary codes t = ½ (s_a + s_b):
//     TQ2_0 / TQ1_0) and one f32 scale per block (Q1_0: 128 columns, TQ*: 256), per row or per
//     tensor; nothing else (OneBit's g and h scale the inputs and outputs: no llama.cpp type does);
//   semantics: the method's own `apply`, run by the reference interpreter on a random layer of that
//     form, must be x · Wᵀ of the matrix the type means (W = d ⊙ s, or d ⊙ t), up to a power-of-two
//     factor folded into d (a method may store d/2);
//   values: every scale times that factor must be an f16 value exactly, and rows whole blocks.
// A layer that passes is written bit for bit (llm/io/gguf_lowbit.ts); one that does not gets the
// reason in one line.
import { compile } from '../compiler/api.ts';
import { CompileError } from '../compiler/syntax/diag.ts';
import { methodCompileOptions, type Method } from './method.ts';
import { isTensor, treeLeaves } from '../runtime/core/tree.ts';
import { roundF16, type Tensor } from '../runtime/core/tensor.ts';
import { encodeQ1_0, encodeTQ, LOWBIT, type LowBit } from './io/gguf_lowbit.ts';

/** How a layer type maps onto a llama.cpp type: which fields are the signs and the scale. */
export interface ExactForm {
  family: 'Q1_0' | 'ternary';
  signs: string[];
  scale: string;
  /** the power of two the stored scale is multiplied by to give llama.cpp's d */
  factor: number;
}

type Layer = Record<string, Tensor>;
const shapeStr = (t: Tensor) => `${t.dtype}[${t.shape.join(', ')}]`;

/** The storage form of a layer of [O, I] (its fields' dtypes and shapes), or why there is none. */
function storageForm(layer: Layer, O: number, I: number): Omit<ExactForm, 'factor'> | string {
  const fields = Object.entries(layer);
  const signs = fields.filter(
    ([, t]) => t.dtype === 'sign' && t.shape.length === 2 && t.shape[0] === O && t.shape[1] === I,
  );
  const rest = fields.filter(([, t]) => !signs.some(([, s]) => s === t));
  const stores = fields.map(([n, t]) => `${n}: ${shapeStr(t)}`).join(', ');
  const why = (s: string) => `it stores ${stores}: ${s}`;
  if (signs.length < 1 || signs.length > 2)
    return why('a llama.cpp type holds one sign matrix (Q1_0) or two (ternary codes: TQ1_0, TQ2_0)');
  if (rest.length !== 1 || rest[0]![1].dtype !== 'f32')
    return why(
      `besides the signs a llama.cpp type holds one scale per block, row or tensor; ${rest.length ? `${rest.map(([n]) => n).join(', ')} would be lost` : 'no scale'}`,
    );
  const family = signs.length === 1 ? 'Q1_0' : 'ternary';
  const B = family === 'Q1_0' ? 128 : 256;
  const [name, d] = rest[0]!;
  const perBlock = d.shape.length === 2 && d.shape[0] === O && d.shape[1]! * B === I;
  const perRow = d.shape.length === 1 && d.shape[0] === O;
  if (!perBlock && !perRow && d.shape.length !== 0)
    return why(`the scale ${name} is not one per block of ${B} (f32[${O}, ${I / B}]), per row or per tensor`);
  if (I % B) return `its rows of ${I} weights are not whole ${family === 'Q1_0' ? 'Q1_0' : 'TQ'} blocks of ${B}`;
  return { family, signs: signs.map(([n]) => n), scale: name };
}

/** A deterministic random generator (the probe's layer and inputs). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Runs the method's `apply` on a random layer of the form (O = 4 outputs, two blocks per row)
 *  and returns the power of two p with apply(l, x) = p · x · Wᵀ, or why there is none. */
function probe(method: Method, layerType: string, form: Omit<ExactForm, 'factor'>, scaleRank: number): number | string {
  const B = form.family === 'Q1_0' ? 128 : 256;
  const [O, I, M] = [4, 2 * B, 3];
  const r = rng(12345);
  const words = (): Tensor => ({
    dtype: 'sign',
    shape: [O, I],
    data: Uint32Array.from({ length: (O * I) / 32 }, () => Math.floor(r() * 2 ** 32)),
  });
  const dShape = [[], [O], [O, 2]][scaleRank]!;
  const d: Tensor = {
    dtype: 'f32',
    shape: dShape,
    data: Float32Array.from({ length: dShape.reduce((a, b) => a * b, 1) }, () => roundF16(0.25 + r())),
  };
  const layer: Record<string, Tensor> = { [form.scale]: d };
  for (const s of form.signs) layer[s] = words();
  const x: Tensor = { dtype: 'f32', shape: [M, I], data: Float32Array.from({ length: M * I }, () => r() * 2 - 1) };
  const src = 'import method\npub fn probe[Lin, I, O, M](l: Lin[I, O], x: f32[M, I]) -> f32[M, O] = apply(l, x)\n';
  const prog = compile(src, { path: `${method.file}#gguf-probe.obt`, ...methodCompileOptions(method) });
  if (!prog.ok) throw new CompileError(prog.diagnostics);
  const y = prog.runSync('probe', [layer, x], { types: { Lin: layerType } }).tensors[0]!.data;
  // W[o, i] = d(o, i) · (s or ½ (s_a + s_b)), in f64
  const bit = (t: Tensor, o: number, i: number) => ((t.data as Uint32Array)[o * (I / 32) + (i >> 5)]! >>> (i & 31)) & 1;
  const scale = (o: number, i: number) =>
    d.data[scaleRank === 0 ? 0 : scaleRank === 1 ? o : o * 2 + Math.floor(i / B)]!;
  const w = (o: number, i: number) =>
    (scale(o, i) * form.signs.reduce((a, s) => a + (1 - 2 * bit(layer[s]!, o, i)), 0)) / form.signs.length;
  const ref = new Float64Array(M * O);
  for (let m = 0; m < M; m++)
    for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) ref[m * O + o] += x.data[m * I + i]! * w(o, i);
  let yr = 0;
  let rr = 0;
  for (let k = 0; k < ref.length; k++) [yr, rr] = [yr + y[k]! * ref[k]!, rr + ref[k]! * ref[k]!];
  const p = 2 ** Math.round(Math.log2(Math.abs(yr / rr)));
  let err = 0;
  let norm = 0;
  for (let k = 0; k < ref.length; k++) [err, norm] = [err + (y[k]! - p * ref[k]!) ** 2, norm + y[k]! ** 2];
  if (!(yr > 0) || !(Math.sqrt(err) <= 1e-5 * Math.sqrt(norm)))
    return `its apply is not x · Wᵀ of what it stores (W = the scale ⊙ ${form.family === 'Q1_0' ? 'the signs' : '½ (s_a + s_b)'}): it changes the inputs or outputs in a way no llama.cpp type records`;
  return p;
}

/** The exact form of a quantised model's layers (the first layer decides the storage form; the
 *  probe runs once), or why there is none. */
export function exactForm(method: Method, layerType: string, first: Layer, O: number, I: number): ExactForm | string {
  const form = storageForm(first, O, I);
  if (typeof form === 'string') return form;
  const factor = probe(method, layerType, form, first[form.scale]!.shape.length);
  return typeof factor === 'string' ? factor : { ...form, factor };
}

/** The layer's bytes in `type` (Q1_0, or TQ1_0 / TQ2_0 for a ternary form), or why its values do
 *  not fit (a scale that is not an f16 value, a sign plane pair that is not ternary). */
export function encodeLayer(form: ExactForm, type: LowBit, layer: Layer, what: string): Uint8Array | string {
  const [O, I] = layer[form.signs[0]!]!.shape as [number, number];
  const B = LOWBIT[type].values;
  const src = layer[form.scale]!;
  const K = I / B;
  const d = new Float32Array(O * K);
  for (let o = 0; o < O; o++)
    for (let k = 0; k < K; k++) {
      const v = src.data[src.shape.length === 0 ? 0 : src.shape.length === 1 ? o : o * K + k]! * form.factor;
      if (roundF16(v) !== v || !Number.isFinite(v))
        return `${what}: scale ${v} (row ${o}, block ${k}) is not an f16 value, which ${type} stores`;
      d[o * K + k] = v;
    }
  const words = (n: string) => layer[n]!.data as Uint32Array;
  return type === 'Q1_0'
    ? encodeQ1_0(words(form.signs[0]!), d, O, I)
    : encodeTQ(type, words(form.signs[0]!), words(form.signs[1]!), d, O, I);
}

/** The layers of a model value at the given layer paths. */
export function layersOf(value: unknown, paths: string[]): Map<string, Layer> {
  const leaves = new Map(treeLeaves(value).map((l) => [l.path, l.leaf]));
  return new Map(
    paths.map((p) => {
      const fields: Layer = {};
      for (const [path, t] of leaves) if (path.startsWith(`${p}.`) && isTensor(t)) fields[path.slice(p.length + 1)] = t;
      return [p, fields];
    }),
  );
}
