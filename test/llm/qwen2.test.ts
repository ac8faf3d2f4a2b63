// Qwen2 (models/qwen2.obt + llm/io/names/qwen2.json) from a Hugging Face folder the test makes:
// random weights in safetensors with q/k/v biases and q/k rows in rotate-half order, config.json
// naming Qwen2ForCausalLM (rope_theta 1e6, a vocabulary padded past the tokenizer's size, a tied
// and an untied head), and a byte-level BPE tokenizer.json without BOS. obtc ppl and generate are
// checked against an independent f64 forward written here from transformers' Qwen2 definition
// (rotate_half RoPE, not obt's adjacent pairs: the loader's permutation is under test too), with the
// weights as stored in F32, BF16 and F16 (kept 16-bit in memory: the kernels convert). The same
// folder as a LlamaForCausalLM without biases is SmolLM's, Llama 2's and Llama 3's layout (see CASES).
import { hfConfigFields } from '../../llm/io/hf_config.ts';
import { causalAttention } from '../helpers/ref_attention.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { obtcInProcess } from '../helpers/cli.ts';
import { byteLevelBpe } from '../helpers/hf_tokenizers.ts';
import { GGML, ggufBpeKvs, ggufFile, kvs, q8_0, type GgufTensor } from '../helpers/writers.ts';
import { halfToFloat } from '../../runtime/core/stored.ts';
import { from16, randomHfCheckpoint, safetensors, stored, to16, type DType, type M } from '../helpers/hf_models.ts';
import { loadModel } from '../../llm/load.ts';
import { perplexity, tokenStream } from '../../llm/eval.ts';
import { ModelRunner } from '../../llm/runner.ts';

