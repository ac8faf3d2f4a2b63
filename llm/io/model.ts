// A loaded Llama checkpoint: the config and named f32 tensors, and the documented mapping from
// checkpoint names to the fields of models/llama.obt's `Llama[Dense, V, D, F, H, KV, L]`.
//
//   obt field                      llama2.c (.bin order)   GGUF                         safetensors (Hugging Face)
//   emb            [V, D]          token_embedding         token_embd.weight            model.embed_tokens.weight
//   blocks[l].attn_norm [D]        rms_att[l]              blk.l.attn_norm.weight       model.layers.l.input_layernorm.weight
//   blocks[l].wq.w [D, D]          wq[l]                   blk.l.attn_q.weight          model.layers.l.self_attn.q_proj.weight (*)
//   blocks[l].wk.w [KV·Dh, D]      wk[l]                   blk.l.attn_k.weight          model.layers.l.self_attn.k_proj.weight (*)
//   blocks[l].wv.w [KV·Dh, D]      wv[l]                   blk.l.attn_v.weight          model.layers.l.self_attn.v_proj.weight
//   blocks[l].wo.w [D, D]          wo[l]                   blk.l.attn_output.weight     model.layers.l.self_attn.o_proj.weight
//   blocks[l].ffn_norm [D]         rms_ffn[l]              blk.l.ffn_norm.weight        model.layers.l.post_attention_layernorm.weight
//   blocks[l].w1.w [F, D]          w1[l]                   blk.l.ffn_gate.weight        model.layers.l.mlp.gate_proj.weight
//   blocks[l].w2.w [D, F]          w2[l]                   blk.l.ffn_down.weight        model.layers.l.mlp.down_proj.weight
//   blocks[l].w3.w [F, D]          w3[l]                   blk.l.ffn_up.weight          model.layers.l.mlp.up_proj.weight
//   norm [D]                       rms_final               output_norm.weight           model.norm.weight
//   head [V, D]                    wcls (or token_embedding when shared)   output.weight (or token_embd)   lm_head.weight (or embed_tokens)
//
// (*) Hugging Face stores q/k rows permuted for its rotate-half RoPE; the loader undoes that so
// every model uses RoPE on adjacent pairs (2i, 2i+1), as llama2.c and GGUF do.
import type { Tensor } from '../../runtime/core/tensor.ts';
import { controlPictures } from '../../runtime/core/errors.ts';

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
}

/** Checkpoint tensors under the canonical names of the table above (the llama2.c column), per layer
 *  as `wq.3`, `rms_att.0`, etc. All f32, row-major [out, in]. */
export interface Checkpoint {
  file: string;
  format: 'llama2c' | 'gguf' | 'safetensors';
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

/** The linear layers of a block, in Block's field order. */
export const LINEAR = ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] as const;

/** Every linear layer of the model: its path in the value tree and its fp weight count. */
export function linearLayers(c: LlamaConfig): { path: string; weights: number }[] {
  const kv = c.kvHeads * headDim(c);
  const n = {
    wq: c.dim * c.dim,
    wk: kv * c.dim,
    wv: kv * c.dim,
    wo: c.dim * c.dim,
    w1: c.hidden * c.dim,
    w2: c.dim * c.hidden,
    w3: c.hidden * c.dim,
  };
  return Array.from({ length: c.layers }, (_, l) =>
    LINEAR.map((p) => ({ path: `blocks[${l}].${p}`, weights: n[p] })),
  ).flat();
}

/** The fp model's parameter count (a tied head counted once). */
export function paramCount(c: LlamaConfig, sharedHead: boolean): number {
  const linear = linearLayers(c).reduce((s, l) => s + l.weights, 0);
  return c.vocab * c.dim * (sharedHead ? 1 : 2) + c.layers * 2 * c.dim + c.dim + linear;
}

