// GGUF v3 writer (`obtc export --format gguf`): a teacher checkpoint as llama.cpp reads it. The
// metadata is serialised by @huggingface/gguf (its serializeGgufMetadata; the tensor directory,
// which it does not write, is a few fields per tensor written here); tensor names come from the
// architecture's name map (`gguf` convention), leaves it stores in rotate-half RoPE order (qwen2's
// q/k) are permuted back to it, a tied head is not written (llama.cpp then uses token_embd).
// Matrices are written in the chosen type — their stored bytes as they are when the type is the
// one they are kept in (a round trip is bit-identical), else converted (runtime/core/
// stored_encode.ts); vectors (norms, biases) stay F32, as llama.cpp's converter keeps them. The
// file is written a tensor at a time. The tokenizer goes into the metadata: SentencePiece (llama2.c
// pieces and scores) as `llama`, a byte-level BPE tokenizer.json of a pre-tokenizer llama.cpp names
// as `gpt2` (llm/io/gguf_tokenizer.ts reads both back). A quantised student's linear layers come
// already encoded in a low-bit type (llm/gguf_student.ts decides which, and whether exactly).
import { GGUFValueType, serializeGgufMetadata, type GGUFTypedMetadata } from '@huggingface/gguf';
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { expectedShapes, tiedLeaves } from './arch.ts';
import { LoadError, headDim, type LlamaConfig } from './model.ts';
import { names, permuteRope, rotateHalfHeads, type Arch } from './names.ts';
import { preNameOf } from './gguf_tokenizer.ts';
import type { TokenizerData } from './tokenizer.ts';
import { valuesOnce } from '../../runtime/core/stored.ts';
import { floatsToStored } from '../../runtime/core/stored_encode.ts';
import { numel, type Stored, type Tensor } from '../../runtime/core/tensor.ts';
import { LOWBIT, lowBitBytes, type LowBit } from './gguf_lowbit.ts';

/** The GGML types a teacher's matrices can be written in, with their type codes. */
export const GGUF_TYPES = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 } as const;
export type GgufType = keyof typeof GGUF_TYPES;
/** How each dense type's values are kept in memory (undefined: f32). */
export const STORED_OF: Record<GgufType, Stored | undefined> = {
  F32: undefined,
  F16: 'f16',
  BF16: 'bf16',
  Q8_0: 'q8_0',
};
const ALIGN = 32;

/** What is written: the model's architecture, sizes, tensors by leaf path, tokenizer. */
export interface GgufSource {
  arch: Arch;
  config: LlamaConfig;
  tensors: ReadonlyMap<string, Tensor>;
  /** the head is the embedding (not written) */
  sharedHead: boolean;
  tokenizer: TokenizerData;
  /** general.name */
  name: string;
  /** leaves written in a low-bit type instead (a student's linear layers: their `.w` leaf path),
   *  with their bytes */
  lowbit?: ReadonlyMap<string, { type: LowBit; bytes: () => Uint8Array }>;
}

/** One tensor as written. */
export interface WrittenTensor {
  name: string;
  type: GgufType | LowBit;
  /** why it is not in the type asked for */
  note?: string;
}

type Meta = Record<string, { value: unknown; type: GGUFValueType; subType?: GGUFValueType }>;
const str = (value: string) => ({ value, type: GGUFValueType.STRING });
const u32 = (value: number) => ({ value, type: GGUFValueType.UINT32 });
const f32 = (value: number) => ({ value, type: GGUFValueType.FLOAT32 });
const arr = (value: unknown[], subType: GGUFValueType) => ({ value, type: GGUFValueType.ARRAY, subType });

/** The model's keys, under its GGUF architecture name. */
function modelMeta(a: string, c: LlamaConfig, name: string): Meta {
  return {
    'general.architecture': str(a),
    'general.name': str(name),
    [`${a}.context_length`]: u32(c.seqLen),
    [`${a}.embedding_length`]: u32(c.dim),
    [`${a}.feed_forward_length`]: u32(c.hidden),
    [`${a}.block_count`]: u32(c.layers),
    [`${a}.attention.head_count`]: u32(c.heads),
    [`${a}.attention.head_count_kv`]: u32(c.kvHeads),
    [`${a}.rope.dimension_count`]: u32(headDim(c)),
    [`${a}.rope.freq_base`]: f32(c.ropeTheta),
    [`${a}.attention.layer_norm_rms_epsilon`]: f32(c.eps),
  };
}