const root = join(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'obt-qwen2-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const story = readFileSync(join(root, 'data/tinystories_valid_eval.txt'), 'utf8').slice(0, 20_000);
const bpe = byteLevelBpe(story, 100); // 256 bytes + 100 merges + <|endoftext|> = 357 tokens
const [V, D, F, H, KV, L] = [384, 32, 48, 4, 2, 2];
const Dh = D / H;
const EPS = 1e-6;
const THETA = 1e6;

const DIMS = { V, D, F, H, KV, L };
const checkpoint = (tied: boolean, biases = true) => randomHfCheckpoint(DIMS, tied, biases);

/** config.json's rope_scaling for Llama 3.1 (rope_type llama3). */
interface Scaling {
  factor: number;
  low_freq_factor: number;
  high_freq_factor: number;
  original_max_position_embeddings: number;
}

/** RoPE's inverse frequencies as transformers computes them (_compute_llama3_parameters when scaled). */
function invFreq(theta: number, s?: Scaling): number[] {
  return Array.from({ length: Dh / 2 }, (_, i) => {
    const f = theta ** (-(2 * i) / Dh);
    if (!s) return f;
    const wavelen = (2 * Math.PI) / f;
    const old = s.original_max_position_embeddings;
    if (wavelen < old / s.high_freq_factor) return f;
    if (wavelen > old / s.low_freq_factor) return f / s.factor;
    const smooth = (old / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    return ((1 - smooth) * f) / s.factor + smooth * f;
  });
}

/** transformers' Qwen2 (Llama, without biases) forward in f64: logits of every position of a sequence. */
function reference(t: Map<string, M>, tokens: number[], freq = invFreq(THETA)): number[][] {
  const g = (n: string) => t.get(n)!.data;
  const linear = (x: number[], n: string, o: number, i: number, bias: boolean) =>
    Array.from({ length: o }, (_, r) => {
      let s = bias && t.has(`${n}.bias`) ? g(`${n}.bias`)[r]! : 0;
      for (let c = 0; c < i; c++) s += g(`${n}.weight`)[r * i + c]! * x[c]!;
      return s;
    });
  const rms = (x: number[], n: string) => {
    const r = 1 / Math.sqrt(x.reduce((a, b) => a + b * b, 0) / x.length + EPS);
    return x.map((e, i) => e * r * g(`${n}.weight`)[i]!);
  };
  // q·cos + rotate_half(q)·sin per head, rotate_half(x) = [-x2, x1] over the two halves
  const rope = (x: number[], heads: number, pos: number) => {
    const out = x.slice();
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < Dh / 2; i++) {
        const a = pos * freq[i]!;
        const [x1, x2] = [x[h * Dh + i]!, x[h * Dh + i + Dh / 2]!];
        out[h * Dh + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
        out[h * Dh + i + Dh / 2] = x2 * Math.cos(a) + x1 * Math.sin(a);
      }
    return out;
  };
  let xs = tokens.map((tok) => Array.from(g('model.embed_tokens.weight').subarray(tok * D, (tok + 1) * D)));
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    const hs = xs.map((x) => rms(x, `${p}.input_layernorm`));
    const q = hs.map((h, pos) => rope(linear(h, `${p}.self_attn.q_proj`, D, D, true), H, pos));
    const k = hs.map((h, pos) => rope(linear(h, `${p}.self_attn.k_proj`, KV * Dh, D, true), KV, pos));
    const v = hs.map((h) => linear(h, `${p}.self_attn.v_proj`, KV * Dh, D, true));
    const atts = causalAttention(q, k, v, H, KV, Dh);
    xs = xs.map((x, tq) => {
      const att = atts[tq]!;
      const x2 = linear(att, `${p}.self_attn.o_proj`, D, D, false).map((o, i) => x[i]! + o);
      const h2 = rms(x2, `${p}.post_attention_layernorm`);
      const a = linear(h2, `${p}.mlp.gate_proj`, F, D, false);
      const b = linear(h2, `${p}.mlp.up_proj`, F, D, false);
      const gated = a.map((u, i) => (u / (1 + Math.exp(-u))) * b[i]!);
      return linear(gated, `${p}.mlp.down_proj`, D, F, false).map((o, i) => x2[i]! + o);
    });
  }
  const head = t.has('lm_head.weight') ? g('lm_head.weight') : g('model.embed_tokens.weight');
  return xs.map((x) => {
    const h = rms(x, 'model.norm');
    return Array.from({ length: V }, (_, r) => {
      let s = 0;
      for (let c = 0; c < D; c++) s += head[r * D + c]! * h[c]!;
      return s;
    });
  });
}

/** Loads `weights` and checks obtc ppl (cross-entropy within 1e-4), the logits of a 16-token
 *  sequence (given plain RoPE's frequencies: scaled RoPE is under test) and obtc generate's greedy ids against the f64 forward over the values
 *  as stored (`t`, by Hugging Face name). */
async function agrees(
  weights: string,
  arch: string,
  t: Map<string, M>,
  freq: number[],
  text: string,
  dtype: string,
  plainFreq?: number[],
) {
  const m = await loadModel(weights);
  expect([m.arch.name, m.config.vocab, m.tokenizer.data.bos]).toEqual([arch, V, bpe.vocab.size]);
  // F16 and BF16 weights stay in their 16 bits
  const emb = m.checkpoint!.tensors.get('emb')!;
  expect(emb.stored ?? 'f32').toBe({ F32: 'f32', F16: 'f16', BF16: 'bf16', Q8_0: 'q8_0' }[dtype]);
  const seq = 16;
  const refPpl = (f: number[]) =>
    perplexity(tokenStream(readFileSync(text, 'utf8'), m.tokenizer), seq, async (ids, targets) =>
      Float32Array.from(reference(t, ids, f), (row, i) => {
        const mx = Math.max(...row);
        return Math.log(row.reduce((a, b) => a + Math.exp(b - mx), 0)) + mx - row[targets[i]!]!;
      }),
    );
  const want = await refPpl(freq);
  const p = await obtcInProcess(['ppl', '--weights', weights, '--seq', String(seq), '--text', text, '--json']);
  expect(p.code, p.err).toBe(0);
  const got = JSON.parse(p.out) as { ce: number; tokens: number; windows: number };
  expect([got.tokens, got.windows]).toEqual([want.tokens, want.windows]);
  expect(Math.abs(got.ce - want.ce) / want.ce, `obtc ce ${got.ce} vs the f64 forward's ${want.ce}`).toBeLessThan(1e-4);
  if (plainFreq) {
    // the logits at the last of 16 positions: the f64 forward's within 1e-4 of their spread, and
    // plain RoPE's more than 100 times further off (the scaling is under test)
    const ids = tokenStream(readFileSync(text, 'utf8'), m.tokenizer).slice(0, seq);
    const got = (await ModelRunner.fromFile(m).logits(ids)).slice((seq - 1) * V);
    const dist = (f: number[]) => {
      const want = reference(t, ids, f).at(-1)!;
      return Math.max(...want.map((w, i) => Math.abs(w - got[i]!))) / (Math.max(...want) - Math.min(...want));
    };
    const [scaled, plain] = [dist(freq), dist(plainFreq)];
    expect(scaled).toBeLessThan(1e-4);
    expect(plain).toBeGreaterThan(100 * scaled);
  }

  const gen = await obtcInProcess(['generate', '--weights', weights, '--temperature', '0', '--steps', '6', '--ids']);
  expect(gen.code, gen.err).toBe(0);
  const ids = gen.out.trim().split(/\s+/).filter(Boolean).map(Number);
  const bos = m.tokenizer.data.bos;
  const argmax = (i: number) => {
    const row = reference(t, [bos, ...ids.slice(0, i)], freq).at(-1)!;
    return row.indexOf(Math.max(...row));
  };
  for (let i = 0; i < ids.length; i++) expect(ids[i], `greedy id ${i}`).toBe(argmax(i));
  // generation stops before an end-of-text token: the reference predicts one there
  if (ids.length < 6) expect(argmax(ids.length)).toBe(m.tokenizer.data.eos);

  return m;
}

// Qwen2 tied (Qwen2.5-0.5B) and untied (7B) in F32, BF16 (one file and two shards) and F16, and
// LlamaForCausalLM (transformers' Llama is this forward without biases) with the same byte-level
// tokenizer: tied in F32 (SmolLM's layout), untied in F16 (Llama 2, TinyLlama), and untied in BF16
// with Llama 3.1's RoPE scaling (theta and the context small enough that its three frequency
// bands all occur within a head of 8 and positions up to 16).
const LLAMA3: Scaling = { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
const CASES: {
  cls: string;
  arch: string;
  tied: boolean;
  dtype: DType;
  theta?: number;
  scaling?: Scaling;
  sharded?: boolean;
}[] = [
  { cls: 'Qwen2ForCausalLM', arch: 'qwen2', tied: true, dtype: 'F32' },
  { cls: 'Qwen2ForCausalLM', arch: 'qwen2', tied: false, dtype: 'F32' },
  { cls: 'Qwen2ForCausalLM', arch: 'qwen2', tied: false, dtype: 'BF16' },
  { cls: 'Qwen2ForCausalLM', arch: 'qwen2', tied: true, dtype: 'F16' },
  { cls: 'Qwen2ForCausalLM', arch: 'qwen2', tied: false, dtype: 'BF16', sharded: true },
  { cls: 'LlamaForCausalLM', arch: 'llama', tied: true, dtype: 'F32' },
  // Llama 2 / TinyLlama's layout: untied, grouped-query attention, plain RoPE (here in F16)
  { cls: 'LlamaForCausalLM', arch: 'llama', tied: false, dtype: 'F16' },
  { cls: 'LlamaForCausalLM', arch: 'llama', tied: false, dtype: 'BF16', theta: 100, scaling: LLAMA3 },
];

describe('Qwen2 and SmolLM-style Llama from a Hugging Face folder', () => {
  for (const { cls, arch, tied, dtype, theta = THETA, scaling, sharded } of CASES)
    it(`${cls} ${dtype}${sharded ? ' in two shards' : ''}, ${tied ? 'tied' : 'untied'} head${scaling ? ', Llama 3 RoPE scaling' : ''}: ppl and greedy ids equal transformers' definition in f64${!tied && (dtype === 'F32' || sharded) ? '; quantize keeps the architecture' : ''}`, async () => {
      const freq = invFreq(theta, scaling);
      const dir = mkdtempSync(join(tmp, 'm-'));
      const t32 = checkpoint(tied, arch === 'qwen2');
      if (sharded) {
        // layer 0 and the embedding in one shard, the rest in the other, as the index says
        const first = (n: string) => n.startsWith('model.layers.0.') || n.startsWith('model.embed');
        const shard = (i: number) => `model-0000${i}-of-00002.safetensors`;
        writeFileSync(join(dir, shard(1)), safetensors(t32, dtype, first));
        writeFileSync(
          join(dir, shard(2)),
          safetensors(t32, dtype, (n) => !first(n)),
        );
        const map = Object.fromEntries([...t32.keys()].map((n) => [n, shard(first(n) ? 1 : 2)]));
        writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: map }));
      } else writeFileSync(join(dir, 'model.safetensors'), safetensors(t32, dtype));
      const t = stored(t32, dtype).t;
      const c = {
        dim: D,
        hidden: F,
        layers: L,
        heads: H,
        kvHeads: KV,
        vocab: V,
        seqLen: 64,
        eps: EPS,
        ropeTheta: theta,
      };
      const ropeScaling = scaling && {
        factor: scaling.factor,
        lowFreq: scaling.low_freq_factor,
        highFreq: scaling.high_freq_factor,
        original: scaling.original_max_position_embeddings,
      };
      const config = {
        architectures: [cls],
        model_type: arch,
        ...hfConfigFields({ ...c, ...(ropeScaling ? { ropeScaling } : {}) }, tied),
        bos_token_id: null,
        eos_token_id: bpe.vocab.size,
      };
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      writeFileSync(join(dir, 'tokenizer.json'), bpe.json);
      writeFileSync(join(dir, 'tokenizer_config.json'), bpe.config);
      const text = join(dir, 'text.txt');
      writeFileSync(text, story.slice(0, 600));

      await agrees(dir, arch, t, freq, text, dtype, scaling && invFreq(theta));
      // two KD steps of the default method: the student keeps the architecture and the tokenizer
      if (tied || (dtype !== 'F32' && !sharded)) return;
      const out = join(dir, 'student.obtm');
      const q = await obtcInProcess(
        ['quantize', '--weights', dir, '--steps', '2', '--seq', '16', '--eval-seq', '16', '--eval-windows', '2'].concat(
          ['--out', out, '--checkpoint-every', '0'],
        ),
      );
      expect(q.code, q.err).toBe(0);
      const st = await loadModel(out);
      expect([st.arch.name, st.tokenizer.data.hf?.json]).toEqual(['qwen2', bpe.json]);
    }, 60_000);
});

