// Test helpers that write model files in other formats from a loaded checkpoint: GGUF v3 (F32,
// F16, Q8_0 tensors) and Hugging Face safetensors (F32/F16/BF16, with q/k in rotate-half order).
import { hfConfigFields } from '../../llm/io/hf_config.ts';
import type { Checkpoint } from '../../llm/io/model.ts';
import type { TokenizerData } from '../../llm/io/tokenizer.ts';
import { LLAMA, names as nameTable } from '../../llm/io/names.ts';

export function f32ToHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  let e = ((u >>> 23) & 0xff) - 127 + 15;
  let m = u & 0x7fffff;
  if (e <= 0) {
    if (e < -10) return sign;
    m = (m | 0x800000) >> (1 - e);
    if (m & 0x1000) m += 0x2000;
    return sign | (m >> 13);
  }
  if (e >= 31) return sign | 0x7c00;
  if (m & 0x1000) {
    m += 0x2000;
    if (m & 0x800000) {
      m = 0;
      e++;
    }
  }
  return sign | (e << 10) | (m >> 13);
}

export class Buf {
  parts: Uint8Array[] = [];
  len = 0;
  push(b: Uint8Array) {
    this.parts.push(b);
    this.len += b.length;
  }
  u32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.push(b);
  }
  u64(v: number | bigint) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true);
    this.push(b);
  }
  f32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
  }
  str(s: string) {
    const e = new TextEncoder().encode(s);
    this.u64(e.length);
    this.push(e);
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.len);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** llama2.c's name of a checkpoint's leaf path (the tables below are written against those). */
const canon = (path: string): string => nameTable(LLAMA, 'llama2c').nameOf(path) ?? path;

const CANON_TO_GGUF = (n: string): string => {
  const [base, l] = n.split('.');
  const g: Record<string, string> = {
    token_embedding: 'token_embd.weight',
    rms_final: 'output_norm.weight',
    wcls: 'output.weight',
    rms_att: 'attn_norm.weight',
    wq: 'attn_q.weight',
    wk: 'attn_k.weight',
    wv: 'attn_v.weight',
    wo: 'attn_output.weight',
    rms_ffn: 'ffn_norm.weight',
    w1: 'ffn_gate.weight',
    w2: 'ffn_down.weight',
    w3: 'ffn_up.weight',
  };
  return l === undefined ? g[base!]! : `blk.${l}.${g[base!]!}`;
};

/** Values in GGUF Q8_0 blocks as llama.cpp's quantize_row_q8_0 writes them: per 32 values an f16
 *  scale d = max|x| / 127, then round(x / d) as int8. */
export function q8_0(x: Float32Array): Uint8Array {
  const b = new Uint8Array((x.length / 32) * 34);
  const dv = new DataView(b.buffer);
  for (let k = 0; k < x.length / 32; k++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[k * 32 + j]!));
    const d = amax / 127;
    dv.setUint16(k * 34, f32ToHalf(d), true);
    for (let j = 0; j < 32; j++) dv.setInt8(k * 34 + 2 + j, d ? Math.round(x[k * 32 + j]! / d) : 0);
  }
  return b;
}

/** A tensor's GGUF bytes at a type (kept per tensor: a fuzzer writes the same model many times). */
const encodings = new WeakMap<object, Map<string, Uint8Array>>();
function encoded(t: { data: unknown }, type: 'F32' | 'F16' | 'Q8_0'): Uint8Array {
  let m = encodings.get(t);
  if (!m) encodings.set(t, (m = new Map()));
  let b = m.get(type);
  if (b) return b;
  const x = t.data as Float32Array;
  if (type === 'F32') b = new Uint8Array(Float32Array.from(x).buffer);
  else if (type === 'F16') b = new Uint8Array(Uint16Array.from(x, f32ToHalf).buffer);
  else b = q8_0(x);
  m.set(type, b);
  return b;
}

/** A metadata entry: key, GGUF value type, and the value's writer. */
export type GgufKv = [string, number, (b: Buf) => void];
/** A tensor directory entry as written: name, dims (innermost first), GGML type, data offset. */
export interface GgufTensorInfo {
  name: string;
  dims: (number | bigint)[];
  type: number;
  offset: number | bigint;
}
/** Hooks that rewrite what writeGguf writes (a fuzzer's hostile metadata and directory). */
export interface GgufEdits {
  kv?: (kv: GgufKv[]) => GgufKv[];
  tensor?: (t: GgufTensorInfo, i: number) => GgufTensorInfo;
  /** the data section's alignment the writer pads to (default 32; not written as metadata) */
  align?: number;
}

