// A loaded checkpoint: its architecture, the config and its tensors by leaf path, and
// the checks every loader shares (the config's ranges, every tensor present, well-shaped and
// finite). Which tensors a model has, and their shapes, come from its `.obt` struct (llm/io/arch.ts);
// what each checkpoint convention calls them, from the name map (llm/io/names/llama.json).
//
// Hugging Face stores q/k rows permuted for its rotate-half RoPE; the loader undoes that so every
// model uses RoPE on adjacent pairs (2i, 2i+1), as llama2.c and GGUF do.
import type { Tensor } from '../../runtime/core/tensor.ts';
import { controlPictures } from '../../runtime/core/errors.ts';
import type { Arch } from './names.ts';

export interface LlamaConfig {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  seqLen: number;
  eps: number;
  ropeTheta: number;
  /** Llama 3.1's RoPE frequency scaling (absent: plain RoPE) */
  ropeScaling?: RopeScaling;
}

/** config.json's rope_scaling with rope_type "llama3" (stdlib/nn.obt's Rope says what each does). */
export interface RopeScaling {
  factor: number;
  lowFreq: number;
  highFreq: number;
  /** original_max_position_embeddings */
  original: number;
}

/** The `rope` argument of a model's entries (stdlib/nn.obt's Rope) for a config. */
export function ropeArg(c: LlamaConfig): Record<string, number> {
  const s = c.ropeScaling;
  return {
    theta: c.ropeTheta,
    factor: s?.factor ?? 1,
    low_freq: s?.lowFreq ?? 1,
    high_freq: s?.highFreq ?? 4,
    original_max: s?.original ?? 8192,
  };
}

/** A checkpoint's tensors by the leaf paths of its architecture's struct (`blocks[3].<layer>.w`). All
 *  f32, row-major [out, in]. */
export interface Checkpoint {
  file: string;
  format: 'llama2c' | 'gguf' | 'safetensors';
  /** its architecture (llm/io/names/) */
  arch: Arch;
  config: LlamaConfig;
  tensors: Map<string, Tensor>;
  /** true when the classifier is the token embedding */
  sharedHead: boolean;
}

/** A user-facing load error: names the file and what is wrong, on one line (printed without a
 *  stack). Text taken from the file — tensor names, a JSON parser's excerpt — may hold any bytes:
 *  control characters are shown as their pictures (␊ for a newline), so the message stays one
 *  line and nothing from the file reaches the terminal raw. */
export class LoadError extends Error {
  constructor(
    readonly file: string,
    what: string,
  ) {
    super(controlPictures(`${file}: ${what}`));
  }
}

export const headDim = (c: LlamaConfig) => c.dim / c.heads;

/** The ranges a config's fields must lie in (any published Llama-family model is well inside them;
 *  outside, a run overflows, divides by zero or allocates without bound). */
const CONFIG_RANGES = {
  dim: [2, 1 << 16],
  hidden: [1, 1 << 18],
  layers: [1, 1024],
  heads: [1, 1 << 12],
  kvHeads: [1, 1 << 12],
  vocab: [2, 1 << 20],
  seqLen: [1, 1 << 20],
  eps: [1e-12, 0.1],
  ropeTheta: [1, 1e9],
} as const satisfies Record<Exclude<keyof LlamaConfig, 'ropeScaling'>, readonly [number, number]>;

export function validateConfig(file: string, c: LlamaConfig): void {
  const bad = (w: string) => {
    throw new LoadError(file, w);
  };
  for (const [k, [lo, hi]] of Object.entries(CONFIG_RANGES) as [
    keyof typeof CONFIG_RANGES,
    readonly [number, number],
  ][]) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) bad(`config ${k} = ${v}: expected a finite number`);
    if (k !== 'eps' && k !== 'ropeTheta' && !Number.isInteger(v)) bad(`config ${k} = ${v} is not an integer`);
    if (v < lo || v > hi) bad(`config ${k} = ${v}: expected ${lo} to ${hi}`);
  }
  const s = c.ropeScaling;
  if (s) {
    const ok = (v: number, lo: number, hi: number) => Number.isFinite(v) && v >= lo && v <= hi;
    if (!ok(s.factor, 1, 1024)) bad(`config ropeScaling.factor = ${s.factor}: expected 1 to 1024`);
    if (!ok(s.lowFreq, 1e-6, 1e6) || !ok(s.highFreq, s.lowFreq * (1 + 1e-6), 1e6))
      bad(`config ropeScaling low/high frequency factors ${s.lowFreq}, ${s.highFreq}: expected 0 < low < high`);
    if (!ok(s.original, 1, 1 << 24) || !Number.isInteger(s.original))
      bad(`config ropeScaling.original = ${s.original}: expected an integer 1 to ${1 << 24}`);
  }
  if (c.dim % c.heads) bad(`dim ${c.dim} is not divisible by n_heads ${c.heads}`);
  if (c.heads % c.kvHeads) bad(`n_heads ${c.heads} is not divisible by n_kv_heads ${c.kvHeads}`);
  if (headDim(c) % 2) bad(`head size ${headDim(c)} is odd; RoPE needs pairs`);
  if (c.vocab * c.dim > 2 ** 31 - 1 || c.hidden * c.dim > 2 ** 31 - 1)
    bad(`implausible config (dim ${c.dim}, hidden ${c.hidden}, vocab ${c.vocab}): a matrix over 2^31 - 1 elements`);
}
