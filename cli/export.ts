// obtc export MODEL --format gguf -o FILE [--type f32|f16|bf16|q8_0] [--ternary tq2_0|tq1_0]: a
// model as a file another engine runs. GGUF for llama.cpp (llm/io/gguf_write.ts): a teacher (any
// checkpoint obt reads) with its matrices in the type asked (default: the type they are kept in, so a
// round trip is bit-identical), its tokenizer in the metadata. A quantised student's linear layers
// are written in the llama.cpp type that holds them exactly (llm/gguf_student.ts decides it from
// the method's inference form: signs with one f16 scale per 128-block or row → Q1_0, ternary codes
// with one per 256-block → TQ2_0 or TQ1_0), its embedding, norms and head as a teacher's; a layer
// type no llama.cpp type holds is refused in one line, saying why; with --approximate it is written
// in the nearest type (llm/gguf_approx.ts) and the perplexity before and after is printed.
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../compiler/syntax/diag.ts';
import { loadModel, type LoadedModel } from '../llm/load.ts';
import { Progress } from '../llm/progress.ts';
import { GGUF_TYPES, writeGgufFile, type GgufSource, type GgufType } from '../llm/io/gguf_write.ts';
import { encodeLayer, exactForm, layersOf } from '../llm/gguf_student.ts';
import { expectedShapes, linearLayers, modelValue, tiedLeaves } from '../llm/io/arch.ts';
import { tiedSource } from '../llm/io/names.ts';
import { treeLeaves } from '../runtime/core/tree.ts';
import type { Tensor } from '../runtime/core/tensor.ts';
import type { LowBit } from '../llm/io/gguf_lowbit.ts';
import { approximate, denseOf } from '../llm/gguf_approx.ts';
import { ModelRunner, type RunnableModel } from '../llm/runner.ts';
import { checkFinitePpl, firstWindows, perplexity, tokenStream, windowCount } from '../llm/eval.ts';
import { DEFAULT_EVAL } from '../llm/defaults.ts';
import { num, str, type CliIO as Io, type Command, type Flags } from './args.ts';