/** Metadata entries of the GGUF value types the writers use. */
export const kvs = {
  str: (k: string, v: string): GgufKv => [k, 8, (b) => b.str(v)],
  u32: (k: string, v: number): GgufKv => [k, 4, (b) => b.u32(v)],
  f32: (k: string, v: number): GgufKv => [k, 6, (b) => b.f32(v)],
  bool: (k: string, v: boolean): GgufKv => [k, 7, (b) => b.push(Uint8Array.of(v ? 1 : 0))],
  strs: (k: string, v: string[]): GgufKv => [
    k,
    9,
    (b) => {
      b.u32(8);
      b.u64(v.length);
      for (const x of v) b.str(x);
    },
  ],
  f32s: (k: string, v: number[]): GgufKv => [
    k,
    9,
    (b) => {
      b.u32(6);
      b.u64(v.length);
      for (const x of v) b.f32(x);
    },
  ],
  i32s: (k: string, v: number[]): GgufKv => [
    k,
    9,
    (b) => {
      b.u32(5);
      b.u64(v.length);
      for (const x of v) b.u32(x);
    },
  ],
};

/** A tensor as a GGUF file holds it: name, shape (outermost first), GGML type, encoded bytes. */
export interface GgufTensor {
  name: string;
  shape: number[];
  type: number;
  bytes: Uint8Array;
}

/** A GGUF v3 file of metadata entries and tensors (each at the next aligned offset). */
export function ggufFile(kv: GgufKv[], tensors: GgufTensor[], edits: GgufEdits = {}): Uint8Array {
  const h = new Buf();
  h.push(new TextEncoder().encode('GGUF'));
  h.u32(3);
  h.u64(tensors.length);
  if (edits.kv) kv = edits.kv(kv);
  h.u64(kv.length);
  for (const [k, type, w] of kv) {
    h.str(k);
    h.u32(type);
    w(h);
  }
  const data = new Buf();
  const A = edits.align ?? 32;
  for (const [i, t] of tensors.entries()) {
    while (data.len % A) data.push(new Uint8Array(1));
    let info: GgufTensorInfo = { name: t.name, dims: [...t.shape].reverse(), type: t.type, offset: data.len };
    if (edits.tensor) info = edits.tensor(info, i);
    h.str(info.name);
    h.u32(info.dims.length);
    for (const d of info.dims) h.u64(d);
    h.u32(info.type);
    h.u64(info.offset);
    data.push(t.bytes);
  }
  const head = h.bytes();
  const pad = (A - (head.length % A)) % A;
  const out = new Uint8Array(head.length + pad + data.len);
  out.set(head, 0);
  out.set(data.bytes(), head.length + pad);
  return out;
}

/** GGML's type codes of the types the writers write. */
export const GGML = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 } as const;

/** GGUF v3 of a llama checkpoint with the given type for 2-D tensors (norms stay F32, as llama.cpp
 *  does) and its SentencePiece tokenizer. */
export function writeGguf(
  ck: Checkpoint,
  tk: TokenizerData,
  matType: 'F32' | 'F16' | 'Q8_0',
  edits: GgufEdits = {},
): Uint8Array {
  const c = ck.config;
  const kv: GgufKv[] = [
    kvs.str('general.architecture', 'llama'),
    kvs.u32('llama.embedding_length', c.dim),
    kvs.u32('llama.feed_forward_length', c.hidden),
    kvs.u32('llama.block_count', c.layers),
    kvs.u32('llama.attention.head_count', c.heads),
    kvs.u32('llama.attention.head_count_kv', c.kvHeads),
    kvs.u32('llama.context_length', c.seqLen),
    kvs.f32('llama.attention.layer_norm_rms_epsilon', c.eps),
    kvs.u32('tokenizer.ggml.bos_token_id', tk.bos),
    kvs.u32('tokenizer.ggml.eos_token_id', tk.eos),
    kvs.strs('tokenizer.ggml.tokens', tk.pieces),
    kvs.f32s('tokenizer.ggml.scores', tk.scores),
  ];
  const tensors = [...ck.tensors.keys()]
    .filter((n) => !n.startsWith('freq_cis'))
    .map((n) => {
      const t = ck.tensors.get(n)!;
      const type = t.shape.length === 2 ? matType : 'F32';
      return { name: CANON_TO_GGUF(canon(n)), shape: t.shape, type: GGML[type], bytes: encoded(t, type) };
    });
  return ggufFile(kv, tensors, edits);
}

