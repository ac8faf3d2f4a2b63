// Random-weight checkpoints of real models' shapes, for benchmarks of time and memory (no weights
// are shipped or downloaded): a Hugging Face folder (config.json, model.safetensors in F32, F16 or
// BF16, a tokenizer.json converted from the shipped 512-piece tokenizer: the ids it makes are the
// model's first 512) or a llama2.c .bin. Tensor names and shapes come from the architecture's
// `.obt` struct and name map (llm/io/arch.ts, llm/io/names/llama.json); tensors are written one at
// a time, so a 2.2 GB checkpoint never sits in memory. Also GGUF files whose linear layers are in
// llama.cpp's Q1_0 or TQ2_0 (random signs / ternary codes and f16 scales, written a layer at a time;
// embedding and head F16; the 512 shipped pieces padded to the vocabulary): the 1-bit models
// llama.cpp and obt both run (`npm run bench -- --lowbit`). And obt model files of a 1-bit OneBit
// student (`onebit`: signs, f16 g and h), written directly a tensor at a time — a LLaMA-7B-shape
// student without a 7B teacher in memory.
//   node --import tsx bench/checkpoints.ts <shape> <F32|F16|BF16|llama2c|Q1_0|TQ2_0|onebit> <out>
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expectedShapes, linearLayers, paramCount, tiedLeaves } from '../llm/io/arch.ts';
import { writeModelFileFrom, type TensorSource } from '../llm/io/modelfile.ts';
import { resolveMethod } from '../llm/method.ts';
import { treeFromPaths } from '../runtime/core/contract.ts';
import { writeGgufFile } from '../llm/io/gguf_write.ts';
import { LOWBIT, lowBitBytes, type LowBit } from '../llm/io/gguf_lowbit.ts';
import type { Tensor } from '../runtime/core/tensor.ts';
import { LLAMA, conventionRows, names } from '../llm/io/names.ts';
import type { LlamaConfig } from '../llm/io/model.ts';
import { parseTokenizerBin } from '../llm/io/tokenizer.ts';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { hfConfigFields } from '../llm/io/hf_config.ts';
import { sentencePieceJson } from '../test/helpers/hf_tokenizers.ts';

/** The shapes of the models researchers run (llama2.c's TinyStories models; TinyLlama-1.1B). */
export const SHAPES: Record<string, LlamaConfig & { tied: boolean }> = {
  stories15M: {
    dim: 288,
    hidden: 768,
    layers: 6,
    heads: 6,
    kvHeads: 6,
    vocab: 32000,
    seqLen: 256,
    eps: 1e-5,
    ropeTheta: 10000,
    tied: true,
  },
  stories42M: {
    dim: 512,
    hidden: 1376,
    layers: 8,
    heads: 8,
    kvHeads: 8,
    vocab: 32000,
    seqLen: 1024,
    eps: 1e-5,
    ropeTheta: 10000,
    tied: true,
  },
  stories110M: {
    dim: 768,
    hidden: 2048,
    layers: 12,
    heads: 12,
    kvHeads: 12,
    vocab: 32000,
    seqLen: 1024,
    eps: 1e-5,
    ropeTheta: 10000,
    tied: true,
  },
  'tinyllama-1.1B': {
    dim: 2048,
    hidden: 5632,
    layers: 22,
    heads: 32,
    kvHeads: 4,
    vocab: 32000,
    seqLen: 2048,
    eps: 1e-5,
    ropeTheta: 10000,
    tied: false,
  },
  // one block of LLaMA-7B (its 4096 × 4096 and 4096 × 11008 matrices), with a small vocabulary so
  // that the block's matrices are what a decode step reads
  'llama7B-block': {
    dim: 4096,
    hidden: 11008,
    layers: 1,
    heads: 32,
    kvHeads: 32,
    vocab: 512,
    seqLen: 2048,
    eps: 1e-5,
    ropeTheta: 10000,
    tied: false,
  },
  'llama-7B': {
    dim: 4096,
    hidden: 11008,
    layers: 32,
    heads: 32,
    kvHeads: 32,
    vocab: 32000,
    seqLen: 2048,
    eps: 1e-5,
    ropeTheta: 10000,
    tied: false,
  },
};

