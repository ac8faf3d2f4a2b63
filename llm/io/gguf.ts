// GGUF v3 loader: metadata and tensor directory through @huggingface/gguf (a maintained parser,
// fed the header's ranges from the file), tensors kept where they lie in the file and as stored
// (F32, F16, BF16, Q8_0: read into the backend's memory when it takes them, checked for non-finite
// values in that pass, like safetensors; llm/io/source.ts). The
// architecture (general.architecture through llm/io/names/: llama, qwen2), its config and the
// tokenizer (llm/io/gguf_tokenizer.ts) come from the metadata, checked against a schema; leaves a
// convention stores in rotate-half RoPE order (qwen2's q/k) are put back in adjacent pairs;
// every tensor's shape, offset (aligned, inside the file, not overlapping another) and size are
// checked before anything is allocated for it. Tensors in llama.cpp's 1-bit and ternary types
// (Q1_0, TQ1_0, TQ2_0; llm/io/gguf_lowbit.ts) make a quantised model: linear layers become the
// inference form of the shipped method that stores exactly that type (q1_0; tq2_0 for both ternary
// types), read and decoded at load; an embedding or head in such a type is decoded to its f32 values.
import { gguf } from '@huggingface/gguf';
import { z } from 'zod';
import { LoadError, validateConfig, type Checkpoint, type LlamaConfig } from './model.ts';
import { expectedShapes, isTied, linearLayers, validateTensors } from './arch.ts';
import { archFor, knownNames, names, rotateHalfHeads, unpermuteRope } from './names.ts';
import { checkExtents, checkShape, parseWith } from './validate.ts';
import { alloc, sourcedTensor, type Stored, type Tensor } from '../../runtime/core/tensor.ts';
import { bytesSource, checkedRead, readAt, type ByteSource } from './source.ts';
import type { TokenizerData } from './tokenizer.ts';
import { ggufTokenizer, type GgufTokenizerKeys } from './gguf_tokenizer.ts';
import { LOWBIT, decodeQ1_0, decodeTQ, lowBitOfCode, type LowBit } from './gguf_lowbit.ts';

const GGML_F32 = 0;
const GGML_F16 = 1;
const GGML_Q8_0 = 8;
const GGML_BF16 = 30;
const TYPE_NAMES: Record<number, string> = {
  0: 'F32',
  1: 'F16',
  2: 'Q4_0',
  3: 'Q4_1',
  6: 'Q5_0',
  7: 'Q5_1',
  8: 'Q8_0',
  10: 'Q2_K',
  11: 'Q3_K',
  12: 'Q4_K',
  13: 'Q5_K',
  14: 'Q6_K',
  30: 'BF16',
};

/** Bytes a tensor of a GGML type and element count occupies; -1 for a type obt does not read
 *  (an error only for a tensor obt uses; its extent is then unknown and not checked). */
function byteSize(type: number, n: number, row: number, what: string, file: string): number {
  switch (type) {
    case GGML_F32:
      return n * 4;
    case GGML_F16:
    case GGML_BF16:
      return n * 2;
    case GGML_Q8_0:
      // obt reads Q8_0 blocks over the flattened tensor (its own writer's test files cross rows)
      if (n % 32) throw new LoadError(file, `${what}: Q8_0 needs a multiple of 32 elements, has ${n}`);
      return (n / 32) * 34;
    default: {
      const lb = lowBitOfCode(type);
      if (!lb) return -1;
      const { values, bytes } = LOWBIT[lb];
      // ggml's rule: a block never crosses a row
      if (row % values)
        throw new LoadError(file, `${what}: ${lb} needs rows of a multiple of ${values} values, has ${row}`);
      return (n / values) * bytes;
    }
  }
}

const unsupported = (name: string, type: number) =>
  `tensor ${name.slice(0, 80)} has GGML type ${TYPE_NAMES[type] ?? lowBitOfCode(type) ?? type}; supported: F32, F16, BF16, Q8_0, Q1_0, TQ1_0, TQ2_0`;

/** How each type obt reads stays in memory (runtime/core/stored.ts: the kernels convert as they load). */
const STORED: Record<number, Stored | undefined> = {
  [GGML_F32]: undefined,
  [GGML_F16]: 'f16',
  [GGML_BF16]: 'bf16',
  [GGML_Q8_0]: 'q8_0',
};

export interface GgufModel {
  /** the dense tensors (all of them, unless `quantised`) */
  checkpoint: Checkpoint;
  tokenizer: TokenizerData;
  /** linear layers stored in a low-bit type: the shipped method whose inference form holds it
   *  exactly, and each layer's value of that form by layer path */
  quantised?: { method: 'q1_0' | 'tq2_0'; layers: Map<string, Record<string, Tensor>> };
}

