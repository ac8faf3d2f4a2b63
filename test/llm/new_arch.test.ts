// An architecture is its `.obt` file plus a name map, and nothing else: models/bias_llama.obt (a
// Llama with a bias on every projection and LayerNorms) and llm/io/names/bias_llama.json were
// added with no other file touched (docs/architecture.md counts it). This test writes a Hugging
// Face checkpoint of it (safetensors + config.json naming BiasLlamaForCausalLM), and runs obtc
// ppl, generate and quantize on it. The perplexity and the greedy ids are checked against an
// independent f64 forward written here from the architecture's definition.
import { causalAttention } from '../helpers/ref_attention.ts';
import { afterAll, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { obtcInProcess } from '../helpers/cli.ts';
import { loadModel } from '../../llm/load.ts';
import { perplexity, tokenStream } from '../../llm/eval.ts';

const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'obt-arch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const [V, D, F, H, KV, L] = [512, 32, 48, 4, 2, 2];
const Dh = D / H;
const EPS = 1e-5;

let seed = 11;
const rand = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 4294967296 - 0.5;
};
type M = { shape: number[]; data: Float32Array };
const mat = (shape: number[], scale: number, base = 0): M => ({
  shape,
  data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => base + scale * rand()),
});

// the checkpoint, by Hugging Face name
const t = new Map<string, M>();
t.set('model.embed_tokens.weight', mat([V, D], 2));
t.set('lm_head.weight', mat([V, D], 1));
const ln = (n: string) => {
  t.set(`${n}.weight`, mat([D], 0.2, 1));
  t.set(`${n}.bias`, mat([D], 0.2));
};
const lin = (n: string, o: number, i: number) => {
  t.set(`${n}.weight`, mat([o, i], 2 / Math.sqrt(i)));
  t.set(`${n}.bias`, mat([o], 0.2));
};
for (let l = 0; l < L; l++) {
  const p = `model.layers.${l}`;
  ln(`${p}.input_layernorm`);
  ln(`${p}.post_attention_layernorm`);
  lin(`${p}.self_attn.q_proj`, D, D);
  lin(`${p}.self_attn.k_proj`, KV * Dh, D);
  lin(`${p}.self_attn.v_proj`, KV * Dh, D);
  lin(`${p}.self_attn.o_proj`, D, D);
  lin(`${p}.mlp.gate_proj`, F, D);
  lin(`${p}.mlp.down_proj`, D, F);
  lin(`${p}.mlp.up_proj`, F, D);
}
ln('model.norm');

function safetensors(): Uint8Array {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [n, m] of t) {
    header[n] = { dtype: 'F32', shape: m.shape, data_offsets: [off, off + m.data.length * 4] };
    off += m.data.length * 4;
  }
  let h = JSON.stringify(header);
  h += ' '.repeat((8 - (h.length % 8)) % 8);
  const out = new Uint8Array(8 + h.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(new TextEncoder().encode(h), 8);
  let o = 8 + h.length;
  for (const m of t.values()) {
    out.set(new Uint8Array(m.data.buffer), o);
    o += m.data.length * 4;
  }
  return out;
}

// ---- an independent forward in f64, from the architecture's definition ----
const g = (n: string) => t.get(n)!.data;
const affine = (x: number[], n: string, o: number, i: number) =>
  Array.from({ length: o }, (_, r) => {
    let s = g(`${n}.bias`)[r]!;
    for (let c = 0; c < i; c++) s += g(`${n}.weight`)[r * i + c]! * x[c]!;
    return s;
  });
const layerNorm = (x: number[], n: string) => {
  const mu = x.reduce((a, b) => a + b, 0) / x.length;
  const v = x.reduce((a, b) => a + (b - mu) ** 2, 0) / x.length;
  return x.map((e, i) => ((e - mu) / Math.sqrt(v + EPS)) * g(`${n}.weight`)[i]! + g(`${n}.bias`)[i]!);
};
const rope = (x: number[], heads: number, pos: number) => {
  const out = x.slice();
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < Dh / 2; i++) {
      const a = pos / 10000 ** ((2 * i) / Dh);
      const [x0, x1] = [x[h * Dh + 2 * i]!, x[h * Dh + 2 * i + 1]!];
      out[h * Dh + 2 * i] = x0 * Math.cos(a) - x1 * Math.sin(a);
      out[h * Dh + 2 * i + 1] = x0 * Math.sin(a) + x1 * Math.cos(a);
    }
  return out;
};
/** Logits of every position of a sequence. */
function logits(tokens: number[]): number[][] {
  let xs = tokens.map((tok) => Array.from(g('model.embed_tokens.weight').subarray(tok * D, (tok + 1) * D)));
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    const hs = xs.map((x) => layerNorm(x, `${p}.input_layernorm`));
    const q = hs.map((h, pos) => rope(affine(h, `${p}.self_attn.q_proj`, D, D), H, pos));
    const k = hs.map((h, pos) => rope(affine(h, `${p}.self_attn.k_proj`, KV * Dh, D), KV, pos));
    const v = hs.map((h) => affine(h, `${p}.self_attn.v_proj`, KV * Dh, D));
    const atts = causalAttention(q, k, v, H, KV, Dh);
    xs = xs.map((x, tq) => {
      const att = atts[tq]!;
      const x2 = affine(att, `${p}.self_attn.o_proj`, D, D).map((o, i) => x[i]! + o);
      const h2 = layerNorm(x2, `${p}.post_attention_layernorm`);
      const a = affine(h2, `${p}.mlp.gate_proj`, F, D);
      const b = affine(h2, `${p}.mlp.up_proj`, F, D);
      const gated = a.map((u, i) => (u / (1 + Math.exp(-u))) * b[i]!);
      return affine(gated, `${p}.mlp.down_proj`, D, F).map((o, i) => x2[i]! + o);
    });
  }
  return xs.map((x) => {
    const h = layerNorm(x, 'model.norm');
    return Array.from({ length: V }, (_, r) => {
      let s = 0;
      for (let c = 0; c < D; c++) s += g('lm_head.weight')[r * D + c]! * h[c]!;
      return s;
    });
  });
}