export type Format = 'F32' | 'F16' | 'BF16' | 'llama2c';
const WIDTH = { F32: 4, F16: 2, BF16: 2, llama2c: 4 } as const;

/** n random values (about ±0.06; norms' weights 1) as the format stores them. */
function values(format: Format, n: number, seed: number, one: boolean): Uint8Array {
  let s = seed >>> 0 || 1;
  const out = new Uint8Array(n * WIDTH[format]);
  const u16 = new Uint16Array(out.buffer, 0, format === 'F16' || format === 'BF16' ? n : 0);
  const u32 = new Uint32Array(out.buffer, 0, WIDTH[format] === 4 ? n : 0);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    // bf16 bits: random sign and mantissa, exponent 2^-8 .. 2^-5
    const bf = one ? 0x3f80 : (s & 0x807f) | ((0x77 + ((s >>> 8) & 3)) << 7);
    if (format === 'BF16') u16[i] = bf;
    else if (format === 'F16') u16[i] = one ? 0x3c00 : (s & 0x83ff) | ((8 + ((s >>> 8) & 3)) << 10);
    else u32[i] = bf << 16;
  }
  return out;
}

/** Writes a checkpoint of a shape in a format to `out` (a folder for F32/F16/BF16, a file for llama2c). */
export function writeCheckpoint(shape: string, format: Format, out: string): void {
  const c = SHAPES[shape];
  if (!c) throw new Error(`unknown shape ${shape} (expected ${Object.keys(SHAPES).join(', ')})`);
  const leaves = [...expectedShapes(LLAMA, c)].filter(([p]) => !(c.tied && tiedLeaves(LLAMA).includes(p)));
  const isNorm = (p: string) => /norm/.test(p);
  let seed = 1;
  if (format === 'llama2c') {
    // the file's order: the name map's llama2c rows, each stacked over the layers; RoPE tables
    // before the classifier (unused by obt, written as zeros)
    const fd = openSync(out, 'w');
    const h = [c.dim, c.hidden, c.layers, c.heads, c.kvHeads, c.tied ? c.vocab : -c.vocab, c.seqLen];
    writeSync(fd, new Uint8Array(Int32Array.from(h).buffer));
    const shapes = new Map(leaves);
    for (const [template] of conventionRows(LLAMA, 'llama2c')) {
      const rows = template.includes('{l}') ? c.layers : 1;
      const path = template.replace('{l}', '0');
      if (tiedLeaves(LLAMA).includes(path)) writeSync(fd, new Uint8Array(c.seqLen * (c.dim / c.heads) * 4));
      const sh = shapes.get(path);
      if (!sh) continue;
      const n = sh.reduce((a, b) => a * b, 1);
      for (let l = 0; l < rows; l++) writeSync(fd, values(format, n, seed++, isNorm(path)));
    }
    closeSync(fd);
    writeTokenizer(dirname(out));
    return;
  }
  mkdirSync(out, { recursive: true });
  const hf = names(LLAMA, 'hf');
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [path, sh] of leaves) {
    const n = sh.reduce((a, b) => a * b, 1) * WIDTH[format];
    header[hf.nameOf(path)!] = { dtype: format, shape: sh, data_offsets: [off, off + n] };
    off += n;
  }
  const h = new TextEncoder().encode(JSON.stringify(header));
  const fd = openSync(join(out, 'model.safetensors'), 'w');
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(h.length), true);
  writeSync(fd, len);
  writeSync(fd, h);
  for (const [path, sh] of leaves)
    writeSync(
      fd,
      values(
        format,
        sh.reduce((a, b) => a * b, 1),
        seed++,
        isNorm(path),
      ),
    );
  closeSync(fd);
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    ...hfConfigFields(c, c.tied),
    hidden_act: 'silu',
    torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[format],
    bos_token_id: 1,
    eos_token_id: 2,
  };
  writeFileSync(join(out, 'config.json'), JSON.stringify(config, null, 2));
  writeTokenizer(out);
}

/** tokenizer.json and tokenizer_config.json (the shipped 512 pieces; padded to the vocabulary as
 *  it loads) into a folder: beside a llama2.c file, or in a Hugging Face folder. */