/** The shipped method whose inference form is a low-bit type exactly. */
const METHOD_OF: Record<LowBit, 'q1_0' | 'tq2_0'> = { Q1_0: 'q1_0', TQ1_0: 'tq2_0', TQ2_0: 'tq2_0' };

/** A count in the metadata (GGUF stores u32/u64/i32…; u64 arrive as bigint). */
const Int = z
  .union([z.number(), z.bigint()])
  .transform((v) => Number(v))
  .pipe(
    z
      .number()
      .int()
      .nonnegative()
      .max(2 ** 31 - 1),
  );
const Real = z.number();
/** The metadata obt reads, as the GGUF spec types it (model keys under the architecture's name,
 *  `llama.embedding_length`); other keys pass through unchecked. */
const metadata = (a: string) =>
  z.looseObject({
    'general.architecture': z.string().max(64),
    'general.alignment': Int.pipe(
      z
        .number()
        .min(1)
        .max(1 << 16)
        .refine((x) => (x & (x - 1)) === 0, 'expected a power of two ≤ 65536'),
    ).optional(),
    [`${a}.embedding_length`]: Int,
    [`${a}.feed_forward_length`]: Int,
    [`${a}.block_count`]: Int,
    [`${a}.attention.head_count`]: Int,
    [`${a}.attention.head_count_kv`]: Int.optional(),
    [`${a}.context_length`]: Int,
    [`${a}.attention.layer_norm_rms_epsilon`]: Real.optional(),
    [`${a}.rope.freq_base`]: Real.optional(),
    [`${a}.rope.scaling.type`]: z.string().max(64).optional(),
    'tokenizer.ggml.model': z.string().max(64).optional(),
    'tokenizer.ggml.tokens': z
      .array(z.string().max(1024))
      .min(1)
      .max(1 << 20),
    'tokenizer.ggml.scores': z
      .array(Real)
      .max(1 << 20)
      .optional(),
    'tokenizer.ggml.merges': z
      .array(z.string().max(2048))
      .max(1 << 21)
      .optional(),
    'tokenizer.ggml.token_type': z
      .array(Int)
      .max(1 << 20)
      .optional(),
    'tokenizer.ggml.pre': z.string().max(64).optional(),
    'tokenizer.ggml.bos_token_id': Int.optional(),
    'tokenizer.ggml.eos_token_id': Int.optional(),
  });

/** Parses the header with @huggingface/gguf, its custom-fetch hook serving the ranges it asks for
 *  (2 MB at a time) from the source: the header alone is read, and a fuzzer needs no file system. */
async function parseHeader(file: string, src: ByteSource) {
  // a minimal Response: the parser reads only the content-range header and the body's bytes
  const rangeFetch = (async (_uri: string, init?: { headers?: Record<string, string> }) => {
    const m = /bytes=(\d+)-(\d+)/.exec(init?.headers?.Range ?? '');
    const a = Math.min(Number(m?.[1] ?? 0), src.size);
    const b = Math.min(Number(m?.[2] ?? src.size - 1) + 1, src.size);
    const range = `bytes ${a}-${Math.max(a, b - 1)}/${src.size}`;
    return {
      ok: true,
      status: 206,
      headers: { get: (h: string) => (h.toLowerCase() === 'content-range' ? range : null) },
      arrayBuffer: async () => readAt(src, a, b - a).buffer,
    };
  }) as unknown as typeof fetch;
  try {
    return await gguf('https://obt.invalid/model.gguf', { fetch: rangeFetch });
  } catch (e) {
    if (e instanceof LoadError) throw e; // the file changed under the reader
    throw new LoadError(
      file,
      `corrupted GGUF header or metadata (${String((e as Error)?.message ?? e).slice(0, 160)})`,
    );
  }
}

/** A GGUF file (read where asked) or its bytes; `dense`: low-bit linear layers decoded to their f32
 *  values too (the model as a teacher). */