const TYPES = Object.keys(GGUF_TYPES) as GgufType[];
const KEPT: Record<string, GgufType> = { f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0' };

/** --ternary tq2_0|tq1_0: the type of ternary layers. */
function ternaryOf(flags: Flags): LowBit | undefined {
  const flag = str(flags, 'ternary');
  const t = flag?.toUpperCase() as LowBit | undefined;
  if (t !== undefined && t !== 'TQ1_0' && t !== 'TQ2_0')
    throw new UserError(`--ternary ${flag}: expected tq2_0 (2.06 bits per weight) or tq1_0 (1.69)`);
  return t;
}

type Parts = Pick<GgufSource, 'tensors' | 'sharedHead' | 'lowbit'>;

/** A student's dense leaves (embedding, norms, head) by path, and whether its head is its embedding. */
function denseLeaves(m: LoadedModel, layerPaths: string[]): { tensors: Map<string, Tensor>; sharedHead: boolean } {
  const inLayer = (path: string) => layerPaths.some((p) => path.startsWith(`${p}.`));
  const tensors = new Map(
    treeLeaves(m.value)
      .filter((l) => !inLayer(l.path))
      .map((l) => [l.path, l.leaf as Tensor]),
  );
  // a tied head is the embedding's tensor (a model file stores it once)
  const sharedHead = tiedLeaves(m.arch).every((p) => {
    const [a, b] = [tensors.get(p), tensors.get(tiedSource(m.arch, p))];
    return a === b || (a !== undefined && b !== undefined && a.data === b.data);
  });
  if (sharedHead) for (const p of tiedLeaves(m.arch)) tensors.delete(p);
  return { tensors, sharedHead };
}

/** A quantised student's tensors: its dense leaves as they are, its linear layers in the llama.cpp
 *  type that holds them exactly; where none does, the nearest (--approximate) or a one-line refusal. */
async function studentSource(model: string, m: LoadedModel, flags: Flags, io: Io, dense: GgufType): Promise<Parts> {
  const paths = linearLayers(m.arch, m.config).map((l) => l.path);
  const layers = layersOf(m.value, paths);
  const shapes = expectedShapes(m.arch, m.config);
  const shape = (p: string) => shapes.get(`${p}.w`)! as [number, number];
  const [O, I] = shape(paths[0]!);
  const ternary = ternaryOf(flags);
  const form = exactForm(m.method!, m.layer, layers.get(paths[0]!)!, O, I);
  const what = `${model}: its linear layers (${m.layer.replace(/^method\./, '')}, method ${m.method!.name})`;
  if (typeof form === 'string') {
    if (!flags.has('approximate'))
      throw new UserError(
        `${what} have no llama.cpp type that holds them exactly: ${form}; --approximate writes the nearest type and prints the perplexity before and after`,
      );
    return approximated(m, flags, io, dense, ternary, { paths, layers, shape, what });
  }
  if (flags.has('approximate')) io.err(`note: ${what} are exactly a llama.cpp type: --approximate has nothing to do\n`);
  const type: LowBit = form.family === 'Q1_0' ? 'Q1_0' : (ternary ?? 'TQ2_0');
  const lowbit = new Map(
    paths.map((p) => [
      `${p}.w`,
      {
        type,
        bytes: () => {
          const b = encodeLayer(form, type, layers.get(p)!, p);
          if (typeof b === 'string') throw new UserError(`${model}: ${b}`);
          return b;
        },
      },
    ]),
  );
  return { ...denseLeaves(m, paths), lowbit };
}

/** --approximate: every layer's matrix (its apply on the identity) in the nearest llama.cpp type;
 *  the perplexity of the student and of what is written, on --text. */
async function approximated(
  m: LoadedModel,
  flags: Flags,
  io: Io,
  dense: GgufType,
  ternary: LowBit | undefined,
  ctx: {
    paths: string[];
    layers: Map<string, Record<string, Tensor>>;
    shape: (p: string) => [number, number];
    what: string;
  },
): Promise<Parts> {
  const textFile = str(flags, 'text') ?? DEFAULT_EVAL;
  let text: string;
  try {
    text = readFileSync(textFile, 'utf8');
  } catch {
    throw new UserError(`cannot read ${textFile}`);
  }
  const seq = Math.min(256, m.config.seqLen);
  const windows = num(flags, 'eval-windows', 20, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  const stream = firstWindows(tokenStream(text, m.tokenizer), seq, windows);
  const n = windowCount(stream.length, seq);
  if (!n) throw new UserError(`${textFile} has ${stream.length} tokens, fewer than one window of ${seq + 1}`);
  const device = { kind: 'wasm' } as const;
  const bar = (name: string, total: number) =>
    new Progress(name, total, { write: (s: string) => io.err(s), isTTY: process.stderr.isTTY });
  const matrixOf = denseOf(m.method!, m.layer, device);
  const b = bar('fold', ctx.paths.length);
  const lowbit = new Map<string, { type: LowBit; bytes: () => Uint8Array }>();
  const { tensors: kept, sharedHead } = denseLeaves(m, ctx.paths);
  const tensors = new Map(kept);
  const written = new Map<string, Tensor>(); // the values written, for the perplexity after
  const notes = new Set<string>();
  ctx.paths.forEach((p, i) => {
    const [O, I] = ctx.shape(p);
    const a = approximate(matrixOf(ctx.layers.get(p)!, O, I), O, I, ternary, dense);
    const wt: Tensor = { dtype: 'f32', shape: [O, I], data: a.w };
    written.set(`${p}.w`, wt);
    if (a.lowbit) lowbit.set(`${p}.w`, { type: a.lowbit.type, bytes: () => a.lowbit!.bytes });
    else tensors.set(`${p}.w`, wt);
    if (a.note) notes.add(a.note);
    b.update(i + 1);
  });
  for (const note of notes) io.err(`note: ${note}\n`);
  const ppl = async (r: RunnableModel, name: string) => {
    const runner = ModelRunner.fromFile(r, device);
    const res = await perplexity(stream, seq, (ids, t) => runner.nll(ids, t), bar(name, n));
    return checkFinitePpl(res, `${ctx.what.split(':')[0]} (${name})`).ppl;
  };
  const before = await ppl(m, 'ppl before');
  const ck = { file: m.file, format: 'gguf' as const, arch: m.arch, config: m.config, sharedHead };
  const value = modelValue({ ...ck, tensors: new Map([...tensors, ...written]) });
  const after = await ppl({ arch: m.arch, config: m.config, value, layer: 'Dense', file: m.file }, 'ppl after');
  io.out(
    `approximate: perplexity ${before.toFixed(4)} (the student) -> ${after.toFixed(4)} (as written) on ${textFile}, ${n} window(s) of ${seq}\n`,
  );
  return { tensors, sharedHead, lowbit };
}

export const exportCmd: Command = async (pos, flags, io) => {
  const [model, ...rest] = pos;
  if (!model || rest.length) throw new UserError('export needs one MODEL (a checkpoint file or a Hugging Face folder)');
  const format = str(flags, 'format');
  if (format !== 'gguf') throw new UserError(`export --format ${format ?? '(missing)'}: expected gguf`);
  const out = str(flags, 'o');
  if (!out) throw new UserError('export needs -o FILE');
  const typeFlag = str(flags, 'type');
  const asked = typeFlag?.toUpperCase() as GgufType | undefined;
  if (asked !== undefined && !TYPES.includes(asked))
    throw new UserError(`--type ${typeFlag}: expected ${TYPES.map((t) => t.toLowerCase()).join(', ')}`);
  ternaryOf(flags);
  const m = await loadModel(model, str(flags, 'tokenizer'));
  if (!m.arch.gguf.length)
    throw new UserError(
      `${model}: llama.cpp has no architecture for ${m.arch.name} (${m.arch.model}; its name map llm/io/names/${m.arch.name}.json gives no "gguf" name)`,
    );
  if (m.tokenizer.data.char)
    throw new UserError(
      `${model}: its tokenizer is character-level (obtc train --tokenizer char), which GGUF has no type for (llama.cpp's tokenizers have BOS/EOS and merges or byte fallback)`,
      undefined,
      'train with a tokenizer file (--tokenizer tokenizer.bin or tokenizer.json) to export to llama.cpp',
    );
  const kept = (m.value as { emb?: Tensor }).emb;
  const type = asked ?? KEPT[kept?.stored ?? ''] ?? 'F32';
  // a dense model file (obtc train's full-precision result) is a teacher: every leaf as it is
  const parts: Parts = m.checkpoint
    ? { tensors: m.checkpoint.tensors, sharedHead: m.checkpoint.sharedHead }
    : m.layer === 'Dense'
      ? denseLeaves(m, [])
      : await studentSource(model, m, flags, io, type);
  let bar: Progress | undefined;
  const written = writeGgufFile(
    out,
    {
      arch: m.arch,
      config: m.config,
      ...parts,
      tokenizer: m.tokenizer.data,
      name: basename(model).replace(/\.(bin|gguf|safetensors|obtm)$/, ''),
    },
    type,
    (done, total) => {
      bar ??= new Progress('export', total, { write: (s: string) => io.err(s), isTTY: process.stderr.isTTY });
      bar.update(done);
    },
  );
  for (const w of written) if (w.note) io.err(`note: ${w.name}: ${w.note}\n`);
  const count = new Map<string, number>();
  for (const w of written) count.set(w.type, (count.get(w.type) ?? 0) + 1);
  const types = [...count].map(([t, n]) => `${n} ${t}`).join(', ');
  io.out(`wrote ${out}: ${m.arch.name}, ${written.length} tensors (${types}), ${statSync(out).size} bytes\n`);
  return 0;
};