function writeTokenizer(dir: string): void {
  const tok = join(PROJECT_ROOT, 'data/tok512.bin');
  const tk = sentencePieceJson(parseTokenizerBin(tok, readFileSync(tok)));
  writeFileSync(join(dir, 'tokenizer.json'), tk.json);
  writeFileSync(join(dir, 'tokenizer_config.json'), tk.config);
}

/** Random blocks of a low-bit type for a [rows, cols] matrix: signs (or ternary codes 0..2) and f16
 *  scales of about 0.02. */
function lowBitBlocks(type: 'Q1_0' | 'TQ2_0', rows: number, cols: number, seed: number): Uint8Array {
  const out = new Uint8Array(lowBitBytes(type, rows, cols));
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  const { bytes } = LOWBIT[type];
  for (let at = 0; at < out.length; at += bytes) {
    const d = 0x2400 | (next() & 0x1ff); // f16 0.0156 .. 0.031
    if (type === 'Q1_0') {
      out[at] = d & 0xff;
      out[at + 1] = d >> 8;
      for (let j = 2; j < bytes; j++) out[at + j] = next() & 0xff;
    } else {
      // four 2-bit codes per byte, each 0, 1 or 2 (never 3)
      for (let j = 0; j < 64; j++) {
        let q = 0;
        for (let l = 0; l < 4; l++) q |= (next() % 3) << (2 * l);
        out[at + j] = q;
      }
      out[at + 64] = d & 0xff;
      out[at + 65] = d >> 8;
    }
  }
  return out;
}

/** A GGUF file of a shape whose linear layers are `type`, the rest F16 (norms F32). */
export function writeLowBitGguf(shape: string, type: 'Q1_0' | 'TQ2_0', out: string): void {
  const c = SHAPES[shape];
  if (!c) throw new Error(`unknown shape ${shape} (expected ${Object.keys(SHAPES).join(', ')})`);
  const linear = new Set(linearLayers(LLAMA, c).map((l) => `${l.path}.w`));
  const block = LOWBIT[type].values;
  for (const [path, sh] of expectedShapes(LLAMA, c))
    if (linear.has(path) && sh[1]! % block)
      throw new Error(`${shape}: ${path}'s rows of ${sh[1]} are not whole ${type} blocks of ${block}`);
  const tensors = new Map<string, Tensor>();
  const lowbit = new Map<string, { type: LowBit; bytes: () => Uint8Array }>();
  let seed = 1;
  for (const [path, sh] of expectedShapes(LLAMA, c)) {
    const n = sh.reduce((a, b) => a * b, 1);
    const sd = seed++;
    if (linear.has(path)) lowbit.set(path, { type, bytes: () => lowBitBlocks(type, sh[0]!, sh[1]!, sd) });
    else {
      const norm = /norm/.test(path);
      const v = values(norm ? 'F32' : 'F16', n, sd, norm);
      tensors.set(path, {
        dtype: 'f32',
        shape: sh,
        ...(norm ? { data: new Float32Array(v.buffer) } : { data: new Uint16Array(v.buffer), stored: 'f16' as const }),
      });
    }
  }
  const tok = join(PROJECT_ROOT, 'data/tok512.bin');
  const tk = parseTokenizerBin(tok, readFileSync(tok));
  const pad = Array.from({ length: c.vocab - tk.pieces.length }, (_, i) => `<unused${i}>`);
  writeGgufFile(
    out,
    {
      arch: LLAMA,
      config: c,
      tensors,
      sharedHead: false,
      lowbit,
      tokenizer: { ...tk, pieces: [...tk.pieces, ...pad], scores: [...tk.scores, ...pad.map(() => 0)] },
      name: `${shape}-random-${type}`,
    },
    'F16',
  );
}

/** An obt model file of a shape's 1-bit student, written directly (no teacher in memory, one
 *  tensor made at a time: a 7B student's ~1.4 GB never sit in memory whole): every linear layer
 *  in `method`'s inference form (default onebit_noln_latw10's OneBitNoLn: random signs, g near 1
 *  and h about 0.02 at f16), the embedding, norms and head at f16 (norms 1). Returns the file's size. */