/** llama.cpp's name of a Hugging Face tensor (its converter's tensor map, written out here). */
const ggufName = (n: string): string =>
  n
    .replace('model.embed_tokens.weight', 'token_embd.weight')
    .replace('lm_head.weight', 'output.weight')
    .replace('model.norm.weight', 'output_norm.weight')
    .replace(/^model\.layers\.(\d+)\./, 'blk.$1.')
    .replace('input_layernorm', 'attn_norm')
    .replace('post_attention_layernorm', 'ffn_norm')
    .replace(/self_attn\.([qkv])_proj/, 'attn_$1')
    .replace('self_attn.o_proj', 'attn_output')
    .replace(/mlp\.(gate|up|down)_proj/, 'ffn_$1');

/** Rows of a [heads·hd, in] matrix (or a bias) from Hugging Face's rotate-half order to adjacent
 *  pairs, as llama.cpp's converter does for llama (not for qwen2). */
function adjacentPairs(m: M, heads: number): M {
  const cols = m.shape[1] ?? 1;
  const hd = m.shape[0]! / heads;
  const out = new Float32Array(m.data.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < hd / 2; i++)
      for (let half = 0; half < 2; half++) {
        const src = (h * hd + half * (hd / 2) + i) * cols;
        out.set(m.data.subarray(src, src + cols), (h * hd + 2 * i + half) * cols);
      }
  return { shape: m.shape, data: out };
}