export async function loadGguf(file: string, from: ByteSource | Uint8Array, dense = false): Promise<GgufModel> {
  const src = from instanceof Uint8Array ? bytesSource(file, from) : from;
  const head = readAt(src, 0, Math.min(8, src.size));
  if (src.size < 24 || String.fromCharCode(...head.subarray(0, 4)) !== 'GGUF')
    throw new LoadError(file, 'not a GGUF file (no GGUF magic)');
  const version = new DataView(head.buffer).getUint32(4, true);
  if (version !== 3) throw new LoadError(file, `GGUF version ${version}; this loader reads version 3`);
  const parsed = await parseHeader(file, src);
  const raw = parsed.metadata as unknown as Record<string, unknown>;
  const name = String(raw['general.architecture']).slice(0, 64);
  const arch = archFor('gguf', [name]);
  if (!arch)
    throw new LoadError(
      file,
      `architecture '${name}', expected ${knownNames('gguf')
        .map((n) => `'${n}'`)
        .join(' or ')}`,
    );
  const md = parseWith(file, 'metadata', metadata(name), raw) as Record<string, never> &
    GgufTokenizerKeys & { 'general.alignment'?: number };
  const key = (k: string): number | undefined => md[`${name}.${k}`];
  const tokenizer = ggufTokenizer(file, md);
  const tokens = md['tokenizer.ggml.tokens'];
  // RoPE scaling (linear, YaRN) is not read: refused rather than run as plain RoPE
  const scaling = md[`${name}.rope.scaling.type`] as string | undefined;
  if (scaling !== undefined && scaling !== 'none')
    throw new LoadError(
      file,
      `metadata ${name}.rope.scaling.type: '${scaling}'; obt reads only unscaled RoPE from GGUF`,
    );
  const heads = key('attention.head_count')!;
  const config: LlamaConfig = {
    dim: key('embedding_length')!,
    hidden: key('feed_forward_length')!,
    layers: key('block_count')!,
    heads,
    kvHeads: key('attention.head_count_kv') ?? heads,
    vocab: tokens.length,
    seqLen: key('context_length')!,
    eps: Math.fround(key('attention.layer_norm_rms_epsilon') ?? 1e-5),
    ropeTheta: key('rope.freq_base') ?? 10000,
  };
  validateConfig(file, config);
  // the data section starts at the end of the tensor directory, padded to the alignment
  const align = md['general.alignment'] ?? 32;
  const dirEnd = parsed.tensorInfoByteRange[1];
  const dataStart = Math.ceil(dirEnd / align) * align;
  if (dataStart > src.size)
    throw new LoadError(file, `truncated: the tensor data would start at byte ${dataStart}, the file has ${src.size}`);
  const infos = parsed.tensorInfos.map((info) => {
    const what = `tensor ${info.name.slice(0, 80)}`;
    const shape = info.shape.map(Number).reverse(); // GGUF lists dims innermost first
    const n = checkShape(file, what, shape);
    return {
      info,
      what,
      shape,
      n,
      start: Number(info.offset),
      bytes: byteSize(info.dtype as number, n, shape.at(-1) ?? 1, what, file),
    };
  });
  checkExtents(
    file,
    infos.filter((i) => i.bytes >= 0),
    src.size - dataStart,
    { align, base: dataStart },
  );
  const tensors = new Map<string, Tensor>();
  const shapes = expectedShapes(arch, config);
  const linear = new Set(linearLayers(arch, config).map((l) => `${l.path}.w`));
  const lowbit: { path: string; name: string; type: LowBit; shape: number[]; bytes: () => Uint8Array }[] = [];
  for (const { info, shape, n, start, bytes: size } of infos) {
    // Llama 3.1's RoPE frequency factors: not read, so refused rather than run as plain RoPE
    if (info.name === 'rope_freqs.weight')
      throw new LoadError(
        file,
        `tensor rope_freqs.weight (Llama 3.1 RoPE scaling) is not read from GGUF; load the model's Hugging Face folder`,
      );
    // GGUF's names through the architecture's name map (llm/io/names/); others are skipped
    const path = names(arch, 'gguf').pathOf(info.name);
    if (path === undefined) continue;
    if (size < 0) throw new LoadError(file, unsupported(info.name, info.dtype as number));
    if (tensors.has(path)) throw new LoadError(file, `tensor ${info.name} appears twice`);
    // a well-shaped leaf stored in rotate-half order (qwen2's q/k) gets its rows back in pairs as it
    // is read; a wrong shape is reported by validateTensors
    const rope = rotateHalfHeads(arch, 'gguf', path);
    const want = shapes.get(path);
    let after: ((b: Uint8Array) => void) | undefined;
    if (rope && want && want.length === shape.length && want.every((d, i) => d === shape[i])) {
      if (info.dtype === GGML_Q8_0 && (shape.length < 2 || shape[1]! % 32))
        throw new LoadError(
          file,
          `tensor ${info.name}: Q8_0 rows of ${shape[1] ?? 1} values are not whole blocks; its rotate-half rows cannot be reordered`,
        );
      const heads = config[rope];
      after = (b) => unpermuteRope(b, heads, shape[0]!);
    }
    const lb = lowBitOfCode(info.dtype as number);
    if (lb) {
      if (want && (want.length !== 2 || want.some((d, i) => d !== shape[i])))
        throw new LoadError(file, `tensor ${info.name} has shape [${shape}], expected [${want}]`);
      if (lowbit.some((t) => t.path === path)) throw new LoadError(file, `tensor ${info.name} appears twice`);
      lowbit.push({
        path,
        name: info.name,
        type: lb,
        shape,
        bytes: () => {
          const b = readAt(src, dataStart + start, size);
          after?.(b);
          return b;
        },
      });
      continue;
    }
    const stored = STORED[info.dtype as number];
    const read = checkedRead(src, dataStart + start, n, stored, info.name, after);
    tensors.set(path, sourcedTensor(shape, { bytes: size, read }, stored));
  }
  const quantised = lowbit.length ? lowBitLayers(file, lowbit, dense ? new Set() : linear, tensors) : undefined;
  const ck: Checkpoint = { file, format: 'gguf', arch, config, tensors, sharedHead: isTied(arch, tensors) };
  validateTensors(ck, quantised ? linear : undefined);
  return { checkpoint: ck, tokenizer, ...(quantised ? { quantised } : {}) };
}

