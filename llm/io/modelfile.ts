// The obt model file (.obtm): a model of any architecture and layer type, ready to run on any
// machine — the architecture, the config,
// the tokenizer, the layer type and, for a quantised model, the method's .obt source (so
// `--weights FILE` needs nothing beside it), the bits per weight, and every tensor of the model's
// value tree at its storage dtype.
//   "OBTMODEL", u32 version (1), u32 header length, the JSON header (schema below), zero padding
//   to 8 bytes, the tensor data (each tensor 8-byte aligned), then a CRC-32 of everything before.
// Storage: sign = packed u32 words, 32 per word along the last axis (bit 1 = −1, padded per row);
// f16 = IEEE half bits; f32, i32, u32 = 4 bytes; bool = 1 byte. An f32 tensor may be stored as f16
// (`stored: "f16"`, --fp16). Tensors with equal contents (a tied head) are stored once.
// The reader checks the magic, version, CRC, header against the schema, and every tensor's extent
// and size against its shape before it allocates anything.
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { MAX_SOURCE_BYTES } from '../../compiler/syntax/limits.ts';
import { isTensor, mapTree, treeLeaves } from '../../runtime/core/tree.ts';
import { numel, roundF16, storageSize, type Tensor } from '../../runtime/core/tensor.ts';
import { DTYPES, type DType } from '../../runtime/core/dtype.ts';
import { crc32 } from './state.ts';
import { readFramed } from './frame.ts';
import { halvesToFloats, widen } from '../../runtime/core/stored.ts';
import { LoadError, validateConfig, type LlamaConfig } from './model.ts';
import { linearLayers, paramCount } from './arch.ts';
import { ARCHES, ArchDefinition, archDefinition, archFromDefinition, archNamed, type Arch } from './names.ts';
import { ConfigHeader, Placed, TokenizerHeader, checkExtents, checkShape, parseWith } from './validate.ts';
import type { TokenizerData } from './tokenizer.ts';

const MAGIC = 'OBTMODEL';
/** a struct or method name: an identifier of at most 64 characters */
const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const VERSION = 1;

/** Bits per weight, from the stored tensors. */
export interface Bits {
  /** the linear layers' stored bits over their weight count (what a method costs per weight) */
  linear: number;
  /** every stored tensor's bits over the model's parameter count (embedding, norms, head included) */
  model: number;
  /** the file's size in bits over the model's parameter count (header and padding included) */
  file: number;
  /** the fp model's counts these are relative to */
  linearWeights: number;
  params: number;
}

const Entry = z.object({
  path: z.string().max(256),
  dtype: z.enum(DTYPES),
  stored: z.enum(DTYPES),
  ...Placed,
});

const Header = z.object({
  /** the architecture (llm/io/names/); files before it was recorded are Llamas */
  arch: z.string().regex(IDENT).optional(),
  /** a user architecture (obtc train --model FILE.obt): its name map and its .obt source */
  archDef: ArchDefinition.extend({ source: z.string().max(MAX_SOURCE_BYTES) }).optional(),
  config: ConfigHeader,
  tokenizer: TokenizerHeader,
  /** the struct the model's layers are (`Dense`, or the method's inference form) */
  layer: z.string().regex(IDENT),
  method: z
    .object({
      name: z.string().regex(IDENT),
      source: z.string().max(MAX_SOURCE_BYTES),
      train: z.string().regex(IDENT),
      infer: z.string().regex(IDENT),
    })
    .optional(),
  bits: z.object({
    linear: z.number().min(0).max(64),
    model: z.number().min(0).max(64),
    file: z
      .number()
      .min(0)
      .max(1 << 20),
    linearWeights: z
      .number()
      .int()
      .min(0)
      .max(2 ** 53),
    params: z
      .number()
      .int()
      .min(1)
      .max(2 ** 53),
  }),
  tree: z.unknown(),
  tensors: z.array(Entry).max(1 << 20),
});
type Header = z.infer<typeof Header>;
type Entry = z.infer<typeof Entry>;

export interface ModelContent {
  arch: Arch;
  config: LlamaConfig;
  tokenizer: TokenizerData;
  /** the host value of Llama[layer, …] */
  value: Record<string, unknown>;
  layer: string;
  method?: { name: string; source: string; train: string; infer: string };
  /** paths of the model's linear layers (their leaves are `path.field`) and their fp weight counts */
  linear: { path: string; weights: number }[];
  /** the fp model's parameter count */
  params: number;
  /** store f32 tensors as f16 */
  fp16: boolean;
}