type GType = DType | 'Q8_0';

/** A checkpoint as a GGUF file stores it: matrices in `type`, vectors in F32 (as llama.cpp's
 *  converter keeps them), and the values as stored, by Hugging Face name, for the reference. */
function ggufTensors(t: Map<string, M>, type: GType, arch: string): { t: Map<string, M>; tensors: GgufTensor[] } {
  const values = new Map<string, M>();
  const tensors: GgufTensor[] = [];
  for (const [n, m] of t) {
    const ty = m.shape.length === 2 ? type : 'F32';
    let bytes: Uint8Array;
    let v: Float32Array;
    if (ty === 'F32') [bytes, v] = [new Uint8Array(Float32Array.from(m.data).buffer), m.data];
    else if (ty === 'Q8_0') {
      bytes = q8_0(m.data);
      const dv = new DataView(bytes.buffer);
      v = Float32Array.from(m.data, (_, i) => {
        const k = Math.floor(i / 32);
        return halfToFloat(dv.getUint16(k * 34, true)) * dv.getInt8(k * 34 + 2 + (i % 32));
      });
    } else {
      const h = Uint16Array.from(m.data, to16(ty));
      [bytes, v] = [new Uint8Array(h.buffer), Float32Array.from(h, from16(ty))];
    }
    values.set(n, { shape: m.shape, data: v });
    // llama's q/k go in adjacent pairs (the reference reads the Hugging Face order it came from)
    const q = /self_attn\.q_proj/.test(n) ? H : /self_attn\.k_proj/.test(n) ? KV : 0;
    if (arch === 'llama' && q) {
      const src = { shape: m.shape, data: v };
      const perm = adjacentPairs(src, q).data;
      if (ty === 'F32') bytes = new Uint8Array(perm.buffer);
      else if (ty === 'Q8_0') bytes = q8_0(adjacentPairs(m, q).data);
      else bytes = new Uint8Array(Uint16Array.from(adjacentPairs(m, q).data, to16(ty)).buffer);
    }
    tensors.push({ name: ggufName(n), shape: m.shape, type: GGML[ty], bytes });
  }
  return { t: values, tensors };
}

