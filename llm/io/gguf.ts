// GGUF v3 loader: metadata and tensor directory through @huggingface/gguf (a maintained parser
// that reads local files), tensor data read here and converted to f32 (F32, F16, BF16, Q8_0).
// The Llama config and the tokenizer come from the metadata.
import { gguf } from '@huggingface/gguf';
import { readFileSync } from 'node:fs';
import { LoadError, validateConfig, validateTensors, type Checkpoint, type LlamaConfig } from './model.ts';
import type { Tensor } from '../../runtime/core/tensor.ts';
import type { TokenizerData } from './tokenizer.ts';

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

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Bytes a tensor of a GGML type and element count occupies. */
function byteSize(type: number, n: number, file: string, name: string): number {
  switch (type) {
    case GGML_F32:
      return n * 4;
    case GGML_F16:
    case GGML_BF16:
      return n * 2;
    case GGML_Q8_0:
      if (n % 32) throw new LoadError(file, `tensor ${name}: Q8_0 needs a multiple of 32 elements, has ${n}`);
      return (n / 32) * 34;
    default:
      throw new LoadError(
        file,
        `tensor ${name} has GGML type ${TYPE_NAMES[type] ?? type}; supported: F32, F16, BF16, Q8_0`,
      );
  }
}

function dequantize(type: number, bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === GGML_F32) for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  else if (type === GGML_F16) for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
  else if (type === GGML_BF16) {
    const u = new Uint32Array(1);
    const f = new Float32Array(u.buffer);
    for (let i = 0; i < n; i++) {
      u[0] = dv.getUint16(i * 2, true) << 16;
      out[i] = f[0]!;
    }
  } else if (type === GGML_Q8_0) {
    for (let b = 0; b < n / 32; b++) {
      const d = halfToFloat(dv.getUint16(b * 34, true));
      for (let j = 0; j < 32; j++) out[b * 32 + j] = d * dv.getInt8(b * 34 + 2 + j);
    }
  }
  return out;
}

const GGUF_TO_CANON: [RegExp, (m: RegExpMatchArray) => string][] = [
  [/^token_embd\.weight$/, () => 'token_embedding'],
  [/^output_norm\.weight$/, () => 'rms_final'],
  [/^output\.weight$/, () => 'wcls'],
  [/^blk\.(\d+)\.attn_norm\.weight$/, (m) => `rms_att.${m[1]}`],
  [/^blk\.(\d+)\.attn_q\.weight$/, (m) => `wq.${m[1]}`],
  [/^blk\.(\d+)\.attn_k\.weight$/, (m) => `wk.${m[1]}`],
  [/^blk\.(\d+)\.attn_v\.weight$/, (m) => `wv.${m[1]}`],
  [/^blk\.(\d+)\.attn_output\.weight$/, (m) => `wo.${m[1]}`],
  [/^blk\.(\d+)\.ffn_norm\.weight$/, (m) => `rms_ffn.${m[1]}`],
  [/^blk\.(\d+)\.ffn_gate\.weight$/, (m) => `w1.${m[1]}`],
  [/^blk\.(\d+)\.ffn_down\.weight$/, (m) => `w2.${m[1]}`],
  [/^blk\.(\d+)\.ffn_up\.weight$/, (m) => `w3.${m[1]}`],
];

export interface GgufModel {
  checkpoint: Checkpoint;
  tokenizer: TokenizerData;
}

export async function loadGguf(file: string): Promise<GgufModel> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch {
    throw new LoadError(file, 'cannot read the file');
  }
  if (bytes.byteLength < 24 || String.fromCharCode(...bytes.subarray(0, 4)) !== 'GGUF')
    throw new LoadError(file, 'not a GGUF file (no GGUF magic)');
  const version = new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);
  if (version !== 3) throw new LoadError(file, `GGUF version ${version}; this loader reads version 3`);
  let parsed;
  try {
    parsed = await gguf(file, { allowLocalFile: true });
  } catch (e) {
    throw new LoadError(file, `corrupted GGUF header or metadata (${(e as Error).message})`);
  }
  const md = parsed.metadata as unknown as Record<string, unknown>;
  const arch = String(md['general.architecture'] ?? '');
  if (arch !== 'llama') throw new LoadError(file, `architecture '${arch}', expected 'llama'`);
  const num = (k: string, dflt?: number): number => {
    const v = md[`llama.${k}`];
    if (v === undefined) {
      if (dflt !== undefined) return dflt;
      throw new LoadError(file, `metadata llama.${k} is missing`);
    }
    return Number(v);
  };
  const tokens = md['tokenizer.ggml.tokens'] as string[] | undefined;
  const scores = md['tokenizer.ggml.scores'] as number[] | undefined;
  if (!tokens || !scores || tokens.length !== scores.length)
    throw new LoadError(file, 'metadata has no tokenizer.ggml.tokens / scores of equal length');
  const heads = num('attention.head_count');
  const config: LlamaConfig = {
    dim: num('embedding_length'),
    hidden: num('feed_forward_length'),
    layers: num('block_count'),
    heads,
    kvHeads: num('attention.head_count_kv', heads),
    vocab: tokens.length,
    seqLen: num('context_length'),
    eps: Math.fround(num('attention.layer_norm_rms_epsilon', 1e-5)),
    ropeTheta: num('rope.freq_base', 10000),
  };
  validateConfig(file, config);
  const dataStart = Number(parsed.tensorDataOffset);
  const tensors = new Map<string, Tensor>();
  for (const info of parsed.tensorInfos) {
    const rule = GGUF_TO_CANON.find(([re]) => re.test(info.name));
    if (!rule) continue;
    const canon = rule[1](info.name.match(rule[0])!);
    const shape = info.shape.map(Number).reverse(); // GGUF lists dims innermost first
    const n = shape.reduce((a, b) => a * b, 1);
    const start = dataStart + Number(info.offset);
    const size = byteSize(info.dtype as number, n, file, info.name);
    if (start + size > bytes.byteLength)
      throw new LoadError(
        file,
        `truncated: tensor ${info.name} needs bytes ${start}..${start + size}, the file has ${bytes.byteLength}`,
      );
    tensors.set(canon, {
      dtype: 'f32',
      shape,
      data: dequantize(info.dtype as number, bytes.subarray(start, start + size), n),
    });
  }
  const sharedHead = !tensors.has('wcls');
  const ck: Checkpoint = { file, format: 'gguf', config, tensors, sharedHead };
  validateTensors(ck);
  const special = (k: string, d: number) => (md[k] === undefined ? d : Number(md[k]));
  return {
    checkpoint: ck,
    tokenizer: {
      source: file,
      pieces: tokens.map((t) => t.replace(/\u2581/g, ' ')),
      scores: scores.map(Number),
      bos: special('tokenizer.ggml.bos_token_id', 1),
      eos: special('tokenizer.ggml.eos_token_id', 2),
    },
  };
}