/** llama.cpp's token types (llama_token_type). */
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;
const UNUSED = 5;
const BYTE = 6;

/** The tokenizer's keys: SentencePiece as `llama`, byte-level BPE as `gpt2`. */
function tokenizerMeta(file: string, tk: TokenizerData): Meta {
  const ids = { 'tokenizer.ggml.bos_token_id': u32(tk.bos), 'tokenizer.ggml.eos_token_id': u32(tk.eos) };
  if (!tk.hf) {
    const type = (p: string, i: number) =>
      i === tk.bos || i === tk.eos ? CONTROL : p === '<unk>' ? UNKNOWN : /^<0x[0-9A-F]{2}>$/.test(p) ? BYTE : NORMAL;
    return {
      'tokenizer.ggml.model': str('llama'),
      'tokenizer.ggml.tokens': arr(
        tk.pieces.map((p) => p.replace(/ /g, '\u2581')),
        GGUFValueType.STRING,
      ),
      'tokenizer.ggml.scores': arr(tk.scores, GGUFValueType.FLOAT32),
      'tokenizer.ggml.token_type': arr(tk.pieces.map(type), GGUFValueType.INT32),
      ...ids,
      'tokenizer.ggml.add_bos_token': { value: true, type: GGUFValueType.BOOL },
    };
  }
  const json = JSON.parse(tk.hf.json) as {
    model: { type?: string; merges?: (string | [string, string])[]; byte_fallback?: boolean };
    pre_tokenizer?: unknown;
    added_tokens?: { id: number; special?: boolean }[];
  };
  const pre = preNameOf(json.pre_tokenizer);
  if (json.model.type !== 'BPE' || json.model.byte_fallback || pre === undefined)
    throw new LoadError(
      file,
      `its tokenizer.json is not byte-level BPE with a pre-tokenizer llama.cpp names (GPT-2's, Llama 3's, Qwen2's, SmolLM's); a SentencePiece-style one (Llama 2) is written from its tokenizer.model — pass the llama2.c tokenizer.bin with --tokenizer`,
    );
  const added = new Map((json.added_tokens ?? []).map((a) => [a.id, a.special ? CONTROL : USER_DEFINED]));
  return {
    'tokenizer.ggml.model': str('gpt2'),
    'tokenizer.ggml.pre': str(pre),
    'tokenizer.ggml.tokens': arr(
      tk.pieces.map((p, i) => (p === '' ? `[PAD${i}]` : p)),
      GGUFValueType.STRING,
    ),
    'tokenizer.ggml.token_type': arr(
      tk.pieces.map((p, i) => added.get(i) ?? (p === '' ? UNUSED : NORMAL)),
      GGUFValueType.INT32,
    ),
    'tokenizer.ggml.merges': arr(
      (json.model.merges ?? []).map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`)),
      GGUFValueType.STRING,
    ),
    ...ids,
  };
}

/** A tensor's bytes as it is kept (a file's read now, into a transient array). */
function keptBytes(t: Tensor): Uint8Array {
  if (t.source) {
    const b = new Uint8Array(t.source.bytes);
    t.source.read(b);
    return b;
  }
  const d = t.data as Float32Array | Uint16Array | Uint8Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** The bytes of a tensor in a type: as kept when it is kept in that type, else its values converted. */
function encode(t: Tensor, type: GgufType): Uint8Array {
  const want = STORED_OF[type];
  if (t.stored === want) return keptBytes(t);
  const values = valuesOnce(t) as Float32Array;
  return want ? floatsToStored(want, values) : new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** The tensor directory entry: name, dims (innermost first), type, offset from the data's start. */
function directoryEntry(name: string, shape: number[], type: number, offset: number): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  const out = new Uint8Array(8 + nameBytes.length + 4 + 8 * shape.length + 4 + 8);
  const dv = new DataView(out.buffer);
  let o = 0;
  dv.setBigUint64(o, BigInt(nameBytes.length), true);
  out.set(nameBytes, (o += 8));
  o += nameBytes.length;
  dv.setUint32(o, shape.length, true);
  o += 4;
  for (const d of [...shape].reverse()) {
    dv.setBigUint64(o, BigInt(d), true);
    o += 8;
  }
  dv.setUint32(o, type, true);
  dv.setBigUint64(o + 4, BigInt(offset), true);
  return out;
}

/** Writes `src` as GGUF to `out` (through a temporary file, renamed when complete); matrices in
 *  `type`. Returns each tensor as written. `onTensor` is told after each one (a progress bar). */
export function writeGgufFile(
  out: string,
  src: GgufSource,
  type: GgufType,
  onTensor?: (done: number, total: number) => void,
): WrittenTensor[] {
  const { arch, config } = src;
  const a = arch.gguf[0];
  if (a === undefined)
    throw new LoadError(src.name, `architecture ${arch.name} has no GGUF name (llm/io/names/${arch.name}.json "gguf")`);
  if (config.ropeScaling)
    throw new LoadError(
      src.name,
      `Llama 3.1 RoPE scaling (rope_scaling llama3) is not written to GGUF (llama.cpp reads it as a rope_freqs.weight tensor obt does not write)`,
    );
  const nm = names(arch, 'gguf');
  const tied = src.sharedHead ? new Set(tiedLeaves(arch)) : new Set<string>();
  const plan = [...expectedShapes(arch, config)]
    .filter(([path]) => !tied.has(path))
    .map(([path, shape]) => {
      const name = nm.nameOf(path);
      const low = src.lowbit?.get(path);
      if (name !== undefined && low)
        return {
          path,
          name,
          shape,
          type: low.type,
          code: LOWBIT[low.type].code,
          bytes: lowBitBytes(low.type, shape[0]!, shape[1]!),
          encode: low.bytes,
        };
      const t = src.tensors.get(path);
      if (name === undefined || !t)
        throw new LoadError(src.name, `no ${name === undefined ? 'GGUF name' : 'tensor'} for ${path}`);
      // llama.cpp needs a quantised row to be whole blocks: such a matrix falls back to F16, as its quantizer does
      let ty: GgufType = shape.length === 2 ? type : 'F32';
      let note: string | undefined;
      if (ty === 'Q8_0' && shape[1]! % 32) {
        ty = 'F16';
        note = `rows of ${shape[1]} values are not whole Q8_0 blocks of 32: written as F16`;
      }
      const n = numel(shape);
      const bytes = ty === 'Q8_0' ? (n / 32) * 34 : ty === 'F32' ? 4 * n : 2 * n;
      return { path, name, shape, type: ty, code: GGUF_TYPES[ty], note, bytes, encode: () => encode(t, ty) };
    });
  const meta: Meta = { ...modelMeta(a, config, src.name), ...tokenizerMeta(src.name, src.tokenizer) };
  const typed = {
    version: { value: 3, type: GGUFValueType.UINT32 },
    tensor_count: { value: BigInt(plan.length), type: GGUFValueType.UINT64 },
    kv_count: { value: BigInt(Object.keys(meta).length), type: GGUFValueType.UINT64 },
    ...meta,
  } as unknown as GGUFTypedMetadata;
  const head = serializeGgufMetadata(typed, { alignment: 1 }); // the tensor directory follows, then the padding
  let offset = 0;
  const directory = plan.map((p) => {
    offset = Math.ceil(offset / ALIGN) * ALIGN;
    const e = directoryEntry(p.name, p.shape, p.code, offset);
    offset += p.bytes;
    return e;
  });
  const tmp = `${out}.part`;
  const fd = openSync(tmp, 'w');
  try {
    let at = 0;
    const put = (b: Uint8Array) => {
      for (let done = 0; done < b.length;) done += writeSync(fd, b, done, b.length - done);
      at += b.length;
    };
    const pad = (base: number) => put(new Uint8Array((ALIGN - ((at - base) % ALIGN)) % ALIGN));
    put(head);
    for (const e of directory) put(e);
    pad(0);
    const dataStart = at;
    for (const [i, p] of plan.entries()) {
      pad(dataStart);
      let b = p.encode();
      const heads = rotateHalfHeads(arch, 'gguf', p.path);
      if (heads) {
        b = b.slice(); // it may be a view of the model's own tensor
        permuteRope(b, config[heads], p.shape[0]!);
      }
      put(b);
      onTensor?.(i + 1, plan.length);
    }
    closeSync(fd);
    renameSync(tmp, out);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // closed already
    }
    rmSync(tmp, { force: true });
    throw e;
  }
  return plan.map((p) => ({ name: p.name, type: p.type, ...('note' in p && p.note ? { note: p.note } : {}) }));
}
