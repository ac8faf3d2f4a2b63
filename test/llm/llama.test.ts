// models/llama.obt on the real stories260K: golden logits and greedy ids from the .bin and the
// GGUF (and from GGUF F16/Q8_0 and safetensors F32/F16/BF16 files written from it), the tokenizer
// on the golden encode examples, and clear errors for broken files.
import { widen } from '../../runtime/core/stored.ts';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../llm/load.ts';
import { ModelRunner } from '../../llm/runner.ts';
import { parseLlama2c } from '../../llm/io/llama2c.ts';
import { writeGguf, writeSafetensors } from '../helpers/writers.ts';
import { main } from '../../cli/main.ts';
import { gpu, gpuNote } from '../helpers/gpu.ts';
import { device } from '../../compiler/api.ts';

const root = join(import.meta.dirname, '../..');
const data = (f: string) => join(root, 'data', f);
const golden = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/golden_stories260K.json'), 'utf8'));
const tmp = mkdtempSync(join(tmpdir(), 'obt-llama-'));

function maxDiff(lg: Float32Array, rows: number[][]): number {
  let d = 0;
  rows.forEach((row, i) => row.forEach((v, j) => (d = Math.max(d, Math.abs(v - lg[i * row.length + j]!)))));
  return d;
}

async function greedy(r: ModelRunner, n: number): Promise<number[]> {
  const dec = r.decoder(n);
  const ids: number[] = [];
  let tok = 1;
  for (let pos = 0; pos < n; pos++) {
    const l = await dec.step(tok, pos);
    let best = 0;
    for (let j = 1; j < l.length; j++) if (l[j]! > l[best]!) best = j;
    ids.push(best);
    tok = best;
  }
  return ids;
}

describe('stories260K through models/llama.obt', () => {
  for (const file of ['stories260K.bin', 'stories260K.gguf'])
    for (const backend of ['interp', 'wasm'] as const) {
      it(`${file} on ${backend}: logits at positions 0..3 match the golden logits to 1e-4`, async () => {
        const m = await loadModel(data(file));
        expect(m.config).toMatchObject({ dim: 64, hidden: 172, layers: 5, heads: 8, kvHeads: 4, vocab: 512 });
        const r = ModelRunner.fromFile(m, device(backend));
        expect(
          maxDiff(await r.logits(golden.logits_first4_positions.input_ids), golden.logits_first4_positions.logits),
        ).toBeLessThan(1e-4);
      });

      it(`${file} on ${backend}: greedy generation from BOS reproduces the 64 golden ids`, async () => {
        const m = await loadModel(data(file));
        expect(await greedy(ModelRunner.fromFile(m, device(backend)), 64)).toEqual(golden.greedy_first64.ids);
      });
    }

  for (const file of ['stories260K.bin', 'stories260K.gguf'])
    it.skipIf(!gpu)(`${file} on webgpu${gpuNote}: golden logits (1e-4) and the 64 golden greedy ids`, async () => {
      const m = await loadModel(data(file));
      const r = ModelRunner.fromFile(m, { kind: 'webgpu', gpu: gpu! });
      expect(
        maxDiff(await r.logits(golden.logits_first4_positions.input_ids), golden.logits_first4_positions.logits),
      ).toBeLessThan(1e-4);
      const dec = r.decoder(64);
      const ids: number[] = [];
      let tok = 1;
      for (let pos = 0; pos < 64; pos++) {
        const l = await dec.step(tok, pos);
        let best = 0;
        for (let j = 1; j < l.length; j++) if (l[j]! > l[best]!) best = j;
        ids.push(best);
        tok = best;
      }
      expect(ids).toEqual(golden.greedy_first64.ids);
    });

  it('the wasm decode step agrees with the reference interpreter to 1e-5 over 32 positions', async () => {
    const m = await loadModel(data('stories260K.bin'));
    const a = ModelRunner.fromFile(m, { kind: 'interp' }).decoder(32);
    const b = ModelRunner.fromFile(m, { kind: 'wasm' }).decoder(32);
    let d = 0;
    for (const [pos, t] of golden.greedy_first64.ids.slice(0, 32).entries()) {
      const la = await a.step(t, pos);
      const lb = await b.step(t, pos);
      for (let j = 0; j < 512; j++) d = Math.max(d, Math.abs(la[j]! - lb[j]!));
    }
    expect(d).toBeLessThan(1e-5);
  });

  it('the decode step with a KV cache agrees with the full-sequence forward', async () => {
    const m = await loadModel(data('stories260K.bin'));
    const r = ModelRunner.fromFile(m);
    const ids = golden.greedy_first64.ids.slice(0, 12);
    const full = await r.logits(ids);
    const dec = r.decoder(16);
    let d = 0;
    for (const [pos, t] of ids.entries()) {
      const l = await dec.step(t, pos);
      for (let j = 0; j < 512; j++) d = Math.max(d, Math.abs(l[j]! - full[pos * 512 + j]!));
    }
    expect(d).toBeLessThan(1e-4);
  });

  it('GGUF with F16 and Q8_0 matrices: values within the format error, logits close, same first greedy tokens', async () => {
    const ref = await loadModel(data('stories260K.bin'));
    for (const [type, tol, logitTol] of [
      ['F16', 1e-3, 0.02],
      ['Q8_0', 0.02, 0.5],
    ] as const) {
      const p = join(tmp, `s-${type}.gguf`);
      writeFileSync(p, writeGguf(ref.checkpoint!, ref.tokenizer.data, type));
      const m = await loadModel(p);
      for (const [name, t] of ref.checkpoint!.tensors) {
        if (name.startsWith('freq_cis')) continue;
        const held = m.checkpoint!.tensors.get(name)!;
        // F16 and Q8_0 matrices stay as they are stored (runtime/core/stored.ts)
        if (t.shape.length === 2 && (type === 'F16' || t.shape[1]! % 32 === 0))
          expect(held.stored, name).toBe(type.toLowerCase());
        const q = widen(held);
        let d = 0;
        (t.data as Float32Array).forEach((v, i) => (d = Math.max(d, Math.abs(v - q.data[i]!))));
        expect(d, `${type} ${name}`).toBeLessThan(tol);
      }
      const r = ModelRunner.fromFile(m);
      expect(
        maxDiff(await r.logits(golden.logits_first4_positions.input_ids), golden.logits_first4_positions.logits),
        type,
      ).toBeLessThan(logitTol);
      expect(await greedy(r, 8)).toEqual(golden.greedy_first64.ids.slice(0, 8));
    }
  });

  it('safetensors with Hugging Face names (q/k in rotate-half order) in F32, F16 and BF16', async () => {
    const ref = await loadModel(data('stories260K.bin'));
    for (const [dtype, logitTol] of [
      ['F32', 1e-4],
      ['F16', 0.02],
      ['BF16', 0.3],
    ] as const) {
      const dir = mkdtempSync(join(tmp, `st-${dtype}-`));
      const { bytes, config } = writeSafetensors(ref.checkpoint!, dtype);
      writeFileSync(join(dir, 'model.safetensors'), bytes);
      writeFileSync(join(dir, 'config.json'), config);
      const m = await loadModel(join(dir, 'model.safetensors'), data('tok512.bin'));
      if (dtype === 'F32')
        for (const [name, t] of ref.checkpoint!.tensors)
          if (!name.startsWith('freq_cis')) expect(m.checkpoint!.tensors.get(name)!.data, name).toEqual(t.data);
      const r = ModelRunner.fromFile(m);
      expect(
        maxDiff(await r.logits(golden.logits_first4_positions.input_ids), golden.logits_first4_positions.logits),
        dtype,
      ).toBeLessThan(logitTol);
    }
  });
});

