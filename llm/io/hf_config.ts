// A Hugging Face model's config.json: the fields obt reads (Hugging Face's names) checked against
// a schema, the architecture from `architectures` (through llm/io/names/), the BOS/EOS ids, and
// every field whose value would change the model's function in a way obt does not implement
// refused in one line naming it (rather than running a different model).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { LoadError, type LlamaConfig, type RopeScaling } from './model.ts';
import { ARCHES, LLAMA, archFor, archNamed, knownNames, type Arch } from './names.ts';
import { parseJsonBytes, parseWith } from './validate.ts';

/** config.json's fields obt reads (Hugging Face's names); others pass through unchecked. */
const HfConfig = z.looseObject({
  architectures: z.array(z.string().max(128)).max(16).optional(),
  hidden_size: z.number(),
  intermediate_size: z.number(),
  num_hidden_layers: z.number(),
  num_attention_heads: z.number(),
  num_key_value_heads: z.number().optional(),
  vocab_size: z.number(),
  max_position_embeddings: z.number().optional(),
  rms_norm_eps: z.number().optional(),
  rope_theta: z.number().optional(),
  model_type: z.string().max(64).optional(),
  hidden_act: z.string().max(64).optional(),
  head_dim: z.number().optional(),
  tie_word_embeddings: z.boolean().optional(),
  rope_scaling: z.unknown().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  use_sliding_window: z.boolean().optional(),
  // a list where a model stops at several (Llama 3 Instruct): the first is the one obt uses
  bos_token_id: z.union([z.number().int(), z.array(z.number().int()).min(1).max(64), z.null()]).optional(),
  eos_token_id: z.union([z.number().int(), z.array(z.number().int()).min(1).max(64), z.null()]).optional(),
});

/** rope_scaling as Llama 3.1+ writes it (older files say `type` for `rope_type`). */
const Llama3Scaling = z.looseObject({
  factor: z.number(),
  low_freq_factor: z.number(),
  high_freq_factor: z.number(),
  original_max_position_embeddings: z.number(),
});

/** config.json's rope_scaling: absent, null or rope_type "default" is plain RoPE; "llama3" is read;
 *  any other kind (linear, dynamic, yarn, longrope) is refused naming it. */
function readRopeScaling(
  v: unknown,
  field: (name: string, value: unknown, why: string) => LoadError,
): RopeScaling | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw field('rope_scaling', v, 'expected an object or null');
  const o = v as Record<string, unknown>;
  const kind = o.rope_type ?? o.type;
  if (kind === 'default') return undefined;
  if (kind !== 'llama3')
    throw field('rope_scaling.rope_type', kind ?? null, 'only "llama3" RoPE scaling (or "default") is supported');
  const r = Llama3Scaling.safeParse(o);
  if (!r.success) {
    const at = r.error.issues[0]!.path.join('.');
    throw field(`rope_scaling.${at}`, o[at] ?? null, 'expected a number');
  }
  const s = r.data;
  if (!(s.factor >= 1 && s.factor <= 1024)) throw field('rope_scaling.factor', s.factor, 'expected 1 to 1024');
  if (!(s.low_freq_factor > 0 && s.high_freq_factor > s.low_freq_factor))
    throw field(
      'rope_scaling.high_freq_factor',
      s.high_freq_factor,
      `expected above low_freq_factor (${s.low_freq_factor}) > 0`,
    );
  return {
    factor: s.factor,
    lowFreq: s.low_freq_factor,
    highFreq: s.high_freq_factor,
    original: s.original_max_position_embeddings,
  };
}

/** nanoGPT's model_args (its checkpoint's `model_args`, dumped as config.json) as Hugging Face's
 *  fields for its GPT (models/gpt.obt, or models/gpt_bias.obt for bias=True: MLP 4 · n_embd wide,
 *  exact GELU, LayerNorm eps 1e-5, tied head); any other JSON is returned as it is. */
function fromNanoGpt(path: string, raw: unknown): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const o = raw as Record<string, unknown>;
  if (!('n_embd' in o) || 'hidden_size' in o) return raw;
  if (o.bias !== undefined && typeof o.bias !== 'boolean')
    throw new LoadError(path, `field bias: ${JSON.stringify(o.bias).slice(0, 40)}, expected true or false`);
  const n = (k: string) => o[k];
  return {
    architectures: [o.bias === true ? 'GPTBias' : 'GPT'],
    hidden_size: n('n_embd'),
    intermediate_size: typeof o.n_embd === 'number' ? 4 * o.n_embd : o.n_embd,
    num_hidden_layers: n('n_layer'),
    num_attention_heads: n('n_head'),
    vocab_size: n('vocab_size'),
    max_position_embeddings: n('block_size'),
    rms_norm_eps: 1e-5,
    hidden_act: 'gelu',
    tie_word_embeddings: true,
  };
}

