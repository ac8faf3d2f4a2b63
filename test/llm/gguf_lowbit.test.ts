// Quantised students in llama.cpp's 1-bit and ternary types (obtc export --format gguf; the
// methods q1_0 and tq2_0, whose inference forms are Q1_0 and TQ2_0/TQ1_0 exactly): written bit for
// bit and read back as the same inference form (the same tensors, the same logits, a second export
// byte-identical), checked by llama.cpp itself (node-llama-cpp: greedy ids and next-token
// probabilities beside obt's), and refused in one line where a layer type has no exact llama.cpp
// type. The teacher is a random Llama with rows of 256 (llama.cpp's blocks are 128 and 256 wide;
// stories260K's rows of 64 and 172 are not whole blocks).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../llm/load.ts';
import { ModelRunner } from '../../llm/runner.ts';
import { treeLeaves } from '../../runtime/core/tree.ts';
import { obtcInProcess } from '../helpers/cli.ts';
import { randomLlamaFolder } from '../helpers/hf_models.ts';
import { compare, noLlama } from '../helpers/llama_cpp.ts';
import { firstWindows, perplexity, tokenStream } from '../../llm/eval.ts';
import { writeGgufFile } from '../../llm/io/gguf_write.ts';
import { encodeQ1_0, encodeTQ, type LowBit } from '../../llm/io/gguf_lowbit.ts';
import { linearLayers } from '../../llm/io/arch.ts';
import type { Tensor } from '../../runtime/core/tensor.ts';

