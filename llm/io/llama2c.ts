// Loader for llama2.c's legacy checkpoint (.bin): a header of 7 int32 (dim, hidden_dim, n_layers,
// n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means a separate classifier),
// then fp32 tensors in a fixed order, each stacked over layers (run.c memory_map_weights): the
// order of llm/io/names/llama.json's llama2c convention.
import { LoadError, validateConfig, headDim, type Checkpoint, type LlamaConfig } from './model.ts';
import { expectedShapes, fileName, tiedLeaves, validateTensors } from './arch.ts';
import { LLAMA, conventionRows } from './names.ts';
import { sourcedTensor, type Tensor } from '../../runtime/core/tensor.ts';
import { bytesSource, checkedRead, readAt, type ByteSource } from './source.ts';

/** A llama2.c checkpoint (its bytes, or a file read tensor by tensor): the header checked, every
 *  tensor's values scanned a chunk at a time, each kept as where it lies (a backend reads it from
 *  there straight into its memory). */
export function parseLlama2c(file: string, bytes: Uint8Array | ByteSource): Checkpoint {
  const src = bytes instanceof Uint8Array ? bytesSource(file, bytes) : bytes;
  const size = src.size;
  if (size < 28) throw new LoadError(file, `truncated: ${size} bytes is shorter than the 28-byte llama2.c header`);
  const dv = new DataView(readAt(src, 0, 28).buffer);
  const h = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, true));
  const [dim, hidden, layers, heads, kvHeads, vocabRaw, seqLen] = h as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const sharedHead = vocabRaw > 0;
  const config: LlamaConfig = {
    dim,
    hidden,
    layers,
    heads,
    kvHeads,
    vocab: Math.abs(vocabRaw),
    seqLen,
    eps: 1e-5,
    ropeTheta: 10000,
  };
  try {
    validateConfig(file, config);
  } catch (e) {
    if (e instanceof LoadError)
      throw new LoadError(
        file,
        `not a llama2.c checkpoint (header ${h.join(', ')}): ${e.message.slice(file.length + 2)}`,
      );
    throw e;
  }
  // the file's order: the name map's llama2c entries in order, a block's stacked over the layers,
  // and llama2.c's two RoPE tables [seq_len, head_size / 2] (unused: obt computes RoPE) before
  // the classifier (the tied leaf, absent when the embedding is the classifier)
  const arch = LLAMA;
  const shapes = expectedShapes(arch, config);
  const tied = tiedLeaves(arch);
  const hs = headDim(config);
  const order: { path?: string; shape: number[]; stacked: boolean }[] = [];
  for (const [template] of conventionRows(arch, 'llama2c')) {
    const stacked = template.includes('{l}');
    const path = template.replace('{l}', '0');
    if (tied.includes(path)) {
      order.push({ shape: [seqLen, hs / 2], stacked: false }, { shape: [seqLen, hs / 2], stacked: false });
      if (sharedHead) continue;
    }
    order.push({ path: template, shape: shapes.get(path)!, stacked });
  }
  const floats = order.reduce((s, o) => s + o.shape.reduce((a, b) => a * b, 1) * (o.stacked ? layers : 1), 0);
  const want = 28 + floats * 4;
  if (size < want)
    throw new LoadError(
      file,
      `truncated: ${size} bytes, but a llama2.c checkpoint with dim=${dim} hidden=${hidden} layers=${layers} heads=${heads} kv_heads=${kvHeads} vocab=${config.vocab} seq_len=${seqLen} needs ${want}`,
    );
  if (size > want)
    throw new LoadError(
      file,
      `${size - want} unexpected trailing bytes after the last tensor (expected ${want} bytes in all)`,
    );
  const tensors = new Map<string, Tensor>();
  let off = 0;
  for (const { path, shape, stacked } of order) {
    const n = shape.reduce((a, b) => a * b, 1);
    for (let l = 0; l < (stacked ? layers : 1); l++) {
      const at = 28 + off * 4;
      if (path) {
        const leaf = path.replace('{l}', String(l));
        const name = fileName({ arch, format: 'llama2c' }, leaf);
        tensors.set(leaf, sourcedTensor(shape, { bytes: n * 4, read: checkedRead(src, at, n, undefined, name) }));
      }
      off += n;
    }
  }
  const ck: Checkpoint = { file, format: 'llama2c', arch, config, tensors, sharedHead };
  validateTensors(ck);
  return ck;
}
