// obtc export MODEL --format gguf -o FILE [--type f32|f16|bf16|q8_0]: a model as a file another
// engine runs. GGUF for llama.cpp (llm/io/gguf_write.ts): a teacher (any checkpoint obt reads) with
// its matrices in the type asked (default: the type they are kept in, so a round trip is
// bit-identical), its tokenizer in the metadata. A quantised student is refused in one line until
// its layer type maps onto a llama.cpp type exactly.
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../compiler/syntax/diag.ts';
import { loadModel } from '../llm/load.ts';
import { Progress } from '../llm/progress.ts';
import { GGUF_TYPES, writeGgufFile, type GgufType } from '../llm/io/gguf_write.ts';
import { str, type Command } from './args.ts';

const TYPES = Object.keys(GGUF_TYPES) as GgufType[];
const KEPT: Record<string, GgufType> = { f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0' };

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
  const m = await loadModel(model, str(flags, 'tokenizer'));
  if (!m.checkpoint)
    throw new UserError(
      `${model}: its linear layers are ${m.layer}${m.method ? ` (method ${m.method.name})` : ''}, which no llama.cpp type holds exactly; only dense checkpoints (teachers) are exported to GGUF so far`,
    );
  const ck = m.checkpoint;
  const type = asked ?? KEPT[ck.tensors.get('emb')?.stored ?? ''] ?? 'F32';
  let bar: Progress | undefined;
  const written = writeGgufFile(
    out,
    {
      arch: m.arch,
      config: m.config,
      tensors: ck.tensors,
      sharedHead: ck.sharedHead,
      tokenizer: m.tokenizer.data,
      name: basename(model).replace(/\.(bin|gguf|safetensors)$/, ''),
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