/** Decodes the low-bit tensors: the linear layers' into the inference form of one shipped method
 *  (every linear layer must then be low-bit, of one family: obt's model has one layer type), an
 *  embedding's or head's into its f32 values (into `tensors`). */
function lowBitLayers(
  file: string,
  lowbit: { path: string; name: string; type: LowBit; shape: number[]; bytes: () => Uint8Array }[],
  linear: Set<string>,
  tensors: Map<string, Tensor>,
): GgufModel['quantised'] {
  const layers = new Map<string, Record<string, Tensor>>();
  let method: 'q1_0' | 'tq2_0' | undefined;
  let first = '';
  const finite = (d: Float32Array, name: string) => {
    const bad = d.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new LoadError(file, `tensor ${name}: block ${bad} has a non-finite scale ${d[bad]}`);
  };
  for (const t of lowbit) {
    const [O, I] = t.shape as [number, number];
    if (tensors.has(t.path)) throw new LoadError(file, `tensor ${t.name} appears twice`);
    const b = t.bytes();
    if (!linear.has(t.path)) {
      // an embedding or head: its values (±d, t·d) are exact in f32
      const f = alloc('f32', [O, I]);
      const rows = t.type === 'Q1_0' ? decodeQ1_0(b, O, I) : decodeTQ(t.type, b, O, I, file, `tensor ${t.name}`);
      finite(rows.d, t.name);
      const B = LOWBIT[t.type].values;
      const words = I / 32;
      const bit = (w: Uint32Array, o: number, i: number) => (w[o * words + (i >>> 5)]! >>> (i & 31)) & 1;
      for (let o = 0; o < O; o++)
        for (let i = 0; i < I; i++) {
          const d = rows.d[((o * I + i) / B) | 0]!;
          const v = 's' in rows ? 1 - 2 * bit(rows.s, o, i) : 1 - bit(rows.sa, o, i) - bit(rows.sb, o, i);
          f.data[o * I + i] = v * d;
        }
      tensors.set(t.path, f);
      continue;
    }
    const m = METHOD_OF[t.type];
    if (method && m !== method)
      throw new LoadError(
        file,
        `tensor ${t.name} is ${t.type} but ${first} is not ternary: obt's model has one layer type`,
      );
    method = m;
    first ||= t.name;
    const layer = t.path.slice(0, -2);
    const sign = (data: Uint32Array): Tensor => ({ dtype: 'sign', shape: [O, I], data });
    const scales = (data: Float32Array, B: number): Tensor => ({ dtype: 'f32', shape: [O, I / B], data });
    if (t.type === 'Q1_0') {
      const { s, d } = decodeQ1_0(b, O, I);
      finite(d, t.name);
      layers.set(layer, { s: sign(s), d: scales(d, 128) });
    } else {
      const { sa, sb, d } = decodeTQ(t.type, b, O, I, file, `tensor ${t.name}`);
      finite(d, t.name);
      layers.set(layer, { sa: sign(sa), sb: sign(sb), d: scales(d, 256) });
    }
  }
  if (!method) return undefined;
  for (const w of linear)
    if (!layers.has(w.slice(0, -2)))
      throw new LoadError(
        file,
        `${first} is ${method === 'q1_0' ? 'Q1_0' : 'ternary'} but the linear layer ${w} is not: obt's model has one layer type for all its linear layers`,
      );
  return { method, layers };
}
