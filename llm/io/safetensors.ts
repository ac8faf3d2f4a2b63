// safetensors loader for Hugging Face checkpoints (the architecture from config.json's
// `architectures`, through llm/io/names/): an 8-byte header length, a JSON header
// (dtype, shape, data_offsets per tensor), then the data; F32, F16 and BF16. The config comes
// from config.json beside the file (llm/io/hf_config.ts). q_proj/k_proj rows are permuted back from Hugging Face's
// rotate-half layout to adjacent RoPE pairs (the inverse of its conversion script's permute).
// The header and config.json are checked against schemas, every entry's shape and offsets (inside
// the data, no overlap, no gap, as the spec requires) before anything is copied.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { LoadError, validateConfig, type Checkpoint, type LlamaConfig } from './model.ts';
import { expectedShapes, isTied, validateTensors } from './arch.ts';
import { names, rotateHalfHeads, unpermuteRope, type Arch } from './names.ts';
import { readConfig } from './hf_config.ts';
import { Shape, checkExtents, checkShape, parseJsonBytes, parseWith } from './validate.ts';
import { sourcedTensor, type Tensor } from '../../runtime/core/tensor.ts';
import { bytesSource, checkedRead, fileSource, readAt, type ByteSource } from './source.ts';

/** A header entry (the spec's: dtype, shape, data_offsets [begin, end) from the data's start). */
const Entry = z.object({
  dtype: z.string().max(16),
  shape: Shape,
  data_offsets: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
});
const Header = z.record(z.string().max(1024), z.unknown());
/** The spec's bound on the header (100 MB). */
const MAX_HEADER = 100_000_000;
const WIDTH: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** A model.safetensors (its bytes, or a file read tensor by tensor) with config.json beside it. */
export function loadSafetensors(file: string, bytes: Uint8Array | ByteSource): Checkpoint {
  const { arch, config, tied } = readConfig(file);
  validateConfig(file, config);
  const tensors = new Map<string, Tensor>();
  readShard(bytes instanceof Uint8Array ? bytesSource(file, bytes) : bytes, arch, config, tensors);
  return checkpoint(file, arch, config, tensors, tied);
}

/** The checkpoint of the tensors read, its head as config.json's tie_word_embeddings says: tied,
 *  the embedding is the head (a head tensor stored anyway is not used, as transformers ties it);
 *  untied, the head tensor must be there. */
function checkpoint(
  file: string,
  arch: Arch,
  config: LlamaConfig,
  tensors: Map<string, Tensor>,
  tied?: boolean,
): Checkpoint {
  if (tied === true) for (const leaf of Object.keys(arch.tied)) tensors.delete(leaf);
  else if (tied === false && isTied(arch, tensors)) {
    const leaf = Object.keys(arch.tied)[0]!;
    throw new LoadError(
      file,
      `config.json has tie_word_embeddings false but there is no ${names(arch, 'hf').nameOf(leaf) ?? leaf} tensor`,
    );
  }
  const ck: Checkpoint = { file, format: 'safetensors', arch, config, tensors, sharedHead: isTied(arch, tensors) };
  validateTensors(ck);
  return ck;
}

/** The index of a sharded checkpoint (model.safetensors.index.json): which shard holds each tensor. */
const Index = z.object({
  metadata: z.unknown().optional(),
  weight_map: z.record(z.string().max(1024), z.string().max(256)),
});

/** A sharded checkpoint: its index, then each shard it names (files beside it, by plain name),
 *  every tensor found in the shard the index says. */
