// The random-weight checkpoints of real shapes the benchmarks use (bench/checkpoints.ts) load as the
// shapes they claim and run the same on Wasm as on the reference interpreter: a llama2.c file and
// a Hugging Face F16 folder of stories15M's shape (its 288-wide rows refused as Q1_0), and a 1-bit
// OneBit student written directly a tensor at a time (the way a LLaMA-7B-shape student is made
// without a 7B teacher in memory), whose model file is bounds-checked and CRC-checked like any
// other.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHAPES, writeCheckpoint, writeLowBitGguf, writeOneBitStudent } from '../../bench/checkpoints.ts';
import { paramCount } from '../../llm/io/arch.ts';
import { loadModel } from '../../llm/load.ts';
import { ModelRunner } from '../../llm/runner.ts';

const dir = mkdtempSync(join(tmpdir(), 'obt-gen-'));
const shape = SHAPES.stories15M!;
const ids = [1, 403, 2001, 31999, 7];
const next = [403, 2001, 31999, 7, 12];

/** The largest difference between Wasm's and the interpreter's next-token losses. */
async function wasmVsInterp(file: string): Promise<{ worst: number; nll: Float32Array }> {
  const m = await loadModel(file);
  const w = await ModelRunner.fromFile(m, { kind: 'wasm' }).nll(ids, next);
  const i = await ModelRunner.fromFile(m, { kind: 'interp' }).nll(ids, next);
  return { worst: Math.max(...w.map((x, k) => Math.abs(x - i[k]!))), nll: w };
}

describe("random-weight checkpoints of stories15M's shape", () => {
  it('llama2.c and Hugging Face F16: the shape they claim, Wasm ≡ interpreter; no Q1_0 of 288-wide rows', async () => {
    const cases: [string, () => void][] = [
      [join(dir, 's15.bin'), () => writeCheckpoint('stories15M', 'llama2c', join(dir, 's15.bin'))],
      [join(dir, 'f16'), () => writeCheckpoint('stories15M', 'F16', join(dir, 'f16'))],
    ];
    for (const [file, write] of cases) {
      write();
      const m = await loadModel(file);
      expect(m.config).toMatchObject({ dim: 288, hidden: 768, layers: 6, heads: 6, vocab: 32000 });
      const { worst, nll } = await wasmVsInterp(file);
      expect(nll.every(Number.isFinite)).toBe(true);
      expect(worst, file).toBeLessThan(2e-3);
    }
    // llama.cpp's blocks never cross a row: stories15M's 288-wide rows cannot be Q1_0
    expect(() => writeLowBitGguf('stories15M', 'Q1_0', join(dir, 'q1.gguf'))).toThrow(
      /blocks\[0\]\.wq\.w's rows of 288 are not whole Q1_0 blocks of 128/,
    );
    // stories15M has 15.2 M parameters with its head tied to the embedding
    expect(paramCount((await loadModel(join(dir, 's15.bin'))).arch, shape, true)).toBe(15_191_712);
  }, 240_000);

  it('a 1-bit student written directly: OneBit layers at ~1.1 bits, its file checked, Wasm ≡ interpreter', async () => {
    const file = join(dir, 's15-onebit.obtm');
    const bytes = writeOneBitStudent('stories15M', file);
    expect(statSync(file).size).toBe(bytes);
    const m = await loadModel(file);
    expect(m.layer).toBe('method.OneBitNoLn');
    expect(m.config).toMatchObject({ dim: 288, hidden: 768, layers: 6, vocab: 32000 });
    // signs (1 bit) and g, h at f16 over each layer's weights: 1 + 16 (I + O) / (I O)
    expect(m.bits!.linear).toBeGreaterThan(1.05);
    expect(m.bits!.linear).toBeLessThan(1.1);
    const { worst, nll } = await wasmVsInterp(file);
    expect(nll.every(Number.isFinite)).toBe(true);
    expect(worst).toBeLessThan(2e-3);
  }, 240_000);
});