export interface ModelFile extends Omit<ModelContent, 'linear' | 'params' | 'fp16' | 'tokenizer'> {
  file: string;
  tokenizer: TokenizerData;
  bits: Bits;
  bytes: number;
  /** how each distinct tensor is stored (checkBits recomputes the bits per weight from them) */
  stored: Entry[];
}

function f32ToF16Bits(x: number): number {
  const v = roundF16(x);
  if (v === 0) return Object.is(v, -0) ? 0x8000 : 0;
  if (!Number.isFinite(v)) return v > 0 ? 0x7c00 : 0xfc00;
  const s = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a < 6.103515625e-5) return s | Math.round(a / 5.960464477539063e-8);
  const e = Math.floor(Math.log2(a));
  const m = Math.round((a / 2 ** e - 1) * 1024);
  return s | ((e + 15) << 10) | m;
}

/** A tensor's bytes at a storage dtype (a tensor held at a stored precision: of its values). */
function encode(tensor: Tensor, stored: DType): Uint8Array {
  const t = widen(tensor);
  switch (stored) {
    case 'sign':
    case 'u32':
      return new Uint8Array(Uint32Array.from(t.data).buffer);
    case 'i32':
      return new Uint8Array(Int32Array.from(t.data).buffer);
    case 'f16':
      return new Uint8Array(Uint16Array.from(t.data, f32ToF16Bits).buffer);
    case 'bool':
      return Uint8Array.from(t.data);
    case 'f32':
      return new Uint8Array(Float32Array.from(t.data).buffer);
  }
}

/** Bytes a tensor of this shape takes at a storage dtype. */
function storedBytes(shape: number[], stored: DType): number {
  const n = stored === 'sign' ? storageSize('sign', shape) : numel(shape);
  return n * (stored === 'bool' ? 1 : stored === 'f16' ? 2 : 4);
}

function decode(raw: Uint8Array, e: Entry): Tensor {
  const t = (data: Tensor['data']): Tensor => ({ dtype: e.dtype, shape: e.shape, data });
  if (e.stored === 'f16') return t(halvesToFloats(raw, raw.length / 2));
  const buf = raw.slice().buffer;
  switch (e.stored) {
    case 'sign':
    case 'u32':
      return t(new Uint32Array(buf));
    case 'i32':
      return t(new Int32Array(buf));
    case 'bool':
      return t(new Uint8Array(buf));
    case 'f32':
      return t(new Float32Array(buf));
  }
}

const sameContents = (a: Tensor, b: Tensor) =>
  a.dtype === b.dtype &&
  a.shape.length === b.shape.length &&
  a.shape.every((d, i) => d === b.shape[i]) &&
  a.data.length === b.data.length &&
  a.data.every((x, i) => x === b.data[i]);

/** A tensor the writer stores: its entry and its bytes at the storage dtype, made when written. */
export interface TensorSource {
  path: string;
  dtype: DType;
  stored: DType;
  shape: number[];
  bytes: () => Uint8Array;
}

/** Writes a model file; returns its size and bits per weight. Tensors with equal contents (a tied
 *  head) are stored once; each is encoded only when it is written. */
export function writeModelFile(path: string, c: ModelContent): { bytes: number; bits: Bits } {
  const leaves = treeLeaves(c.value);
  const uniq: Tensor[] = [];
  const index = new Map<Tensor, number>();
  for (const { leaf } of leaves) {
    const at = uniq.findIndex((u) => u === leaf || sameContents(u, leaf));
    index.set(leaf, at >= 0 ? at : uniq.push(leaf) - 1);
  }
  const pathOf = new Map<number, string>();
  for (const { path: p, leaf } of leaves) if (!pathOf.has(index.get(leaf)!)) pathOf.set(index.get(leaf)!, p);
  const sources = uniq.map((t, i): TensorSource => {
    const stored: DType = c.fp16 && t.dtype === 'f32' ? 'f16' : t.dtype;
    return { path: pathOf.get(i)!, dtype: t.dtype, stored, shape: t.shape, bytes: () => encode(t, stored) };
  });
  return writeModelFileFrom(
    path,
    c,
    sources,
    mapTree(c.value, isTensor, (t) => ({ $t: index.get(t)! })),
  );
}

/** Writes a model file from tensors made one at a time, streamed to the file with the CRC kept as
 *  they go (a generated 7B model is never in memory whole). `tree` is the model's value tree with
 *  `{ $t: i }` for the i-th source; the file is written atomically (a temporary, then renamed). */
