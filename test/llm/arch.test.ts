// The model described once (llm/arch.ts, llm/io/names/llama.json): its tensors, shapes, parameter
// count and linear layers come from models/llama.obt's struct through the compiler, and every
// checkpoint convention's names map onto its leaf paths and back.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { expectedShapes, linearLayers, modelLeaves, paramCount } from '../../llm/io/arch.ts';
import { LLAMA_NAMES, canonicalName, names, rotateHalfHeads, type Convention } from '../../llm/io/names.ts';
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
  it('shapes by canonical name, as a Llama has them', () => {
    const s = expectedShapes(c);
    expect(s.size).toBe(2 + 9 * c.layers + 1);
    expect(s.get('token_embedding')).toEqual([512, 64]);
    expect(s.get('wq.0')).toEqual([64, 64]);
    expect(s.get('wk.4')).toEqual([32, 64]); // KV · D / H rows
    expect(s.get('w2.3')).toEqual([64, 172]);
    expect(s.get('rms_ffn.2')).toEqual([64]);
    expect(s.get('wcls')).toEqual([512, 64]);
  });

  it('parameter counts and linear layers', () => {
    const kv = 32;
    const linear = c.layers * (64 * 64 * 2 + kv * 64 * 2 + 3 * 172 * 64);
    expect(linearLayers(c).reduce((n, l) => n + l.weights, 0)).toBe(linear);
    expect(
      linearLayers(c)
        .slice(0, 2)
        .map((l) => l.path),
    ).toEqual(['blocks[0].wq', 'blocks[0].wk']);
    expect(linearLayers(c).length).toBe(7 * c.layers);
    const rest = 512 * 64 + c.layers * 2 * 64 + 64;
    expect(paramCount(c, true)).toBe(linear + rest);
    expect(paramCount(c, false)).toBe(linear + rest + 512 * 64);
    expect(modelLeaves(c).type).toBe('Llama[Dense, 512, 64, 172, 8, 4, 5]');
  });

  it('a loaded checkpoint’s value has exactly the struct’s leaves', async () => {
    const m = await loadModel(join(import.meta.dirname, '../../data/stories260K.bin'));
    const got = treeLeaves(m.value).map((l) => `${l.path} [${l.leaf.shape}]`);
    expect(got).toEqual(modelLeaves(m.config).leaves.map((l) => `${l.path} [${l.shape}]`));
  });
});

describe('name maps', () => {
  it('map every leaf to each convention’s name and back', () => {
    for (const conv of ['llama2c', 'gguf', 'hf'] as Convention[]) {
      const n = names(LLAMA_NAMES, conv);
      for (const l of modelLeaves(c).leaves) {
        const name = n.nameOf(l.path);
        expect(name, `${conv} ${l.path}`).toBeTruthy();
        expect(n.pathOf(name!)).toBe(l.path);
      }
    }
    expect(canonicalName(LLAMA_NAMES, 'gguf', 'blk.3.attn_q.weight')).toBe('wq.3');
    expect(canonicalName(LLAMA_NAMES, 'hf', 'model.layers.11.mlp.down_proj.weight')).toBe('w2.11');
    expect(canonicalName(LLAMA_NAMES, 'hf', 'model.layers.1.self_attn.rotary_emb.inv_freq')).toBeUndefined();
    expect(rotateHalfHeads(LLAMA_NAMES, 'blocks[2].wk.w')).toBe('kvHeads');
    expect(rotateHalfHeads(LLAMA_NAMES, 'blocks[2].wv.w')).toBeUndefined();
  });
});
