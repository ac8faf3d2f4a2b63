// Sharded Hugging Face checkpoints (model.safetensors.index.json and its shards): stories260K split
// in two shards loads by its folder name with the same tensors and logits as the llama2.c original;
// an index naming a path outside its folder, a missing shard or a tensor its shard lacks is a load
// error naming the file; config.json fields obt does not implement are refused by name.
import { widen } from '../../runtime/core/stored.ts';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../llm/load.ts';
import { ModelRunner } from '../../llm/runner.ts';
import { writeGguf, writeSafetensors } from '../helpers/writers.ts';
import type { Checkpoint } from '../../llm/io/model.ts';
import { obtcInProcess } from '../helpers/cli.ts';

const root = join(import.meta.dirname, '../..');

/** The tensor names of a safetensors file's header. */
function headerNames(bytes: Uint8Array): string[] {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return Object.keys(JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as object).filter(
    (k) => k !== '__metadata__',
  );
}

/** stories260K as two shards and their index in a new folder; `edit` may change the weight map. */
async function sharded(edit: (map: Record<string, string>) => void = () => {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'obt-shards-'));
  const ref = await loadModel(join(root, 'data/stories260K.bin'));
  const ck = ref.checkpoint!;
  const keys = [...ck.tensors.keys()];
  const half = Math.ceil(keys.length / 2);
  const map: Record<string, string> = {};
  let config = '';
  for (const [i, part] of [keys.slice(0, half), keys.slice(half)].entries()) {
    const sub: Checkpoint = { ...ck, tensors: new Map(part.map((k) => [k, ck.tensors.get(k)!])) };
    const w = writeSafetensors(sub, 'BF16');
    const name = `model-0000${i + 1}-of-00002.safetensors`;
    writeFileSync(join(dir, name), w.bytes);
    for (const n of headerNames(w.bytes)) map[n] = name;
    config = w.config;
  }
  edit(map);
  writeFileSync(join(dir, 'config.json'), config);
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: map }));
  return dir;
}

describe('a sharded Hugging Face checkpoint', () => {
  it('loads by its folder name: the same tensors (held as bf16) and logits as the original', async () => {
    const dir = await sharded();
    const ref = await loadModel(join(root, 'data/stories260K.bin'));
    const m = await loadModel(dir, join(root, 'data/tok512.bin'));
    expect(m.checkpoint!.file).toMatch(/model\.safetensors\.index\.json$/);
    for (const [name, t] of ref.checkpoint!.tensors) {
      if (name.startsWith('freq_cis')) continue;
      const stored = m.checkpoint!.tensors.get(name)!;
      expect(stored.stored, name).toBe('bf16');
      const q = widen(stored);
      let d = 0;
      t.data.forEach((v, i) => (d = Math.max(d, Math.abs(v - q.data[i]!) / Math.max(1e-3, Math.abs(v)))));
      expect(d, name).toBeLessThan(1 / 128);
    }
    const ids = [1, 403, 407, 261, 378];
    const [a, b] = [await ModelRunner.fromFile(ref).logits(ids), await ModelRunner.fromFile(m).logits(ids)];
    let d = 0;
    a.forEach((v, i) => (d = Math.max(d, Math.abs(v - b[i]!))));
    expect(d).toBeLessThan(0.3);
  });

  it('refuses an index naming a path outside its folder, a missing shard, or a tensor its shard lacks', async () => {
    const tok = join(root, 'data/tok512.bin');
    const err = async (edit: (map: Record<string, string>) => void) => {
      const dir = await sharded(edit);
      return loadModel(dir, tok).then(
        () => 'accepted',
        (e: Error) => e.message,
      );
    };
    const first = (map: Record<string, string>) => Object.keys(map)[0]!;
    expect(await err((m) => (m[first(m)] = '../elsewhere.safetensors'))).toMatch(
      /model\.safetensors\.index\.json: weight_map: shard "\.\.\/elsewhere\.safetensors" is not a \.safetensors file name beside it/,
    );
    expect(await err((m) => (m[first(m)] = 'model-00003-of-00002.safetensors'))).toMatch(
      /weight_map names model-00003-of-00002\.safetensors, which is not there/,
    );
    expect(
      await err((m) => {
        const k = first(m);
        m[k] = m[k]!.replace('00001', '00002');
      }),
    ).toMatch(/model-00002-of-00002\.safetensors: tensor .* \(weight_map\) is not in it/);
  });
});