export function writeModelFileFrom(
  path: string,
  c: Omit<ModelContent, 'value' | 'fp16'>,
  sources: TensorSource[],
  tree: unknown,
): { bytes: number; bits: Bits } {
  const entries: Entry[] = [];
  let off = 0;
  for (const t of sources) {
    const bytes = storedBytes(t.shape, t.stored);
    entries.push({ path: t.path, dtype: t.dtype, stored: t.stored, shape: t.shape, offset: off, bytes });
    off += bytes + ((8 - (bytes % 8)) % 8);
  }
  // bits: the linear layers' leaves (counted once each), all stored tensors, the file
  const bitsIn = (es: Entry[]) => es.reduce((a, e) => a + 8 * storedBytes(e.shape, e.stored), 0);
  const linearBits = c.linear.reduce((s, l) => s + bitsIn(entries.filter((e) => e.path.startsWith(`${l.path}.`))), 0);
  const linearWeights = c.linear.reduce((s, l) => s + l.weights, 0);
  const bits: Bits = {
    linear: linearWeights ? linearBits / linearWeights : 0,
    model: bitsIn(entries) / c.params,
    file: 0,
    linearWeights,
    params: c.params,
  };
  const head = (): Uint8Array => {
    const header: Header = {
      arch: c.arch.name,
      ...(c.arch.source !== undefined ? { archDef: archDefinition({ ...c.arch, source: c.arch.source }) } : {}),
      config: c.config,
      tokenizer: {
        pieces: c.tokenizer.pieces,
        scores: c.tokenizer.scores,
        bos: c.tokenizer.bos,
        eos: c.tokenizer.eos,
        ...(c.tokenizer.char ? { char: true } : {}),
        ...(c.tokenizer.hf ? { hf: c.tokenizer.hf } : {}),
      },
      layer: c.layer,
      method: c.method,
      bits,
      tree,
      tensors: entries,
    };
    const h = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(16 + h.length + ((8 - ((16 + h.length) % 8)) % 8));
    out.set(new TextEncoder().encode(MAGIC), 0);
    const dv = new DataView(out.buffer);
    dv.setUint32(8, VERSION, true);
    dv.setUint32(12, h.length, true);
    out.set(h, 16);
    return out;
  };
  // the file's own size is in its header: settle it (the digits of the figure may change the size)
  let h = head();
  for (let i = 0; i < 4; i++) {
    const f = ((h.length + off + 4) * 8) / c.params;
    if (f === bits.file) break;
    bits.file = f;
    h = head();
  }
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, h);
    let crc = crc32(h);
    sources.forEach((t, i) => {
      const b = t.bytes();
      if (b.length !== entries[i]!.bytes)
        throw new Error(`model file: tensor ${t.path} made ${b.length} bytes, expected ${entries[i]!.bytes}`);
      const pad = new Uint8Array((8 - (b.length % 8)) % 8);
      for (const part of [b, pad]) {
        writeSync(fd, part);
        crc = crc32(part, crc);
      }
    });
    const tail = new Uint8Array(4);
    new DataView(tail.buffer).setUint32(0, crc, true);
    writeSync(fd, tail);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  return { bytes: h.length + off + 4, bits };
}

/** The header's bits per weight against what the file stores (called once the tree has been checked
 *  against its type, so a header lying about sizes is reported as such first) (as writeModelFile computes them): a
 *  header that claims a smaller model than its tensors make is refused. */
export function checkBits(mf: ModelFile): void {
  const { file, config: c, value } = mf;
  const h = { tensors: mf.stored, bits: mf.bits };
  const fileBytes = mf.bytes;
  const tied = !!value.head && value.head === value.emb;
  const want = { params: paramCount(mf.arch, c, tied), linearWeights: 0, linear: 0, model: 0, file: 0 };
  const linear = linearLayers(mf.arch, c);
  want.linearWeights = linear.reduce((s, l) => s + l.weights, 0);
  const bitsOf = (e: Entry) => 8 * storedBytes(e.shape, e.stored);
  const linearBits = linear.reduce(
    (s, l) => s + h.tensors.filter((e) => e.path.startsWith(`${l.path}.`)).reduce((a, e) => a + bitsOf(e), 0),
    0,
  );
  want.linear = want.linearWeights ? linearBits / want.linearWeights : 0;
  want.model = h.tensors.reduce((a, e) => a + bitsOf(e), 0) / want.params;
  want.file = (fileBytes * 8) / want.params;
  for (const k of ['params', 'linearWeights', 'linear', 'model', 'file'] as const) {
    const got = h.bits[k];
    if (Math.abs(got - want[k]) > 1e-6 * Math.max(1, Math.abs(want[k])))
      throw new LoadError(file, `header field bits.${k}: ${got}, but the tensors make it ${want[k]}`);
  }
}

