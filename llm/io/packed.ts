// The OneBit-only packed model file (.obt1) that model files (modelfile.ts) replaced; still read
// (as a model of the shipped onebit method), no longer written.
//   "OBT1BIT\0", u32 version (1), u32 header length, a JSON header {config, tokenizer, tensors:
//   [{name, dtype: sign|f32|f16, shape, offset, bytes}]}, zero padding to 8 bytes, the tensor data
//   (signs as packed u32 words, 32 per word along the input axis, bit 1 = −1; vectors and the
//   frozen fp parts as f32 or f16), then a CRC-32 of everything before it.
// Names: token_embedding, rms_att.l, rms_ffn.l, rms_final, wcls (absent when tied), and for each
// projection p in wq wk wv wo w1 w2 w3 of block l: p.l.s, p.l.g, p.l.h.
import { LoadError, validateConfig, type LlamaConfig } from './model.ts';
import { crc32, readBytesCopy } from './state.ts';
import { halfToFloat } from './gguf.ts';
import { signWords, type Tensor } from '../../runtime/core/tensor.ts';
import type { TokenizerData } from './tokenizer.ts';

const MAGIC = 'OBT1BIT\0';
const PROJ = ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] as const;

interface Entry {
  name: string;
  dtype: 'sign' | 'f32' | 'f16';
  shape: number[];
  offset: number;
  bytes: number;
}

export interface PackedModel {
  file: string;
  config: LlamaConfig;
  tokenizer: TokenizerData;
  /** host value of Llama[OneBit, V, D, F, H, KV, L] */
  value: Record<string, unknown>;
  sharedHead: boolean;
  bytes: number;
}

export function isPacked(head: Uint8Array): boolean {
  return new TextDecoder().decode(head.subarray(0, 8)) === MAGIC;
}

export function readPacked(file: string): PackedModel {
  const b = readBytesCopy(file);
  if (b.length < 20 || !isPacked(b)) throw new LoadError(file, 'not a packed obt 1-bit model (no OBT1BIT magic)');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(8, true) !== 1)
    throw new LoadError(file, `format version ${dv.getUint32(8, true)}; this reader knows version 1`);
  if (crc32(b.subarray(0, b.length - 4)) !== dv.getUint32(b.length - 4, true))
    throw new LoadError(file, 'checksum mismatch: the file is corrupted or truncated');
  const hlen = dv.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(b.subarray(16, 16 + hlen))) as {
    config: LlamaConfig;
    tokenizer: Omit<TokenizerData, 'source'>;
    sharedHead: boolean;
    tensors: Entry[];
  };
  validateConfig(file, header.config);
  const base = 16 + hlen + ((8 - ((16 + hlen) % 8)) % 8);
  const map = new Map<string, Tensor>();
  for (const e of header.tensors) {
    const at = base + e.offset;
    if (at + e.bytes > b.length - 4) throw new LoadError(file, `truncated: tensor ${e.name}`);
    const raw = b.slice(at, at + e.bytes);
    if (e.dtype === 'sign') {
      const words = e.shape.slice(0, -1).reduce((x, y) => x * y, 1) * signWords(e.shape[e.shape.length - 1]!);
      if (raw.length !== words * 4)
        throw new LoadError(file, `tensor ${e.name}: ${raw.length} bytes for ${words} sign words`);
      map.set(e.name, { dtype: 'sign', shape: e.shape, data: new Uint32Array(raw.buffer) });
    } else if (e.dtype === 'f16') {
      const u = new Uint16Array(raw.buffer);
      map.set(e.name, { dtype: 'f32', shape: e.shape, data: Float32Array.from(u, halfToFloat) });
    } else map.set(e.name, { dtype: 'f32', shape: e.shape, data: new Float32Array(raw.buffer) });
  }
  const get = (n: string) => {
    const x = map.get(n);
    if (!x) throw new LoadError(file, `missing tensor ${n}`);
    return x;
  };
  const c = header.config;
  const value = {
    emb: get('token_embedding'),
    blocks: Array.from({ length: c.layers }, (_, l) => ({
      attn_norm: get(`rms_att.${l}`),
      ffn_norm: get(`rms_ffn.${l}`),
      ...Object.fromEntries(
        PROJ.map((p) => [p, { s: get(`${p}.${l}.s`), g: get(`${p}.${l}.g`), h: get(`${p}.${l}.h`) }]),
      ),
    })),
    norm: get('rms_final'),
    head: header.sharedHead ? get('token_embedding') : get('wcls'),
  };
  return {
    file,
    config: c,
    tokenizer: { source: file, ...header.tokenizer },
    value,
    sharedHead: header.sharedHead,
    bytes: b.length,
  };
}