const run = obtcInProcess;

it('a new architecture (one .obt file and a name map) runs ppl, generate and quantize', async () => {
  const weights = join(dir, 'model.safetensors');
  writeFileSync(weights, safetensors());
  const config = {
    architectures: ['BiasLlamaForCausalLM'],
    hidden_size: D,
    intermediate_size: F,
    num_hidden_layers: L,
    num_attention_heads: H,
    num_key_value_heads: KV,
    vocab_size: V,
    max_position_embeddings: 64,
    rms_norm_eps: EPS,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const tok = join(root, 'data/tok512.bin');
  const text = join(dir, 'text.txt');
  writeFileSync(text, 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ');

  // ppl: the same windows as obtc's, the nll from the independent forward
  const m = await loadModel(weights, tok);
  expect(m.arch.name).toBe('bias_llama');
  const seq = 16;
  const want = await perplexity(tokenStream(readFileSync(text, 'utf8'), m.tokenizer), seq, async (ids, targets) => {
    const lg = logits(ids);
    return Float32Array.from(lg, (row, i) => {
      const mx = Math.max(...row);
      return Math.log(row.reduce((a, b) => a + Math.exp(b - mx), 0)) + mx - row[targets[i]!]!;
    });
  });
  const p = await run(['ppl', '--weights', weights, '--tokenizer', tok, '--seq', String(seq), '--text', text]);
  expect(p.code, p.err).toBe(0);
  const ce = Number(/ce=(\d+\.\d+)/.exec(p.out)![1]);
  expect(Math.abs(ce - want.ce), `obtc ce ${ce} vs the f64 forward's ${want.ce}`).toBeLessThan(2e-5);

  // generate (the decode entry and its cache): greedy ids as the full forward predicts them
  const gen = await run([
    'generate',
    '--weights',
    weights,
    '--tokenizer',
    tok,
    '--temperature',
    '0',
    '--steps',
    '6',
    '--ids',
  ]);
  expect(gen.code, gen.err).toBe(0);
  const ids = gen.out.trim().split(/\s+/).map(Number);
  expect(ids.length).toBeGreaterThan(0);
  const bos = m.tokenizer.data.bos;
  for (let i = 0; i < ids.length; i++) {
    const row = logits([bos, ...ids.slice(0, i)]).at(-1)!;
    expect(ids[i], `greedy id ${i}`).toBe(row.indexOf(Math.max(...row)));
  }

  // quantize: three KD steps of the default method, the student saved with its architecture
  const out = join(dir, 'student.obtm');
  const q = await run([
    'quantize',
    '--weights',
    weights,
    '--tokenizer',
    tok,
    '--steps',
    '3',
    '--seq',
    '16',
    '--eval-seq',
    '16',
    '--eval-windows',
    '2',
    '--out',
    out,
    '--checkpoint-every',
    '0',
  ]);
  expect(q.code, q.err).toBe(0);
  expect(q.out).toMatch(/kd loss: first \d+\.\d+ +last \d+\.\d+ +\(3 steps/);
  const s = await loadModel(out);
  expect([s.arch.name, s.layer]).toEqual(['bias_llama', 'method.OneBitNoLn']);
  // the projections' layers are quantised, their biases and the norms kept as they were
  const b0 = (s.value.blocks as Record<string, Record<string, Record<string, unknown>>>[])[0]!;
  expect(Object.keys(b0.wq!.lin!).sort()).toEqual(['g', 'h', 's']);
  const sp = await run(['ppl', '--weights', out, '--seq', '16', '--text', text]);
  expect(sp.code, sp.err).toBe(0);
  expect(sp.out).toMatch(/ppl=\d+\.\d{4}/);
}, 240_000);