describe('the CLI on webgpu', () => {
  it.skipIf(!gpu)(`obtc generate and obtc ppl --backend webgpu agree with wasm${gpuNote}`, async () => {
    const run = async (args: string[]) => {
      let out = '';
      let err = '';
      const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
      expect(code, err).toBe(0);
      return out.trim();
    };
    const gen = ['generate', '--temperature', '0', '--steps', '40', '--ids'];
    const ids = (await run([...gen, '--backend', 'webgpu'])).split(' ').map(Number);
    expect(ids.length).toBeGreaterThanOrEqual(39);
    expect(ids).toEqual(golden.greedy_first64.ids.slice(0, ids.length));
    const tiny = join(mkdtempSync(join(tmpdir(), 'obt-gpu-')), 'tiny.txt');
    writeFileSync(tiny, readFileSync(data('tinystories_valid_eval.txt'), 'utf8').slice(0, 1500));
    const ce = (s: string) => Number(/ce=(\S+)/.exec(s.split('\n').pop()!)![1]);
    const ppl = ['ppl', '--text', tiny, '--seq', '32'];
    expect(Math.abs(ce(await run([...ppl, '--backend', 'webgpu'])) - ce(await run(ppl)))).toBeLessThan(1e-4);
  });
});

describe('tokenizer', () => {
  for (const file of ['stories260K.bin', 'stories260K.gguf']) {
    it(`golden encode examples round-trip (${file === 'stories260K.bin' ? 'tok512.bin' : 'GGUF metadata'})`, async () => {
      const { tokenizer } = await loadModel(data(file));
      for (const ex of golden.encode_examples) {
        expect(tokenizer.encode(ex.text), JSON.stringify(ex.text)).toEqual(ex.ids_bos);
        expect(tokenizer.decode(ex.ids_bos)).toBe(ex.text);
      }
    });
  }

  it("the O(n log n) merge equals run.c's quadratic merge loop on random text (fast-check)", async () => {
    const { tokenizer } = await loadModel(data('stories260K.bin'));
    const { pieces, scores } = tokenizer.data;
    const ids = new Map<string, number>();
    pieces.forEach((p, i) => ids.has(p) || ids.set(p, i));
    // run.c: merge the best-scoring adjacent pair, leftmost on ties, until none merges
    const quadratic = (tokens: number[]) => {
      for (;;) {
        let best = -Infinity;
        let at = -1;
        let bestId = -1;
        for (let i = 1; i + 1 < tokens.length; i++) {
          const id = ids.get(pieces[tokens[i]!]! + pieces[tokens[i + 1]!]!);
          if (id !== undefined && scores[id]! > best) [best, at, bestId] = [scores[id]!, i, id];
        }
        if (at < 0) return tokens;
        tokens.splice(at, 2, bestId);
      }
    };
    const alphabet = [..."aeiou tnsrhld.,'!?é日", 'the', 'Once upon a time', ' and'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 60 }), (parts) => {
        const text = parts.join('');
        const unmerged = [
          1,
          ...(text.length ? [ids.get(' ')!] : []),
          ...[...text].flatMap((c) =>
            ids.has(c) ? [ids.get(c)!] : [...new TextEncoder().encode(c)].map((b) => b + 3),
          ),
        ];
        expect(tokenizer.encode(text)).toEqual(quadratic(unmerged));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes the golden greedy text', async () => {
    const { tokenizer } = await loadModel(data('stories260K.bin'));
    expect(tokenizer.decode([1, ...golden.greedy_first64.ids])).toBe(golden.greedy_first64.text);
  });
});