/** The expected shape of each canonical tensor. */
export function expectedShapes(c: LlamaConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const kvDim = c.kvHeads * headDim(c);
  m.set('token_embedding', [c.vocab, c.dim]);
  for (let l = 0; l < c.layers; l++) {
    m.set(`rms_att.${l}`, [c.dim]);
    m.set(`wq.${l}`, [c.dim, c.dim]);
    m.set(`wk.${l}`, [kvDim, c.dim]);
    m.set(`wv.${l}`, [kvDim, c.dim]);
    m.set(`wo.${l}`, [c.dim, c.dim]);
    m.set(`rms_ffn.${l}`, [c.dim]);
    m.set(`w1.${l}`, [c.hidden, c.dim]);
    m.set(`w2.${l}`, [c.dim, c.hidden]);
    m.set(`w3.${l}`, [c.hidden, c.dim]);
  }
  m.set('rms_final', [c.dim]);
  m.set('wcls', [c.vocab, c.dim]);
  return m;
}

/** The ranges a config's fields must lie in (any published Llama-family model is well inside them;
 *  outside, a run overflows, divides by zero or allocates without bound). */
export const CONFIG_RANGES = {
  dim: [2, 1 << 16],
  hidden: [1, 1 << 18],
  layers: [1, 1024],
  heads: [1, 1 << 12],
  kvHeads: [1, 1 << 12],
  vocab: [2, 1 << 20],
  seqLen: [1, 1 << 20],
  eps: [1e-12, 0.1],
  ropeTheta: [1, 1e9],
} as const satisfies Record<keyof LlamaConfig, readonly [number, number]>;

export function validateConfig(file: string, c: LlamaConfig): void {
  const bad = (w: string) => {
    throw new LoadError(file, w);
  };
  for (const [k, [lo, hi]] of Object.entries(CONFIG_RANGES) as [keyof LlamaConfig, readonly [number, number]][]) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) bad(`config ${k} = ${v}: expected a finite number`);
    if (k !== 'eps' && k !== 'ropeTheta' && !Number.isInteger(v)) bad(`config ${k} = ${v} is not an integer`);
    if (v < lo || v > hi) bad(`config ${k} = ${v}: expected ${lo} to ${hi}`);
  }
  if (c.dim % c.heads) bad(`dim ${c.dim} is not divisible by n_heads ${c.heads}`);
  if (c.heads % c.kvHeads) bad(`n_heads ${c.heads} is not divisible by n_kv_heads ${c.kvHeads}`);
  if (headDim(c) % 2) bad(`head size ${headDim(c)} is odd; RoPE needs pairs`);
  if (c.vocab * c.dim > 2 ** 31 - 1 || c.hidden * c.dim > 2 ** 31 - 1)
    bad(`implausible config (dim ${c.dim}, hidden ${c.hidden}, vocab ${c.vocab}): a matrix over 2^31 - 1 elements`);
}

/** Checks that every canonical tensor is present with its expected shape. */
export function validateTensors(ck: Checkpoint): void {
  for (const [name, shape] of expectedShapes(ck.config)) {
    if (name === 'wcls' && ck.sharedHead) continue;
    const t = ck.tensors.get(name);
    if (!t) throw new LoadError(ck.file, `missing tensor ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new LoadError(ck.file, `tensor ${name} has shape [${t.shape}], expected [${shape}]`);
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++)
      if (!Number.isFinite(d[i]!))
        throw new LoadError(ck.file, `tensor ${name} contains a non-finite value at element ${i}`);
  }
}

/** The host value of `Llama[Dense, V, D, F, H, KV, L]` for obt (see the mapping table above). */
export function llamaValue(ck: Checkpoint): Record<string, unknown> {
  const t = (n: string) => ck.tensors.get(n)!;
  const dense = (n: string) => ({ w: t(n) });
  return {
    emb: t('token_embedding'),
    blocks: Array.from({ length: ck.config.layers }, (_, l) => ({
      attn_norm: t(`rms_att.${l}`),
      wq: dense(`wq.${l}`),
      wk: dense(`wk.${l}`),
      wv: dense(`wv.${l}`),
      wo: dense(`wo.${l}`),
      ffn_norm: t(`rms_ffn.${l}`),
      w1: dense(`w1.${l}`),
      w2: dense(`w2.${l}`),
      w3: dense(`w3.${l}`),
    })),
    norm: t('rms_final'),
    head: ck.sharedHead ? t('token_embedding') : t('wcls'),
  };
}
