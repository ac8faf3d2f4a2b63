// The OneBit-only packed model file (.obt1) that model files (modelfile.ts) replaced; still read
// (as a model of the shipped onebit method), no longer written.
//   "OBT1BIT\0", u32 version (1), u32 header length, a JSON header {config, tokenizer, tensors:
//   [{name, dtype: sign|f32|f16, shape, offset, bytes}]}, zero padding to 8 bytes, the tensor data
//   (signs as packed u32 words, 32 per word along the input axis, bit 1 = −1; vectors and the
//   frozen fp parts as f32 or f16), then a CRC-32 of everything before it.
// Names: llama2.c's names of the fp model's tensors (llm/io/names/llama.json's llama2c; the head
// absent when tied), each linear layer's weight N replaced by N.s, N.g, N.h.
// The reader checks the CRC, the header against its schema, every tensor's name, shape (against
// the config), size and extent before it allocates anything.
import { z } from 'zod';
import { LoadError, validateConfig, type LlamaConfig } from './model.ts';
import { expectedShapes, modelLeaves } from './arch.ts';
import { treeFromPaths } from '../../runtime/core/contract.ts';
import { LLAMA, names, tiedSource } from './names.ts';

/** The llama2c names of the linear layers' weights (the model's layers, from its struct). */
function linearNames(c: LlamaConfig): Set<string> {
  const canon = names(LLAMA, 'llama2c');
  return new Set(modelLeaves(LLAMA, c).layers.flatMap((l) => l.leaves.map((x) => canon.nameOf(x.path)!)));
}
import { ConfigHeader, Placed, TokenizerHeader, checkExtents, checkShape, parseWith } from './validate.ts';
import { readBytesCopy } from './state.ts';
import { readFramed } from './frame.ts';
import { halvesToFloats } from '../../runtime/core/stored.ts';
import { signWords, type Tensor } from '../../runtime/core/tensor.ts';
import type { TokenizerData } from './tokenizer.ts';

const MAGIC = 'OBT1BIT\0';

const Entry = z.object({
  name: z.string().max(256),
  dtype: z.enum(['sign', 'f32', 'f16']),
  ...Placed,
});
const Header = z.object({
  config: ConfigHeader,
  tokenizer: TokenizerHeader,
  sharedHead: z.boolean(),
  tensors: z.array(Entry).max(1 << 16),
});

export interface PackedModel {
  file: string;
  config: LlamaConfig;
  tokenizer: TokenizerData;
  /** host value of Llama[OneBit, V, D, F, H, KV, L] */
  value: Record<string, unknown>;
  sharedHead: boolean;
  bytes: number;
}

export function isPacked(head: Uint8Array): boolean {
  return new TextDecoder().decode(head.subarray(0, 8)) === MAGIC;
}

/** The shape each tensor must have, by name, for a config (OneBit's s [out, in], g [in], h [out]). */
function packedShapes(c: LlamaConfig, sharedHead: boolean): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const linear = linearNames(c);
  const canon = names(LLAMA, 'llama2c');
  for (const [path, shape] of expectedShapes(LLAMA, c)) {
    const name = canon.nameOf(path)!;
    if (linear.has(name)) {
      m.set(`${name}.s`, shape);
      m.set(`${name}.g`, [shape[1]!]);
      m.set(`${name}.h`, [shape[0]!]);
    } else if (!(sharedHead && tiedSource(LLAMA, path) !== path)) m.set(name, shape);
  }
  return m;
}

export function readPacked(file: string, b: Uint8Array = readBytesCopy(file)): PackedModel {
  const bad = (what: string): never => {
    throw new LoadError(file, what);
  };
  const { json, base, end } = readFramed(file, b, MAGIC, 1, 'a packed obt 1-bit model');
  const header = parseWith(file, 'header', Header, json);
  const c = header.config;
  validateConfig(file, c);
  // names, shapes against the config, sizes and extents, all before anything is allocated
  const want = packedShapes(c, header.sharedHead);
  const seen = new Set<string>();
  for (const e of header.tensors) {
    const what = `tensor ${e.name}`;
    if (seen.has(e.name)) bad(`${what} appears twice`);
    seen.add(e.name);
    const shape = want.get(e.name);
    if (!shape) bad(`${what}: not a tensor of a OneBit Llama with ${c.layers} layers`);
    if (e.shape.length !== shape!.length || e.shape.some((d, i) => d !== shape![i]))
      bad(`${what}: shape [${e.shape.join(', ')}], expected [${shape!.join(', ')}]`);
    if ((e.dtype === 'sign') !== e.name.endsWith('.s')) bad(`${what}: dtype ${e.dtype} is not its kind's`);
    const n = checkShape(file, what, e.shape);
    const need =
      e.dtype === 'sign'
        ? 4 * (n / e.shape[e.shape.length - 1]!) * signWords(e.shape[e.shape.length - 1]!)
        : n * (e.dtype === 'f16' ? 2 : 4);
    if (e.bytes !== need) bad(`${what}: ${e.bytes} bytes for a ${e.dtype}[${e.shape.join(', ')}] (expected ${need})`);
  }
  for (const name of want.keys()) if (!seen.has(name)) bad(`missing tensor ${name}`);
  checkExtents(
    file,
    header.tensors.map((e) => ({ what: `tensor ${e.name}`, start: e.offset, bytes: e.bytes })),
    end - base,
    { base },
  );
  const map = new Map<string, Tensor>();
  for (const e of header.tensors) {
    const raw = b.slice(base + e.offset, base + e.offset + e.bytes);
    if (e.dtype === 'sign') map.set(e.name, { dtype: 'sign', shape: e.shape, data: new Uint32Array(raw.buffer) });
    else if (e.dtype === 'f16')
      map.set(e.name, {
        dtype: 'f32',
        shape: e.shape,
        data: halvesToFloats(raw, raw.length / 2),
      });
    else map.set(e.name, { dtype: 'f32', shape: e.shape, data: new Float32Array(raw.buffer) });
  }
  // the fp model's leaves (llm/io/arch.ts), each linear layer's weight replaced by its OneBit s, g, h
  const canon = names(LLAMA, 'llama2c');
  const linear = linearNames(c);
  const value = treeFromPaths(
    modelLeaves(LLAMA, c).leaves.flatMap((l) => {
      const name = canon.nameOf(header.sharedHead ? tiedSource(LLAMA, l.path) : l.path)!;
      if (!linear.has(name)) return [{ path: l.path, value: map.get(name) }];
      const layer = l.path.replace(/\.[^.]+$/, ''); // the layer's path: its weight leaf's parent
      return ['s', 'g', 'h'].map((k) => ({ path: `${layer}.${k}`, value: map.get(`${name}.${k}`) }));
    }),
  ) as Record<string, unknown>;
  return {
    file,
    config: c,
    tokenizer: { source: file, ...header.tokenizer },
    value,
    sharedHead: header.sharedHead,
    bytes: b.length,
  };
}