describe('broken inputs give one-line errors naming the file', () => {
  const bin = readFileSync(data('stories260K.bin'));

  it('a truncated .bin', () => {
    expect(() => parseLlama2c('t.bin', bin.subarray(0, 500_000))).toThrow(
      /^t\.bin: truncated: 500000 bytes, but a llama2\.c checkpoint .* needs 1056540$/,
    );
  });

  it('a corrupted .bin header', () => {
    const bad = Uint8Array.from(bin);
    new DataView(bad.buffer).setInt32(12, 7, true); // n_heads = 7 does not divide dim 64
    expect(() => parseLlama2c('c.bin', bad)).toThrow(/^c\.bin: not a llama2\.c checkpoint .*not divisible/);
  });

  it('a .bin with a non-finite weight', () => {
    const bad = Uint8Array.from(bin);
    new DataView(bad.buffer).setFloat32(28 + 4 * 100, NaN, true);
    expect(() => parseLlama2c('n.bin', bad)).toThrow(/n\.bin: tensor token_embedding contains a non-finite value/);
  });

  it('a truncated GGUF', async () => {
    const p = join(tmp, 'trunc.gguf');
    writeFileSync(p, readFileSync(data('stories260K.gguf')).subarray(0, 900_000));
    await expect(loadModel(p)).rejects.toThrow(/trunc\.gguf: truncated: tensor .* the data ends at byte 900000/);
  });

  it('a wrong tokenizer', async () => {
    const p = join(tmp, 'tok10.bin');
    const b = new Uint8Array(4 + 10 * 9);
    const dv = new DataView(b.buffer);
    dv.setInt32(0, 1, true);
    for (let i = 0; i < 10; i++) {
      dv.setFloat32(4 + i * 9, 0, true);
      dv.setInt32(8 + i * 9, 1, true);
      b[12 + i * 9] = 97 + i;
    }
    writeFileSync(p, b);
    await expect(loadModel(data('stories260K.bin'), p)).rejects.toThrow(
      /tok10\.bin: the tokenizer has 10 pieces but the model has a vocabulary of 512; wrong tokenizer/,
    );
  });

  it('obtc prints them without a stack trace and exits 1', async () => {
    const p = join(tmp, 'short.bin');
    writeFileSync(p, bin.subarray(0, 1000));
    let err = '';
    const rc = await main(['generate', '--weights', p, '--steps', '3'], { out: () => 0, err: (s) => (err += s) });
    expect(rc).toBe(1);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(/short\.bin: truncated/);
  });
});

describe('obtc generate', () => {
  it('--temperature 0 --ids prints the golden greedy ids', async () => {
    let out = '';
    let err = '';
    const rc = await main(['generate', '--temperature', '0', '--steps', '64', '--ids'], {
      out: (s) => (out += s),
      err: (s) => (err += s),
    });
    expect(rc).toBe(0);
    expect(out.trim().split(' ').map(Number)).toEqual(golden.greedy_first64.ids);
    expect(err).toMatch(/tok\/s/);
  });

  it('greedy text, a prompt, and seeded sampling that is reproducible', async () => {
    const run = async (...a: string[]) => {
      let out = '';
      await main(['generate', ...a], { out: (s) => (out += s), err: () => 0 });
      return out;
    };
    expect(await run('--temperature', '0', '--steps', '64')).toBe(golden.greedy_first64.text + '\n');
    const a = await run('--prompt', 'Tom had a red ball', '--seed', '7', '--steps', '40');
    expect(a.startsWith('Tom had a red ball')).toBe(true);
    expect(await run('--prompt', 'Tom had a red ball', '--seed', '7', '--steps', '40')).toBe(a);
    expect(await run('--prompt', 'Tom had a red ball', '--seed', '8', '--steps', '40')).not.toBe(a);
  });
});