export function writeOneBitStudent(shape: string, out: string, methodName = 'onebit_noln_latw10'): number {
  const c = SHAPES[shape];
  if (!c) throw new Error(`unknown shape ${shape} (expected ${Object.keys(SHAPES).join(', ')})`);
  const method = resolveMethod(methodName);
  const linear = linearLayers(LLAMA, c);
  const layerOf = (path: string) => linear.find((l) => path.startsWith(`${l.path}.`));
  const tied = c.tied ? new Set(tiedLeaves(LLAMA)) : new Set<string>();
  const sources: TensorSource[] = [];
  const leaves: { path: string; value: unknown }[] = [];
  let seed = 1;
  const add = (
    path: string,
    dtype: 'f32' | 'sign',
    stored: 'f16' | 'sign',
    shape: number[],
    bytes: () => Uint8Array,
  ) => {
    leaves.push({ path, value: { $t: sources.length } });
    sources.push({ path, dtype, stored, shape, bytes });
  };
  const halves = (n: number, sd: number, one: boolean) => () => values('F16', n, sd, one);
  for (const [path, sh] of expectedShapes(LLAMA, c)) {
    if (tied.has(path)) continue;
    const l = layerOf(path);
    const sd = seed++;
    if (!l) {
      add(
        path,
        'f32',
        'f16',
        sh,
        halves(
          sh.reduce((a, b) => a * b, 1),
          sd,
          /norm/.test(path),
        ),
      );
      continue;
    }
    // the layer's inference form: s [O, I] packed 32 signs a word, g [I], h [O]
    const [O, I] = sh as [number, number];
    add(`${l.path}.s`, 'sign', 'sign', [O, I], () => {
      const words = new Uint32Array(O * Math.ceil(I / 32));
      let x = sd >>> 0 || 1;
      for (let i = 0; i < words.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        words[i] = x >>> 0;
      }
      if (I % 32) for (let r = 0; r < O; r++) words[(r + 1) * Math.ceil(I / 32) - 1]! &= 2 ** (I % 32) - 1;
      return new Uint8Array(words.buffer);
    });
    add(`${l.path}.g`, 'f32', 'f16', [I], halves(I, sd + 7919, true));
    add(`${l.path}.h`, 'f32', 'f16', [O], halves(O, sd + 104729, false));
  }
  const tok = join(PROJECT_ROOT, 'data/tok512.bin');
  const tk = parseTokenizerBin(tok, readFileSync(tok));
  const pad = Array.from({ length: c.vocab - tk.pieces.length }, (_, i) => `<unused${i}>`);
  const tree = treeFromPaths(leaves);
  if (c.tied)
    for (const [head, emb] of Object.entries(LLAMA.tied))
      (tree as Record<string, unknown>)[head] = (tree as Record<string, unknown>)[emb];
  const { bytes } = writeModelFileFrom(
    out,
    {
      arch: LLAMA,
      config: c,
      tokenizer: { ...tk, pieces: [...tk.pieces, ...pad], scores: [...tk.scores, ...pad.map(() => 0)] },
      layer: method.infer,
      method: { name: method.name, source: method.source, train: method.train, infer: method.infer },
      linear,
      params: paramCount(LLAMA, c, c.tied),
    },
    sources,
    tree,
  );
  return bytes;
}

const FORMATS = ['F32', 'F16', 'BF16', 'llama2c', 'Q1_0', 'TQ2_0', 'onebit'];
if (import.meta.url === `file://${process.argv[1]}`) {
  const [shape, format, out] = process.argv.slice(2);
  if (!shape || !format || !out || !FORMATS.includes(format)) {
    process.stderr.write(
      `usage: bench/checkpoints.ts <${Object.keys(SHAPES).join('|')}> <${FORMATS.join('|')}> <out>\n`,
    );
    process.exit(2);
  }
  if (format === 'Q1_0' || format === 'TQ2_0') writeLowBitGguf(shape, format, out);
  else if (format === 'onebit') writeOneBitStudent(shape, out);
  else writeCheckpoint(shape, format as Format, out);
}
