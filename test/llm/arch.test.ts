// The model described once (llm/io/arch.ts, llm/io/names/llama.json): its tensors, shapes, parameter
// count and linear layers come from models/llama.obt's struct through the compiler, and every
// checkpoint convention's names map onto its leaf paths and back.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { expectedShapes, linearLayers, modelLeaves, paramCount } from '../../llm/io/arch.ts';
import { LLAMA, archFor, names, rotateHalfHeads, type Convention } from '../../llm/io/names.ts';
import { loadModel } from '../../llm/load.ts';
import { treeLeaves } from '../../runtime/core/tree.ts';
import type { LlamaConfig } from '../../llm/io/model.ts';

const c: LlamaConfig = {
  dim: 64,
  hidden: 172,
  layers: 5,
  heads: 8,
  kvHeads: 4,
  vocab: 512,
  seqLen: 512,
  eps: 1e-5,
  ropeTheta: 1e4,
};

describe('the model’s tensors from its struct', () => {
  it('shapes by leaf path, as a Llama has them', () => {
    const s = expectedShapes(LLAMA, c);
    expect(s.size).toBe(2 + 9 * c.layers + 1);
    expect(s.get('emb')).toEqual([512, 64]);
    expect(s.get('blocks[0].wq.w')).toEqual([64, 64]);
    expect(s.get('blocks[4].wk.w')).toEqual([32, 64]); // KV · D / H rows
    expect(s.get('blocks[3].w2.w')).toEqual([64, 172]);
    expect(s.get('blocks[2].ffn_norm')).toEqual([64]);
    expect(s.get('head')).toEqual([512, 64]);
  });

  it('parameter counts and linear layers', () => {
    const kv = 32;
    const linear = c.layers * (64 * 64 * 2 + kv * 64 * 2 + 3 * 172 * 64);
    expect(linearLayers(LLAMA, c).reduce((n, l) => n + l.weights, 0)).toBe(linear);
    expect(
      linearLayers(LLAMA, c)
        .slice(0, 2)
        .map((l) => l.path),
    ).toEqual(['blocks[0].wq', 'blocks[0].wk']);
    expect(linearLayers(LLAMA, c).length).toBe(7 * c.layers);
    const rest = 512 * 64 + c.layers * 2 * 64 + 64;
    expect(paramCount(LLAMA, c, true)).toBe(linear + rest);
    expect(paramCount(LLAMA, c, false)).toBe(linear + rest + 512 * 64);
    expect(modelLeaves(LLAMA, c).type).toBe('Llama[Dense, 512, 64, 172, 8, 4, 5]');
  });

  it('a loaded checkpoint’s value has exactly the struct’s leaves', async () => {
    const m = await loadModel(join(import.meta.dirname, '../../data/stories260K.bin'));
    const got = treeLeaves(m.value).map((l) => `${l.path} [${l.leaf.shape}]`);
    expect(got).toEqual(modelLeaves(m.arch, m.config).leaves.map((l) => `${l.path} [${l.shape}]`));
  });
});

describe('name maps', () => {
  it('map every leaf to each convention’s name and back', () => {
    for (const conv of ['llama2c', 'gguf', 'hf'] as Convention[]) {
      const n = names(LLAMA, conv);
      for (const l of modelLeaves(LLAMA, c).leaves) {
        const name = n.nameOf(l.path);
        expect(name, `${conv} ${l.path}`).toBeTruthy();
        expect(n.pathOf(name!)).toBe(l.path);
      }
    }
    expect(names(LLAMA, 'gguf').pathOf('blk.3.attn_q.weight')).toBe('blocks[3].wq.w');
    expect(names(LLAMA, 'hf').pathOf('model.layers.11.mlp.down_proj.weight')).toBe('blocks[11].w2.w');
    expect(names(LLAMA, 'llama2c').nameOf('blocks[11].w2.w')).toBe('w2.11');
    expect(names(LLAMA, 'hf').pathOf('model.layers.1.self_attn.rotary_emb.inv_freq')).toBeUndefined();
    expect(rotateHalfHeads(LLAMA, 'hf', 'blocks[2].wk.w')).toBe('kvHeads');
    expect(rotateHalfHeads(LLAMA, 'hf', 'blocks[2].wv.w')).toBeUndefined();
    // llama.cpp permutes llama's q/k to adjacent pairs; qwen2's stay rotate-half in GGUF too
    expect(rotateHalfHeads(LLAMA, 'gguf', 'blocks[2].wk.w')).toBeUndefined();
    const qwen2 = archFor('gguf', ['qwen2'])!;
    expect(qwen2.name).toBe('qwen2');
    expect(rotateHalfHeads(qwen2, 'gguf', 'blocks[1].wq.b')).toBe('heads');
    expect(rotateHalfHeads(qwen2, 'gguf', 'blocks[1].wk.lin.w')).toBe('kvHeads');
    expect(rotateHalfHeads(qwen2, 'gguf', 'blocks[1].wv.b')).toBeUndefined();
    for (const conv of ['gguf', 'hf'] as Convention[])
      for (const l of modelLeaves(qwen2, c).leaves) {
        const name = names(qwen2, conv).nameOf(l.path);
        expect(name, `qwen2 ${conv} ${l.path}`).toBeTruthy();
        expect(names(qwen2, conv).pathOf(name!)).toBe(l.path);
      }
    expect(names(qwen2, 'gguf').nameOf('blocks[3].wv.b')).toBe('blk.3.attn_v.bias');
    expect(archFor('hf', ['LlamaForCausalLM'])).toBe(LLAMA);
    expect(archFor('gguf', ['llama'])).toBe(LLAMA);
    expect(archFor('hf', ['GPT2LMHeadModel'])).toBeUndefined();
  });
});