const CANON_TO_HF = (n: string): string => {
  const [base, l] = n.split('.');
  const g: Record<string, string> = {
    token_embedding: 'model.embed_tokens.weight',
    rms_final: 'model.norm.weight',
    wcls: 'lm_head.weight',
    rms_att: 'input_layernorm.weight',
    wq: 'self_attn.q_proj.weight',
    wk: 'self_attn.k_proj.weight',
    wv: 'self_attn.v_proj.weight',
    wo: 'self_attn.o_proj.weight',
    rms_ffn: 'post_attention_layernorm.weight',
    w1: 'mlp.gate_proj.weight',
    w2: 'mlp.down_proj.weight',
    w3: 'mlp.up_proj.weight',
  };
  return l === undefined ? g[base!]! : `model.layers.${l}.${g[base!]!}`;
};

/** Rows from adjacent pairs (2i, 2i+1) to Hugging Face's rotate-half order (i, i + hd/2). */
function permuteRope(x: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const hd = rows / heads;
  const out = new Float32Array(x.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < hd / 2; i++)
      for (let half = 0; half < 2; half++)
        out.set(
          x.subarray((h * hd + 2 * i + half) * cols, (h * hd + 2 * i + half + 1) * cols),
          (h * hd + half * (hd / 2) + i) * cols,
        );
  return out;
}

export function writeSafetensors(ck: Checkpoint, dtype: 'F32' | 'F16' | 'BF16'): { bytes: Uint8Array; config: string } {
  const c = ck.config;
  const names = [...ck.tensors.keys()].filter((n) => !n.startsWith('freq_cis'));
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Uint8Array[] = [];
  let off = 0;
  for (const n of names) {
    const t = ck.tensors.get(n)!;
    let x = t.data as Float32Array;
    if (canon(n).startsWith('wq.')) x = permuteRope(x, t.shape[0]!, t.shape[1]!, c.heads);
    if (canon(n).startsWith('wk.')) x = permuteRope(x, t.shape[0]!, t.shape[1]!, c.kvHeads);
    let b: Uint8Array;
    if (dtype === 'F32') b = new Uint8Array(Float32Array.from(x).buffer);
    else if (dtype === 'F16') b = new Uint8Array(Uint16Array.from(x, f32ToHalf).buffer);
    else
      b = new Uint8Array(
        Uint16Array.from(x, (v) => {
          const u = new Uint32Array(new Float32Array([v]).buffer)[0]!;
          return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16; // round to nearest even, as torch does
        }).buffer,
      );
    header[CANON_TO_HF(canon(n))] = { dtype, shape: t.shape, data_offsets: [off, off + b.length] };
    chunks.push(b);
    off += b.length;
  }
  const hj = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + hj.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hj.length), true);
  out.set(hj, 8);
  let o = 8 + hj.length;
  for (const ch of chunks) {
    out.set(ch, o);
    o += ch.length;
  }
  const config = JSON.stringify(hfConfigFields(c, ck.sharedHead));
  return { bytes: out, config };
}

/** GGUF metadata of a byte-level BPE tokenizer (tokenizer.ggml.model gpt2) as llama.cpp's converter
 *  writes it: tokens by id padded to `size` with [PADn] (UNUSED), the end-of-text token after the
 *  vocabulary (CONTROL, BOS and EOS), merges as "left right", the pre-tokenizer by name. */
export function ggufBpeKvs(
  bpe: { vocab: Map<string, number>; merges: [string, string][] },
  size: number,
  pre: string,
): GgufKv[] {
  const eot = bpe.vocab.size;
  const tokens = Array.from({ length: size }, (_, i) => `[PAD${i}]`);
  for (const [s, i] of bpe.vocab) tokens[i] = s;
  tokens[eot] = '<|endoftext|>';
  return [
    kvs.str('tokenizer.ggml.model', 'gpt2'),
    kvs.str('tokenizer.ggml.pre', pre),
    kvs.strs('tokenizer.ggml.tokens', tokens),
    kvs.i32s(
      'tokenizer.ggml.token_type',
      tokens.map((_, i) => (i < eot ? 1 : i === eot ? 3 : 5)),
    ),
    kvs.strs(
      'tokenizer.ggml.merges',
      bpe.merges.map(([l, r]) => `${l} ${r}`),
    ),
    kvs.u32('tokenizer.ggml.bos_token_id', eot),
    kvs.u32('tokenizer.ggml.eos_token_id', eot),
    kvs.bool('tokenizer.ggml.add_bos_token', false),
  ];
}