describe('config.json fields obt does not implement', () => {
  it('are refused in one line naming the field, not run as a different model', async () => {
    const ref = await loadModel(join(root, 'data/stories260K.bin'));
    const { bytes, config } = writeSafetensors(ref.checkpoint!, 'F32');
    const base = JSON.parse(config) as Record<string, unknown>;
    const tok = join(root, 'data/tok512.bin');
    const load = async (edit: Record<string, unknown>, drop: string[] = []) => {
      const dir = mkdtempSync(join(tmpdir(), 'obt-cfg-'));
      writeFileSync(join(dir, 'model.safetensors'), bytes);
      const c = { ...base, ...edit };
      for (const k of drop) delete c[k];
      writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
      return loadModel(dir, tok).then(
        (m) => m,
        (e: Error) => e.message,
      );
    };
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { rope_scaling: { rope_type: 'yarn', factor: 4 } },
        /config\.json: field rope_scaling\.rope_type: "yarn", only "llama3" RoPE scaling \(or "default"\) is supported/,
      ],
      [
        { rope_scaling: { rope_type: 'llama3', factor: 8 } },
        /config\.json: field rope_scaling\.low_freq_factor: null, expected a number/,
      ],
      [
        {
          rope_scaling: {
            type: 'llama3',
            factor: 0.5,
            low_freq_factor: 1,
            high_freq_factor: 4,
            original_max_position_embeddings: 8192,
          },
        },
        /config\.json: field rope_scaling\.factor: 0\.5, expected 1 to 1024/,
      ],
      [{ hidden_act: 'gelu' }, /field hidden_act: "gelu", llama's MLP uses silu/],
      [{ attention_bias: true }, /field attention_bias: true, llama has no attention biases/],
      [{ mlp_bias: true }, /field mlp_bias: true/],
      [{ use_sliding_window: true }, /field use_sliding_window: true/],
      [{ head_dim: 16 }, /field head_dim: 16, obt's models have hidden_size \/ num_attention_heads \(8\)/],
      [{ architectures: ['MistralForCausalLM'] }, /field architectures: \["MistralForCausalLM"\], expected one of/],
      [{ tie_word_embeddings: false }, /tie_word_embeddings false but there is no lm_head\.weight tensor/],
    ];
    for (const [edit, want] of cases) {
      const r = await load(edit);
      expect(
        typeof r === 'string' && r.split('\n').length === 1 ? r : JSON.stringify(edit),
        JSON.stringify(edit),
      ).toMatch(want);
    }
    expect(await load({ model_type: 'gpt2' }, ['architectures'])).toMatch(/field model_type: "gpt2", expected one of/);
    // and what is implemented loads: plain RoPE written out, a model_type naming a known architecture
    const ok = await load({ rope_scaling: null, hidden_act: 'silu', attention_bias: false, model_type: 'llama' });
    expect(typeof ok === 'string' ? ok : ok.arch.name).toBe('llama');
  });
});

describe('a model larger than a WebAssembly memory', () => {
  it('is refused before anything is allocated, naming its size, the limit and what would fit', async () => {
    // stories260K's 1015.8 KiB of f32 weights (its tied head counted once) against a limit of 900 KiB (OBT_WASM_MAX_MEMORY)
    const prev = process.env.OBT_WASM_MAX_MEMORY;
    process.env.OBT_WASM_MAX_MEMORY = String(900 * 1024);
    try {
      const r = await obtcInProcess(['generate', '--steps', '2']);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        /error: the model's weights take 1015\.8 KiB \(f32\); with this run's working memory the wasm backend needs 10\d\d\.\d KiB, more than the 900\.0 KiB a WebAssembly memory may hold here, stored as bf16 or f16 they would take 507\.9 KiB/,
      );
      expect(r.err).toMatch(/hint: run it on --backend webgpu/);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      if (prev === undefined) delete process.env.OBT_WASM_MAX_MEMORY;
      else process.env.OBT_WASM_MAX_MEMORY = prev;
    }
  });
});

