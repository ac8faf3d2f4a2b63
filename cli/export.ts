// obtc export MODEL --format gguf -o FILE [--type f32|f16|bf16|q8_0] [--ternary tq2_0|tq1_0]: a
// model as a file another engine runs. GGUF for llama.cpp (llm/io/gguf_write.ts): a teacher (any
// checkpoint obt reads) with its matrices in the type asked (default: the type they are kept in, so a
// round trip is bit-identical), its tokenizer in the metadata. A quantised student's linear layers
// are written in the llama.cpp type that holds them exactly (llm/io/gguf_student.ts decides it from
// the method's inference form: signs with one f16 scale per 128-block or row → Q1_0, ternary codes
// with one per 256-block → TQ2_0 or TQ1_0), its embedding, norms and head as a teacher's; a layer
// type no llama.cpp type holds is refused in one line, saying why.
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../compiler/syntax/diag.ts';
import { loadModel, type LoadedModel } from '../llm/load.ts';
import { Progress } from '../llm/progress.ts';
import { GGUF_TYPES, writeGgufFile, type GgufSource, type GgufType } from '../llm/io/gguf_write.ts';
import { encodeLayer, exactForm, layersOf } from '../llm/io/gguf_student.ts';
import { expectedShapes, linearLayers, tiedLeaves } from '../llm/io/arch.ts';
import { tiedSource } from '../llm/io/names.ts';
import { treeLeaves } from '../runtime/core/tree.ts';
import type { Tensor } from '../runtime/core/tensor.ts';
import type { LowBit } from '../llm/io/gguf_lowbit.ts';
import { str, type Command } from './args.ts';

const TYPES = Object.keys(GGUF_TYPES) as GgufType[];
const KEPT: Record<string, GgufType> = { f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0' };

/** A quantised student's tensors: its dense leaves as they are, its linear layers in the llama.cpp
 *  type that holds them exactly (or a one-line refusal saying why not). */
function studentSource(
  model: string,
  m: LoadedModel,
  ternary: LowBit,
): Pick<GgufSource, 'tensors' | 'sharedHead' | 'lowbit'> {
  const paths = linearLayers(m.arch, m.config).map((l) => l.path);
  const layers = layersOf(m.value, paths);
  const shapes = expectedShapes(m.arch, m.config);
  const [O, I] = shapes.get(`${paths[0]}.w`)!;
  const form = exactForm(m.method!, m.layer, layers.get(paths[0]!)!, O!, I!);
  if (typeof form === 'string')
    throw new UserError(
      `${model}: its linear layers (${m.layer.replace(/^method\./, '')}, method ${m.method!.name}) have no llama.cpp type that holds them exactly: ${form}`,
    );
  const type: LowBit = form.family === 'Q1_0' ? 'Q1_0' : ternary;
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
  const inLayer = (path: string) => paths.some((p) => path.startsWith(`${p}.`));
  const tensors = new Map(
    treeLeaves(m.value)
      .filter((l) => !inLayer(l.path))
      .map((l) => [l.path, l.leaf as Tensor]),
  );
  // a tied head is the embedding's tensor (a model file stores it once)
  const sharedHead = tiedLeaves(m.arch).every((p) => {
    const [a, b] = [tensors.get(p), tensors.get(tiedSource(m.arch, p))];
    return a === b || (a && b && a.data === b.data);
  });
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
  const ternaryFlag = str(flags, 'ternary') ?? 'tq2_0';
  const ternary = ternaryFlag.toUpperCase() as LowBit;
  if (ternary !== 'TQ1_0' && ternary !== 'TQ2_0')
    throw new UserError(`--ternary ${ternaryFlag}: expected tq2_0 (2.06 bits per weight) or tq1_0 (1.69)`);
  const m = await loadModel(model, str(flags, 'tokenizer'));
  const parts: Pick<GgufSource, 'tensors' | 'sharedHead' | 'lowbit'> = m.checkpoint
    ? { tensors: m.checkpoint.tensors, sharedHead: m.checkpoint.sharedHead }
    : studentSource(model, m, ternary);
  const type = asked ?? KEPT[parts.tensors.get('emb')?.stored ?? ''] ?? 'F32';
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