const root = join(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'obt-lowbit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let teacher = '';
const students = new Map<string, string>();
beforeAll(async () => {
  teacher = randomLlamaFolder(join(tmp, 'teacher'));
  for (const method of ['q1_0', 'tq2_0', 'bitnet158', 'onebit_noln_latw10']) {
    const out = join(tmp, `${method}.obtm`);
    const r = await obtcInProcess(
      ['quantize', '--method', method, '--weights', teacher, '--steps', '0', '--no-eval', '--sample-steps', '0'].concat(
        ['--out', out],
      ),
    );
    expect(r.code, r.err).toBe(0);
    students.set(method, out);
  }
}, 120_000);

async function exportGguf(model: string, out: string, extra: string[] = []) {
  const r = await obtcInProcess(['export', model, '--format', 'gguf', '-o', out, ...extra]);
  return { ...r, file: out };
}

/** Every leaf of a model value: its dtype, shape and bytes. */
function leaves(v: unknown) {
  return treeLeaves(v).map(({ path, leaf }) => {
    const d = leaf.data;
    return { path, dtype: leaf.dtype, shape: leaf.shape, bytes: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
  });
}

const CASES = [
  ['q1_0', 'Q1_0', []],
  ['tq2_0', 'TQ2_0', []],
  ['tq2_0', 'TQ1_0', ['--ternary', 'tq1_0']],
] as const;

describe('quantised students as GGUF, read back by obt', () => {
  for (const [method, type, extra] of CASES)
    it(`a ${method} student as ${type}: the same tensors and logits read back; exported again, the same bytes`, async () => {
      const first = await exportGguf(students.get(method)!, join(tmp, `${type}.gguf`), [...extra]);
      expect(first.code, first.err).toBe(0);
      expect(first.out).toMatch(new RegExp(`14 ${type}\\b`)); // 2 layers × 7 linear layers
      const [s, g] = [await loadModel(students.get(method)!), await loadModel(first.file)];
      expect(g.layer).toBe(s.layer);
      expect(g.method!.name).toBe(method);
      expect(leaves(g.value)).toEqual(leaves(s.value));
      const ids = [1, 403, 29, 7, 300, 12, 90, 45];
      expect(await ModelRunner.fromFile(g).logits(ids)).toEqual(await ModelRunner.fromFile(s).logits(ids));
      const again = await exportGguf(first.file, join(tmp, `${type}-again.gguf`), [...extra]);
      expect(again.code, again.err).toBe(0);
      expect(readFileSync(again.file).subarray(1000)).toEqual(readFileSync(first.file).subarray(1000));
    }, 60_000);

  it('a Q1_0 GGUF is a starting point: as a teacher its layers are their values, so q1_0 quantises it back to the same signs and scales', async () => {
    const file = (await exportGguf(students.get('q1_0')!, join(tmp, 'start.gguf'))).file;
    const out = join(tmp, 'again.obtm');
    const args = ['--weights', file, '--steps', '0', '--no-eval', '--sample-steps', '0', '--out', out];
    const r = await obtcInProcess(['quantize', '--method', 'q1_0', ...args]);
    expect(r.code, r.err).toBe(0);
    expect(leaves((await loadModel(out)).value)).toEqual(leaves((await loadModel(students.get('q1_0')!)).value));
  }, 60_000);

  it('a layer type with no exact llama.cpp type is refused in one line, saying why', async () => {
    const cases: [string, RegExp][] = [
      // OneBit: g and h scale the inputs and outputs
      [
        join(root, 'data/stories260K-1bit-best.obtm'),
        /OneBitNoLn.*no llama\.cpp type that holds them exactly: it stores s: sign\[64, 64\], g: f32\[64\], h: f32\[64\].*g, h would be lost/,
      ],
      // BitNet b1.58 stores ternary planes and one scale, but its apply normalises and quantises x
      [students.get('bitnet158')!, /BitNet158.*its apply is not x · Wᵀ of what it stores/],
    ];
    for (const [model, re] of cases) {
      const r = await exportGguf(model, join(tmp, 'refused.gguf'));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(re);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  }, 60_000);
});

describe('untrusted low-bit GGUF files', () => {
  /** The q1_0 student rewritten with its layers' bytes edited (`edit`: the layer's ordinal, its
   *  Q1_0 bytes → the type and bytes written). */
  async function edited(name: string, edit: (k: number, q1: Uint8Array, O: number, I: number) => [LowBit, Uint8Array]) {
    const m = await loadModel(students.get('q1_0')!);
    const paths = linearLayers(m.arch, m.config).map((l) => l.path);
    const all = new Map(treeLeaves(m.value).map((l) => [l.path, l.leaf as Tensor]));
    const tensors = new Map([...all].filter(([p]) => !paths.some((l) => p.startsWith(`${l}.`))));
    const lowbit = new Map(
      paths.map((p, k) => {
        const [s, d] = [all.get(`${p}.s`)!, all.get(`${p}.d`)!];
        const [O, I] = s.shape as [number, number];
        const [type, bytes] = edit(k, encodeQ1_0(s.data as Uint32Array, d.data as Float32Array, O, I), O, I);
        return [`${p}.w`, { type, bytes: () => bytes }] as const;
      }),
    );
    const file = join(tmp, name);
    writeGgufFile(
      file,
      { arch: m.arch, config: m.config, tensors, sharedHead: false, lowbit, tokenizer: m.tokenizer.data, name },
      'F32',
    );
    return file;
  }

  it('a non-finite scale, a TQ2_0 code 3, ternary layers beside 1-bit ones: one line naming the tensor', async () => {
    const cases: [string, (k: number, q1: Uint8Array, O: number, I: number) => [LowBit, Uint8Array], RegExp][] = [
      [
        'inf.gguf',
        (k, q1) => (k === 3 ? (q1.set([0x00, 0x7c], 18 * 5), ['Q1_0', q1]) : ['Q1_0', q1]),
        /inf\.gguf: tensor blk\.0\.attn_output\.weight: block 5 has a non-finite scale Infinity/,
      ],
      [
        'code3.gguf',
        (k, q1, O, I) => {
          if (k) return ['Q1_0', q1];
          const z = new Uint32Array((O * I) / 32);
          const b = encodeTQ('TQ2_0', z, z, new Float32Array((O * I) / 256).fill(0.5), O, I);
          b[66 + 7] = 3; // block 1 (row 1: rows of 256 are one block), byte 7: code 3 at column 7
          return ['TQ2_0', b];
        },
        /code3\.gguf: tensor blk\.0\.attn_q\.weight: TQ2_0 code 3 \(value 2·d\) in row 1, column 7/,
      ],
      [
        'mixed.gguf',
        (k, q1, O, I) => {
          if (k !== 2) return ['Q1_0', q1];
          const z = new Uint32Array((O * I) / 32);
          return ['TQ2_0', encodeTQ('TQ2_0', z, z, new Float32Array((O * I) / 256), O, I)];
        },
        /mixed\.gguf: tensor blk\.0\.attn_v\.weight is TQ2_0 but blk\.0\.attn_q\.weight is not ternary: obt's model has one layer type/,
      ],
    ];
    for (const [name, edit, re] of cases) {
      const file = await edited(name, edit);
      const r = await obtcInProcess(['generate', '--weights', file, '--steps', '3']);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(re);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  }, 60_000);
});

describe('--approximate: a layer type with no exact llama.cpp type in the nearest one, the loss printed', () => {
  const evalText = join(root, 'data/tinystories_valid_eval.txt');
  /** obt's perplexity of a model file on the first windows of the evaluation text */
  async function ppl(file: string, windows: number): Promise<number> {
    const m = await loadModel(file);
    const runner = ModelRunner.fromFile(m, { kind: 'wasm' });
    const stream = firstWindows(tokenStream(readFileSync(evalText, 'utf8'), m.tokenizer), 256, windows);
    return (await perplexity(stream, 256, (ids, t) => runner.nll(ids, t))).ppl;
  }
  const printed = (out: string) => {
    const m =
      /approximate: perplexity ([\d.]+) \(the student\) -> ([\d.]+) \(as written\) on .*, 2 window\(s\) of 256/.exec(
        out,
      );
    expect(m, out).not.toBeNull();
    return [Number(m![1]), Number(m![2])] as const;
  };

  it("a OneBit student with rows of 256: Q1_0 (or --ternary TQ2_0) of W = diag(h) S diag(g); the perplexity after is the written file's", async () => {
    for (const extra of [[], ['--ternary', 'tq2_0']]) {
      const r = await exportGguf(students.get('onebit_noln_latw10')!, join(tmp, 'approx.gguf'), [
        '--approximate',
        '--eval-windows',
        '2',
        ...extra,
      ]);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(extra.length ? /14 TQ2_0/ : /14 Q1_0/);
      const [before, after] = printed(r.out);
      expect(before).not.toBe(after);
      expect(Math.abs(before / (await ppl(students.get('onebit_noln_latw10')!, 2)) - 1)).toBeLessThan(1e-4);
      expect(Math.abs(after / (await ppl(r.file, 2)) - 1)).toBeLessThan(1e-4);
    }
  }, 120_000);

  it("stories260K's OneBit student: rows of 64 and 172 are not whole blocks, so its dense matrices are written (said in a note), the perplexity unchanged", async () => {
    const r = await exportGguf(join(root, 'data/stories260K-1bit-best.obtm'), join(tmp, 'approx260.gguf'), [
      '--approximate',
      '--eval-windows',
      '2',
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/note: rows of 64 weights are not whole Q1_0 blocks of 128: written as F32/);
    expect(r.err).toMatch(/note: rows of 172 weights/);
    const [before, after] = printed(r.out);
    expect(Math.abs(after / before - 1)).toBeLessThan(1e-4);
    expect((await loadModel(r.file)).layer).toBe('Dense');
  }, 120_000);
});

// llama.cpp's CPU kernels round the activations to 8 bits for these types' dots (Q8_0 for Q1_0,
// Q8_K for TQ*), obt keeps them f32: probabilities differ by that rounding
const TOL = 3e-2;

describe.skipIf(noLlama !== undefined)(
  `llama.cpp runs the 1-bit and ternary students obt exports${noLlama ? ` (skipped: ${noLlama})` : ''}`,
  () => {
    for (const [method, type, extra] of CASES)
      it(`${method} as ${type}: greedy ids and next-token probabilities (within ${TOL}) equal obt's`, async () => {
        const e = await exportGguf(students.get(method)!, join(tmp, `cpp-${type}.gguf`), [...extra]);
        expect(e.code, e.err).toBe(0);
        const { ours, cpp, worst } = await compare(e.file, 12);
        expect(cpp.greedy).toEqual(ours);
        expect(worst).toBeLessThan(TOL);
      }, 60_000);
  },
);