/** config.json beside a safetensors file, checked. */
function readHfConfig(file: string): { path: string; c: z.infer<typeof HfConfig> } {
  const path = join(dirname(file), 'config.json');
  if (!existsSync(path)) throw new LoadError(file, 'no config.json next to the safetensors file');
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new LoadError(path, 'cannot read the file');
  }
  if (bytes.length > 1 << 20) throw new LoadError(path, `${bytes.length} bytes; a config.json is at most 1 MiB`);
  return { path, c: parseWith(path, 'field', HfConfig, fromNanoGpt(path, parseJsonBytes(path, 'config', bytes))) };
}

/** The BOS and EOS ids config.json beside a safetensors file gives (a tokenizer_config.json that
 *  names its tokens comes first). */
export function hfSpecialIds(file: string): { bos?: number | null; eos?: number | null } {
  const { c } = readHfConfig(file);
  const first = (v: number | number[] | null | undefined) => (Array.isArray(v) ? v[0] : v);
  return { bos: first(c.bos_token_id), eos: first(c.eos_token_id) };
}

/** config.json beside a safetensors file: the architecture (its `architectures`, LlamaForCausalLM
 *  when absent) and the config. */
export function readConfig(file: string): { arch: Arch; config: LlamaConfig; tied?: boolean } {
  const { path, c } = readHfConfig(file);
  const field = (name: string, value: unknown, why: string) =>
    new LoadError(path, `field ${name}: ${JSON.stringify(value).slice(0, 120)}, ${why}`);
  let arch: Arch | undefined = LLAMA;
  if (c.architectures) {
    arch = archFor('hf', c.architectures);
    if (!arch) throw field('architectures', c.architectures, `expected one of ${knownNames('hf').join(', ')}`);
  } else if (c.model_type !== undefined) {
    arch = archNamed(c.model_type);
    if (!arch) throw field('model_type', c.model_type, `expected one of ${[...ARCHES.keys()].join(', ')}`);
  }
  // what would make it a different model than the architecture's .obt file computes
  if (c.hidden_act !== undefined && c.hidden_act !== arch.act)
    throw field('hidden_act', c.hidden_act, `${arch.name}'s MLP uses ${arch.act}`);
  const ropeScaling = readRopeScaling(c.rope_scaling, field);
  if (c.attention_bias) throw field('attention_bias', true, `${arch.name} has no attention biases`);
  if (c.mlp_bias) throw field('mlp_bias', true, `${arch.name} has no MLP biases`);
  if (c.use_sliding_window) throw field('use_sliding_window', true, 'sliding-window attention is not supported');
  if (c.head_dim !== undefined && c.head_dim * c.num_attention_heads !== c.hidden_size)
    throw field(
      'head_dim',
      c.head_dim,
      `obt's models have hidden_size / num_attention_heads (${c.hidden_size / c.num_attention_heads})`,
    );
  const heads = c.num_attention_heads;
  const config = {
    dim: c.hidden_size,
    hidden: c.intermediate_size,
    layers: c.num_hidden_layers,
    heads,
    kvHeads: c.num_key_value_heads ?? heads,
    vocab: c.vocab_size,
    seqLen: c.max_position_embeddings ?? 2048,
    eps: c.rms_norm_eps ?? 1e-5,
    ropeTheta: c.rope_theta ?? 10000,
    ...(ropeScaling ? { ropeScaling } : {}),
  };
  return { arch, config, tied: c.tie_word_embeddings };
}

/** config.json's fields for a config (what readConfig reads back): the writers of Hugging Face
 *  folders (tests, bench/checkpoints.ts) share it. */
export function hfConfigFields(c: LlamaConfig, tied: boolean): Record<string, unknown> {
  const s = c.ropeScaling;
  return {
    hidden_size: c.dim,
    intermediate_size: c.hidden,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    vocab_size: c.vocab,
    max_position_embeddings: c.seqLen,
    rms_norm_eps: c.eps,
    rope_theta: c.ropeTheta,
    ...(s
      ? {
          rope_scaling: {
            rope_type: 'llama3',
            factor: s.factor,
            low_freq_factor: s.lowFreq,
            high_freq_factor: s.highFreq,
            original_max_position_embeddings: s.original,
          },
        }
      : {}),
    tie_word_embeddings: tied,
  };
}