export function loadSafetensorsIndex(file: string, bytes: Uint8Array): Checkpoint {
  const { arch, config, tied } = readConfig(file);
  validateConfig(file, config);
  const index = parseWith(file, 'field', Index, parseJsonBytes(file, 'index', bytes));
  const shards = [...new Set(Object.values(index.weight_map))];
  if (!shards.length) throw new LoadError(file, 'weight_map names no shard');
  const tensors = new Map<string, Tensor>();
  for (const shard of shards) {
    if (!/^[\w.-]+\.safetensors$/.test(shard) || shard.startsWith('.'))
      throw new LoadError(file, `weight_map: shard ${JSON.stringify(shard)} is not a .safetensors file name beside it`);
    const path = join(dirname(file), shard);
    if (!existsSync(path)) throw new LoadError(file, `weight_map names ${shard}, which is not there`);
    const names = readShard(fileSource(path), arch, config, tensors);
    for (const [name, where] of Object.entries(index.weight_map))
      if (where === shard && !names.has(name)) throw new LoadError(path, `tensor ${name} (weight_map) is not in it`);
  }
  return checkpoint(file, arch, config, tensors, tied);
}

/** One safetensors file's tensors into `tensors` by leaf path (a name met twice across shards is
 *  an error); returns the names it holds. The header is read and checked first; then each tensor's
 *  values are scanned (a chunk at a time) for non-finite ones, and it is kept as where it lies in
 *  the file: a backend reads it from there straight into its memory (F16 and BF16 as they are
 *  stored: runtime/core/stored.ts). */
function readShard(src: ByteSource, arch: Arch, config: LlamaConfig, tensors: Map<string, Tensor>): Set<string> {
  const file = src.name;
  const size = src.size;
  if (size < 8) throw new LoadError(file, 'truncated: no safetensors header');
  const hlen = Number(new DataView(readAt(src, 0, 8).buffer).getBigUint64(0, true));
  if (hlen < 2 || hlen > MAX_HEADER || 8 + hlen > size)
    throw new LoadError(
      file,
      `header length ${hlen}: expected 2..${Math.min(MAX_HEADER, size - 8)} (the file has ${size} bytes)`,
    );
  const header = parseWith(file, 'header', Header, parseJsonBytes(file, 'header', readAt(src, 8, hlen)));
  const base = 8 + hlen;
  // every entry checked (dtype, shape, offsets against the data and each other) before any copy
  const entries = Object.entries(header)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, raw]) => {
      const what = `tensor ${name.slice(0, 80)}`;
      const info = parseWith(file, `${what}:`, Entry, raw);
      const n = checkShape(file, what, info.shape);
      const [s, e] = info.data_offsets;
      if (e < s) throw new LoadError(file, `${what}: data_offsets [${s}, ${e}] end before they begin`);
      const width = WIDTH[info.dtype];
      if (width !== undefined && e - s !== n * width)
        throw new LoadError(file, `${what}: ${e - s} bytes for ${n} ${info.dtype} values (expected ${n * width})`);
      return { name, what, info, n, width, start: s, bytes: e - s };
    });
  checkExtents(file, entries, size - base, { covering: true, base });
  const shapes = expectedShapes(arch, config);
  for (const { name, info, n, width, start } of entries) {
    // Hugging Face's names through the architecture's name map (llm/io/names/); others are skipped
    const path = names(arch, 'hf').pathOf(name);
    if (path === undefined) continue;
    if (tensors.has(path)) throw new LoadError(file, `tensor ${name} is in another shard too`);
    if (width === undefined)
      throw new LoadError(file, `tensor ${name} has dtype ${info.dtype.slice(0, 16)}; supported: F32, F16, BF16`);
    const stored = info.dtype === 'F32' ? undefined : info.dtype === 'F16' ? 'f16' : 'bf16';
    const at = base + start;
    // a wrong shape is reported by validateTensors; only a well-shaped q/k is un-permuted
    const want = shapes.get(path);
    const fits = want && want.length === info.shape.length && want.every((d, i) => d === info.shape[i]);
    const rope = rotateHalfHeads(arch, 'hf', path);
    const heads = fits && rope ? config[rope] : undefined;
    const read = checkedRead(
      src,
      at,
      n,
      stored,
      name,
      heads ? (b) => unpermuteRope(b, heads, info.shape[0]!) : undefined,
    );
    tensors.set(path, sourcedTensor(info.shape, { bytes: n * width, read }, stored));
  }
  return new Set(entries.map((e) => e.name));
}
