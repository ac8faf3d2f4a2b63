// Random Hugging Face checkpoints the tests make (tensors by transformers' names): Qwen2 with q/k/v
// biases or Llama without, in F32, F16 or BF16 safetensors, with the values as stored for a reference
// to compute with.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { f32ToHalf } from './writers.ts';
import { hfConfigFields } from '../../llm/io/hf_config.ts';
import { halfToFloat } from '../../runtime/core/stored.ts';

export type M = { shape: number[]; data: Float32Array };

/** A model's sizes: vocabulary, width, hidden width, heads, key/value heads, layers. */
export interface Dims {
  V: number;
  D: number;
  F: number;
  H: number;
  KV: number;
  L: number;
}

/** A random Qwen2 (with biases) or Llama checkpoint by Hugging Face name (seeded). */
export function randomHfCheckpoint({ V, D, F, H, KV, L }: Dims, tied: boolean, biases = true): Map<string, M> {
  const Dh = D / H;
  let seed = tied ? 7 : biases ? 8 : 9;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296 - 0.5;
  };
  const mat = (shape: number[], scale: number, base = 0): M => ({
    shape,
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => base + scale * rand()),
  });
  const t = new Map<string, M>();
  t.set('model.embed_tokens.weight', mat([V, D], 2));
  if (!tied) t.set('lm_head.weight', mat([V, D], 1));
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    t.set(`${p}.input_layernorm.weight`, mat([D], 0.2, 1));
    t.set(`${p}.post_attention_layernorm.weight`, mat([D], 0.2, 1));
    for (const [n, o] of [
      ['q_proj', D],
      ['k_proj', KV * Dh],
      ['v_proj', KV * Dh],
    ] as const) {
      t.set(`${p}.self_attn.${n}.weight`, mat([o, D], 2 / Math.sqrt(D)));
      if (biases) t.set(`${p}.self_attn.${n}.bias`, mat([o], 0.5));
    }
    t.set(`${p}.self_attn.o_proj.weight`, mat([D, D], 2 / Math.sqrt(D)));
    t.set(`${p}.mlp.gate_proj.weight`, mat([F, D], 2 / Math.sqrt(D)));
    t.set(`${p}.mlp.up_proj.weight`, mat([F, D], 2 / Math.sqrt(D)));
    t.set(`${p}.mlp.down_proj.weight`, mat([D, F], 2 / Math.sqrt(F)));
  }
  t.set('model.norm.weight', mat([D], 0.2, 1));
  return t;
}

export type DType = 'F32' | 'F16' | 'BF16';

/** A value's 16-bit storage: f16, or bf16 rounded to nearest even (as torch does). */
export const to16 = (dtype: DType) => (v: number) =>
  dtype === 'F16'
    ? f32ToHalf(v)
    : ((u) => (u + 0x7fff + ((u >>> 16) & 1)) >>> 16)(new Uint32Array(Float32Array.of(v).buffer)[0]!);
export const from16 = (dtype: DType) => (h: number) =>
  dtype === 'F16' ? halfToFloat(h) : new Float32Array(Uint32Array.of(h << 16).buffer)[0]!;

/** The checkpoint stored in a dtype: the file's bytes, and the values as stored (the reference
 *  computes with them, so only obt's own arithmetic is compared). */
export function stored(t: Map<string, M>, dtype: DType): { t: Map<string, M>; bytes: Map<string, Uint8Array> } {
  const out = new Map<string, M>();
  const bytes = new Map<string, Uint8Array>();
  for (const [n, m] of t) {
    if (dtype === 'F32') {
      out.set(n, m);
      bytes.set(n, new Uint8Array(m.data.buffer));
      continue;
    }
    const h = Uint16Array.from(m.data, to16(dtype));
    out.set(n, { shape: m.shape, data: Float32Array.from(h, from16(dtype)) });
    bytes.set(n, new Uint8Array(h.buffer));
  }
  return { t: out, bytes };
}

export function safetensors(t: Map<string, M>, dtype: DType, only?: (name: string) => boolean): Uint8Array {
  const { bytes } = stored(t, dtype);
  if (only) for (const n of [...bytes.keys()]) if (!only(n)) bytes.delete(n);
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [n, b] of bytes) {
    header[n] = { dtype, shape: t.get(n)!.shape, data_offsets: [off, off + b.length] };
    off += b.length;
  }
  const h = JSON.stringify(header);
  const out = new Uint8Array(8 + h.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(new TextEncoder().encode(h), 8);
  let o = 8 + h.length;
  for (const b of bytes.values()) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

/** A random Llama folder whose rows are whole blocks of 256 (llama.cpp's Q1_0 and TQ* blocks; the
 *  shipped 512-piece tokenizer), F32: a teacher for the methods stories260K's rows do not fit. */
export function randomLlamaFolder(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const dims = { V: 512, D: 256, F: 512, H: 4, KV: 4, L: 2 };
  writeFileSync(join(dir, 'model.safetensors'), safetensors(randomHfCheckpoint(dims, false, false), 'F32'));
  const c = {
    dim: 256,
    hidden: 512,
    layers: 2,
    heads: 4,
    kvHeads: 4,
    vocab: 512,
    seqLen: 256,
    eps: 1e-5,
    ropeTheta: 1e4,
  };
  const config = { architectures: ['LlamaForCausalLM'], model_type: 'llama', ...hfConfigFields(c, false) };
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, bos_token_id: 1, eos_token_id: 2 }));
  writeFileSync(join(dir, 'tok512.bin'), readFileSync(join(import.meta.dirname, '../../data/tok512.bin')));
  return dir;
}