describe('weights read where they lie', () => {
  it('are read from the file when a backend takes them; a file changed since it loaded is an error naming it', async () => {
    const ref = await loadModel(join(root, 'data/stories260K.bin'));
    const { bytes, config } = writeSafetensors(ref.checkpoint!, 'BF16');
    const dir = mkdtempSync(join(tmpdir(), 'obt-src-'));
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, bytes);
    writeFileSync(join(dir, 'config.json'), config);
    const m = await loadModel(dir, join(root, 'data/tok512.bin'));
    const emb = m.checkpoint!.tensors.get('emb')!;
    expect([emb.stored, emb.source?.bytes]).toEqual(['bf16', emb.shape[0]! * emb.shape[1]! * 2]);
    const ids = [1, 403, 407];
    const first = await ModelRunner.fromFile(m, { kind: 'wasm' }).logits(ids);
    expect(first.every(Number.isFinite)).toBe(true);
    // rewritten (another size): another program (nll's) uploads the weights and finds it changed
    writeFileSync(file, Uint8Array.from([...bytes, 0]));
    await expect(ModelRunner.fromFile(m, { kind: 'wasm' }).nll(ids, [403, 407, 261])).rejects.toThrow(
      /model\.safetensors: the file changed after it was loaded; load it again/,
    );
  });

  it('are checked for non-finite values as they are read (one pass over the file): obtc names the tensor and element, in one line', async () => {
    const ref = await loadModel(join(root, 'data/stories260K.bin'));
    const dir = mkdtempSync(join(tmpdir(), 'obt-nan-'));
    // a NaN in one BF16 q_proj (element 70, rotate-half order as the file has it) and one in a llama2.c .bin
    const { bytes, config } = writeSafetensors(ref.checkpoint!, 'BF16');
    const header = JSON.parse(
      new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true)))),
    ) as Record<string, { data_offsets: [number, number] }>;
    const base = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const q = header['model.layers.2.self_attn.q_proj.weight']!.data_offsets[0];
    new DataView(bytes.buffer).setUint16(base + q + 2 * 70, 0x7fc0, true);
    writeFileSync(join(dir, 'model.safetensors'), bytes);
    writeFileSync(join(dir, 'config.json'), config);
    copyFileSync(join(root, 'data/tok512.bin'), join(dir, 'tok512.bin'));
    const bin = Uint8Array.from(readFileSync(join(root, 'data/stories260K.bin')));
    new DataView(bin.buffer).setFloat32(28 + 4 * 100, Infinity, true); // token_embedding[100]
    writeFileSync(join(dir, 'n.bin'), bin);
    // a GGUF Q8_0 block whose scale is NaN (a NaN at element 40 of ffn_up: its second block)
    const ck = { ...ref.checkpoint!, tensors: new Map(ref.checkpoint!.tensors) };
    const up = ck.tensors.get('blocks[1].w3.w')!;
    const nan = Float32Array.from(up.data as Float32Array);
    nan[40] = NaN;
    ck.tensors.set('blocks[1].w3.w', { ...up, data: nan });
    writeFileSync(join(dir, 'n.gguf'), writeGguf(ck, ref.tokenizer.data, 'Q8_0'));
    // loading reads the headers only; the first program that uploads the weights finds it
    await loadModel(dir);
    await loadModel(join(dir, 'n.gguf'));
    for (const [w, re] of [
      [
        dir,
        /model\.safetensors: tensor model\.layers\.2\.self_attn\.q_proj\.weight contains a non-finite value at element 70/,
      ],
      [join(dir, 'n.bin'), /n\.bin: tensor token_embedding contains a non-finite value at element 100/],
      [join(dir, 'n.gguf'), /n\.gguf: tensor blk\.1\.ffn_up\.weight contains a non-finite value at element 32/],
    ] as const) {
      const r = await obtcInProcess([
        'generate',
        '--weights',
        w,
        '--steps',
        '2',
        '--tokenizer',
        join(dir, 'tok512.bin'),
      ]);
      expect(r.code, r.err).toBe(1);
      expect(r.err).toMatch(re);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });
});