// The same models as llama.cpp's converter writes them to GGUF: qwen2 with its q/k/v biases and q/k
// rows left in rotate-half order (llama.cpp runs qwen2 with NEOX RoPE), llama with q/k permuted to
// adjacent pairs; a byte-level BPE tokenizer in the metadata (tokenizer.ggml.model gpt2, the
// pre-tokenizer by name); matrices F32, BF16, F16 or Q8_0 (kept so in memory), vectors F32.
const GGUF_CASES: { arch: string; tied: boolean; type: GType; pre: string }[] = [
  { arch: 'qwen2', tied: true, type: 'F32', pre: 'qwen2' },
  { arch: 'qwen2', tied: false, type: 'Q8_0', pre: 'qwen2' },
  { arch: 'qwen2', tied: true, type: 'BF16', pre: 'qwen2' },
  // Llama 3 from GGUF (untied, GQA, a byte-level tokenizer), here in F16
  { arch: 'llama', tied: false, type: 'F16', pre: 'llama-bpe' },
];

describe('Qwen2 and Llama 3 from GGUF', () => {
  for (const { arch, tied, type, pre } of GGUF_CASES)
    it(`${arch} ${type}, ${tied ? 'tied' : 'untied'} head, tokenizer pre ${pre}: ppl and greedy ids equal transformers' definition in f64`, async () => {
      const dir = mkdtempSync(join(tmp, 'g-'));
      const { t, tensors } = ggufTensors(checkpoint(tied, arch === 'qwen2'), type, arch);
      const kv = [
        kvs.str('general.architecture', arch),
        kvs.u32(`${arch}.context_length`, 64),
        kvs.u32(`${arch}.embedding_length`, D),
        kvs.u32(`${arch}.feed_forward_length`, F),
        kvs.u32(`${arch}.block_count`, L),
        kvs.u32(`${arch}.attention.head_count`, H),
        kvs.u32(`${arch}.attention.head_count_kv`, KV),
        kvs.f32(`${arch}.rope.freq_base`, THETA),
        kvs.f32(`${arch}.attention.layer_norm_rms_epsilon`, EPS),
        ...ggufBpeKvs(bpe, V, pre),
      ];
      const file = join(dir, 'model.gguf');
      writeFileSync(file, ggufFile(kv, tensors));
      const text = join(dir, 'text.txt');
      writeFileSync(text, story.slice(0, 600));
      const m = await agrees(file, arch, t, invFreq(THETA), text, type);
      expect(m.tokenizer.data.hf, 'the tokenizer runs as a tokenizer.json').toBeDefined();
    }, 60_000);
});