export function isModelFile(head: Uint8Array): boolean {
  return head.length >= 8 && new TextDecoder().decode(head.subarray(0, 8)) === MAGIC;
}

/** Reads a model file (bounds-checked: nothing is allocated for a tensor before its extent is checked). */
export function readModelFile(file: string, b: Uint8Array): ModelFile {
  const bad = (what: string): never => {
    throw new LoadError(file, what);
  };
  const { json, base, end } = readFramed(file, b, MAGIC, VERSION, 'an obt model file');
  const h = parseWith(file, 'header field', Header, json);
  if (h.archDef && h.archDef.name !== h.arch)
    bad(`header field archDef.name: ${h.archDef.name}, but the header's arch is ${h.arch}`);
  const arch = h.archDef ? archFromDefinition(h.archDef, resolve(file)) : archNamed(h.arch ?? 'llama');
  if (!arch) bad(`header field arch: ${h.arch}, expected one of ${[...ARCHES.keys()].join(', ')}`);
  validateConfig(file, h.config);
  const tk = h.tokenizer;
  if (tk.pieces.length !== h.config.vocab || tk.scores.length !== tk.pieces.length)
    bad(`tokenizer: ${tk.pieces.length} pieces and ${tk.scores.length} scores for a vocabulary of ${h.config.vocab}`);
  if (tk.bos >= h.config.vocab || tk.eos >= h.config.vocab) bad('tokenizer: bos/eos outside the vocabulary');
  if ((tk.bos < 0 || tk.eos < 0) && !tk.char) bad('tokenizer: only a character tokenizer has no bos/eos');
  h.tensors.forEach((e, i) => {
    const what = `tensor ${i} (${e.path})`;
    if (e.stored !== e.dtype && !(e.stored === 'f16' && e.dtype === 'f32'))
      bad(`${what}: a ${e.dtype} tensor cannot be stored as ${e.stored}`);
    if (e.dtype === 'sign' && e.shape.length === 0) bad(`${what}: a sign tensor needs an axis to pack along`);
    checkShape(file, what, e.shape);
    const want = storedBytes(e.shape, e.stored);
    if (e.bytes !== want) bad(`${what}: ${e.bytes} bytes for a ${e.stored}[${e.shape}] (expected ${want})`);
  });
  checkExtents(
    file,
    h.tensors.map((e, i) => ({ what: `tensor ${i} (${e.path})`, start: e.offset, bytes: e.bytes })),
    end - base,
    { base },
  );
  const tensors = h.tensors.map((e) => decode(b.subarray(base + e.offset, base + e.offset + e.bytes), e));
  const used = new Set<number>();
  const isRef = (v: unknown): v is { $t: number } =>
    !!v && typeof v === 'object' && !Array.isArray(v) && typeof (v as { $t?: unknown }).$t === 'number';
  // references are counted against the file's size: a tree may share a tensor (a tied head), but a
  // small file naming one large tensor thousands of times would make every run copy it that often
  const dataBytes = h.tensors.reduce((a, e) => a + e.bytes, 0);
  const refLimit = 2 * dataBytes + (1 << 16);
  let refBytes = 0;
  const value = mapTree(h.tree, isRef, (r, p) => {
    if (!Number.isInteger(r.$t) || r.$t < 0 || r.$t >= tensors.length) bad(`tree leaf ${p} refers to no tensor`);
    used.add(r.$t);
    refBytes += h.tensors[r.$t]!.bytes;
    if (refBytes > refLimit)
      bad(
        `the model tree refers to ${refBytes}+ bytes of tensors, more than twice the ${dataBytes} bytes the file stores (at ${p})`,
      );
    return tensors[r.$t]!;
  });
  if (!value || typeof value !== 'object' || Array.isArray(value)) bad('the model tree is not an object');
  if (used.size !== tensors.length) bad(`${tensors.length - used.size} tensor(s) are not in the model tree`);
  if (!h.method && h.layer !== 'Dense') bad(`layer type ${h.layer} without the method that defines it`);
  return {
    file,
    arch: arch!,
    config: h.config,
    tokenizer: { source: file, ...tk },
    value: value as Record<string, unknown>,
    layer: h.layer,
    method: h.method,
    bits: h.bits,
    bytes: b.length,
    stored: h.tensors,
  };
}
