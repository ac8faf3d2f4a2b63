// safetensors loader for Hugging Face LLaMA checkpoints: an 8-byte header length, a JSON header
// (dtype, shape, data_offsets per tensor), then the data; F32, F16 and BF16. The config comes
// from config.json beside the file. q_proj/k_proj rows are permuted back from Hugging Face's
// rotate-half layout to adjacent RoPE pairs (the inverse of its conversion script's permute).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LoadError, validateConfig, validateTensors, type Checkpoint, type LlamaConfig } from './model.ts';
import { halfToFloat } from './gguf.ts';
import type { Tensor } from '../../runtime/core/tensor.ts';

const HF_TO_CANON: [RegExp, (m: RegExpMatchArray) => string][] = [
  [/^model\.embed_tokens\.weight$/, () => 'token_embedding'],
  [/^model\.norm\.weight$/, () => 'rms_final'],
  [/^lm_head\.weight$/, () => 'wcls'],
  [/^model\.layers\.(\d+)\.input_layernorm\.weight$/, (m) => `rms_att.${m[1]}`],
  [/^model\.layers\.(\d+)\.self_attn\.q_proj\.weight$/, (m) => `wq.${m[1]}`],
  [/^model\.layers\.(\d+)\.self_attn\.k_proj\.weight$/, (m) => `wk.${m[1]}`],
  [/^model\.layers\.(\d+)\.self_attn\.v_proj\.weight$/, (m) => `wv.${m[1]}`],
  [/^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$/, (m) => `wo.${m[1]}`],
  [/^model\.layers\.(\d+)\.post_attention_layernorm\.weight$/, (m) => `rms_ffn.${m[1]}`],
  [/^model\.layers\.(\d+)\.mlp\.gate_proj\.weight$/, (m) => `w1.${m[1]}`],
  [/^model\.layers\.(\d+)\.mlp\.down_proj\.weight$/, (m) => `w2.${m[1]}`],
  [/^model\.layers\.(\d+)\.mlp\.up_proj\.weight$/, (m) => `w3.${m[1]}`],
];

/** Rows of a [heads·hd, in] matrix from rotate-half order (i, i + hd/2) to adjacent pairs (2i, 2i+1). */
export function unpermuteRope(t: Tensor, heads: number): Tensor {
  const [rows, cols] = t.shape as [number, number];
  const hd = rows / heads;
  const out = new Float32Array(rows * cols);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < hd / 2; i++)
      for (let half = 0; half < 2; half++) {
        const src = h * hd + half * (hd / 2) + i; // HF row
        const dst = h * hd + 2 * i + half; // adjacent-pair row
        out.set((t.data as Float32Array).subarray(src * cols, (src + 1) * cols), dst * cols);
      }
  return { dtype: 'f32', shape: t.shape, data: out };
}

function readConfig(file: string): LlamaConfig {
  const path = join(dirname(file), 'config.json');
  if (!existsSync(path)) throw new LoadError(file, 'no config.json next to the safetensors file');
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new LoadError(path, `invalid JSON (${(e as Error).message})`);
  }
  const n = (k: string, d?: number) => {
    const v = c[k] ?? d;
    if (v === undefined) throw new LoadError(path, `missing ${k}`);
    return Number(v);
  };
  const heads = n('num_attention_heads');
  return {
    dim: n('hidden_size'),
    hidden: n('intermediate_size'),
    layers: n('num_hidden_layers'),
    heads,
    kvHeads: n('num_key_value_heads', heads),
    vocab: n('vocab_size'),
    seqLen: n('max_position_embeddings', 2048),
    eps: n('rms_norm_eps', 1e-5),
    ropeTheta: n('rope_theta', 10000),
  };
}

export function loadSafetensors(file: string, bytes: Uint8Array): Checkpoint {
  const config = readConfig(file);
  validateConfig(file, config);
  if (bytes.byteLength < 8) throw new LoadError(file, 'truncated: no safetensors header');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(dv.getBigUint64(0, true));
  if (hlen <= 0 || 8 + hlen > bytes.byteLength)
    throw new LoadError(file, `corrupted header length ${hlen} (file has ${bytes.byteLength} bytes)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  } catch {
    throw new LoadError(file, 'corrupted header: not JSON');
  }
  const base = 8 + hlen;
  const tensors = new Map<string, Tensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const rule = HF_TO_CANON.find(([re]) => re.test(name));
    if (!rule) continue;
    const canon = rule[1](name.match(rule[0])!);
    const n = info.shape.reduce((a, b) => a * b, 1);
    const [s, e] = info.data_offsets;
    const width = { F32: 4, F16: 2, BF16: 2 }[info.dtype];
    if (!width) throw new LoadError(file, `tensor ${name} has dtype ${info.dtype}; supported: F32, F16, BF16`);
    if (e - s !== n * width) throw new LoadError(file, `tensor ${name}: ${e - s} bytes for ${n} ${info.dtype} values`);
    if (base + e > bytes.byteLength)
      throw new LoadError(file, `truncated: tensor ${name} ends at byte ${base + e}, the file has ${bytes.byteLength}`);
    const out = new Float32Array(n);
    const off = base + s;
    if (info.dtype === 'F32') for (let i = 0; i < n; i++) out[i] = dv.getFloat32(off + 4 * i, true);
    else if (info.dtype === 'F16') for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(off + 2 * i, true));
    else {
      const u = new Uint32Array(1);
      const f = new Float32Array(u.buffer);
      for (let i = 0; i < n; i++) {
        u[0] = dv.getUint16(off + 2 * i, true) << 16;
        out[i] = f[0]!;
      }
    }
    let t: Tensor = { dtype: 'f32', shape: info.shape, data: out };
    if (canon.startsWith('wq.')) t = unpermuteRope(t, config.heads);
    if (canon.startsWith('wk.')) t = unpermuteRope(t, config.kvHeads);
    tensors.set(canon, t);
  }
  const sharedHead = !tensors.has('wcls');
  const ck: Checkpoint = { file, format: 'safetensors', config, tensors, sharedHead };
  validateTensors(ck);
  return ck;
}
