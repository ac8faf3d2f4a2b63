// Opens a model file by its format (obt model file, legacy .obt1, llama2.c .bin, GGUF, safetensors)
// and its tokenizer.
import { readFileSync, existsSync, statSync } from 'node:fs';
import { basename, join, dirname } from 'node:path';
import { parseLlama2c } from './io/llama2c.ts';
import { loadGguf } from './io/gguf.ts';
import { loadSafetensors, loadSafetensorsIndex } from './io/safetensors.ts';
import { hfSpecialIds } from './io/hf_config.ts';
import { parseTokenizerJson } from './io/hf_tokenizer.ts';
import { LoadError, type Checkpoint, type LlamaConfig } from './io/model.ts';
import { modelValue } from './io/arch.ts';
import { LLAMA, type Arch } from './io/names.ts';
import { isPacked, readPacked } from './io/packed.ts';
import { checkBits, isModelFile, readModelFile, type Bits } from './io/modelfile.ts';
import { methodFromModelFile, resolveMethod, type Method } from './method.ts';
import { checkModelTypes } from './runner.ts';
import { Tokenizer, parseCharsJson, parseTokenizerBin, type TokenizerData } from './io/tokenizer.ts';

/** A character vocabulary beside the weights (a nanoGPT shakespeare_char model's `itos`). */
const CHARS_FILE = 'chars.json';
import { firstNonFinite } from '../runtime/core/tree.ts';
import { bytesSource, fileSource, readAt, type ByteSource } from './io/source.ts';
import { formatBytes } from '../runtime/core/errors.ts';

export interface LoadedModel {
  /** its architecture (llm/io/names/) */
  arch: Arch;
  config: LlamaConfig;
  /** host value of the model struct: Llama[Dense, ...], or Llama[the method's inference form, ...] */
  value: Record<string, unknown>;
  /** the layer type by name: `Dense`, or `method.<inference form>` */
  layer: string;
  /** the quantisation method whose module defines the layer type (quantised models) */
  method?: Method;
  /** bits per weight as the model file records them */
  bits?: Bits;
  tokenizer: Tokenizer;
  /** the fp checkpoint (dense models only) */
  checkpoint?: Checkpoint;
  file: string;
  bytes: number;
}

function readBytes(file: string): Uint8Array {
  if (!existsSync(file)) throw new LoadError(file, 'no such file');
  try {
    return readFileSync(file);
  } catch {
    throw new LoadError(file, 'cannot read the file');
  }
}

/** Loads weights (format from the content; a Hugging Face folder is its model.safetensors) and a
 *  tokenizer (explicit, embedded in GGUF, or tokenizer.json / tok*.bin / tokenizer.bin next to the
 *  weights), then checks what every format must satisfy. */
export async function loadModel(weights: string, tokenizerFile?: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const file = weightsFile(weights);
  return checked(await open(file, fileSource(file), tokenizerFile, opts));
}

/** loadModel on bytes already in memory (`weights` names them; a tokenizer or config.json is still
 *  looked for beside it). */
export async function loadModelBytes(weights: string, bytes: Uint8Array, tokenizerFile?: string): Promise<LoadedModel> {
  return checked(await open(weights, bytesSource(weights, bytes), tokenizerFile));
}

/** A whole file in memory, for the formats read that way (model files and the .obt1 format: their
 *  tensors are converted as they load). */
function whole(src: ByteSource): Uint8Array {
  if (src.size > 2 ** 31 - 1)
    throw new LoadError(
      src.name,
      `${formatBytes(src.size)}: a file in this format is read whole, which Node allows up to 2 GiB (safetensors, GGUF and llama2.c files are read a tensor at a time)`,
    );
  return readAt(src, 0, src.size);
}

/** What any loaded model must satisfy, whichever format it came from: every float weight finite
 *  (the first non-finite one named by its path and index), the tokenizer's size the vocabulary's,
 *  its scores finite, its BOS and EOS ids inside the vocabulary. */
function checked(m: LoadedModel): LoadedModel {
  if (!m.bits) checkModelTypes(m); // a model file's tree was checked as it opened (before its bits)
  // a checkpoint's tensors were scanned as they loaded (validateTensors); model files' here
  const nf = m.checkpoint ? undefined : firstNonFinite(m.value);
  if (nf) throw new LoadError(m.file, `tensor ${nf.path}: ${nf.value} at index ${nf.index} (weights must be finite)`);
  const tk = m.tokenizer.data;
  const V = m.config.vocab;
  if (tk.pieces.length !== V)
    throw new LoadError(
      tk.source,
      `the tokenizer has ${tk.pieces.length} pieces but the model has a vocabulary of ${V}`,
    );
  for (const [what, id] of [
    ['BOS', tk.bos],
    ['EOS', tk.eos],
  ] as const)
    if (!Number.isInteger(id) || id < (tk.char ? -1 : 0) || id >= V)
      throw new LoadError(tk.source, `${what} id ${id}: expected an integer in 0..${V - 1}`);
  const bad = tk.scores.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new LoadError(tk.source, `score of piece ${bad}: ${tk.scores[bad]} (scores must be finite)`);
  return m;
}

/** A tokenizer file: Hugging Face's tokenizer.json (with tokenizer_config.json beside it, and the
 *  BOS/EOS ids of the weights' config.json) or llama2.c's tokenizer.bin. */
function readTokenizer(file: string, vocab: number, weights: string): TokenizerData {
  if (!file.endsWith('.json')) return parseTokenizerBin(file, readBytes(file), vocab);
  if (basename(file) === CHARS_FILE) return parseCharsJson(file, new TextDecoder().decode(readBytes(file)));
  const text = new TextDecoder().decode(readBytes(file));
  const cfg = join(dirname(file), 'tokenizer_config.json');
  const cfgText = existsSync(cfg) ? new TextDecoder().decode(readBytes(cfg)) : undefined;
  const ids = /\.safetensors(\.index\.json)?$/.test(weights) ? hfSpecialIds(weights) : {};
  return fitVocab(parseTokenizerJson(file, text, cfgText, ids), vocab);
}

/** A tokenizer file on its own (obtc train --tokenizer FILE): llama2.c's tokenizer.bin, a
 *  Hugging Face tokenizer.json (with tokenizer_config.json beside it) or a chars.json. */
export function loadTokenizer(file: string): TokenizerData {
  if (!file.endsWith('.json')) return parseTokenizerBin(file, readBytes(file));
  const text = new TextDecoder().decode(readBytes(file));
  if (basename(file) === CHARS_FILE) return parseCharsJson(file, text);
  const cfg = join(dirname(file), 'tokenizer_config.json');
  return parseTokenizerJson(file, text, existsSync(cfg) ? new TextDecoder().decode(readBytes(cfg)) : undefined, {});
}

/** A tokenizer.json may list fewer tokens than the model's vocabulary (Qwen2 pads its embedding to
 *  a multiple of 64): the ids it never produces are empty pieces. More is an error. */
function fitVocab(tk: TokenizerData, vocab: number): TokenizerData {
  if (!tk.hf || tk.pieces.length >= vocab) return tk;
  const pad = vocab - tk.pieces.length;
  return {
    ...tk,
    pieces: [...tk.pieces, ...Array<string>(pad).fill('')],
    scores: [...tk.scores, ...Array<number>(pad).fill(0)],
  };
}

/** The weights file of a Hugging Face folder (model.safetensors, or the index of its shards), or
 *  the file itself. */
function weightsFile(path: string): string {
  if (!existsSync(path) || !statSync(path).isDirectory()) return path;
  const found = ['model.safetensors', 'model.safetensors.index.json'].map((n) => join(path, n)).find(existsSync);
  if (found) return found;
  throw new LoadError(
    path,
    'a folder without model.safetensors or model.safetensors.index.json (a Hugging Face model folder has one beside config.json)',
  );
}

/** How a model is loaded. */
export interface LoadOptions {
  /** a GGUF whose linear layers are in a 1-bit or ternary type, as a dense (fp) model of their
   *  values — a teacher, or a starting point for another method */
  dense?: boolean;
}

async function open(
  weights: string,
  src: ByteSource,
  tokenizerFile?: string,
  opts: LoadOptions = {},
): Promise<LoadedModel> {
  const head = readAt(src, 0, Math.min(8, src.size));
  if (isModelFile(head)) {
    const mf = readModelFile(weights, whole(src));
    const tk = tokenizerFile ? readTokenizer(tokenizerFile, mf.config.vocab, weights) : mf.tokenizer;
    // the method's embedded source, compiled sealed under a name inside the model file
    const method = mf.method && methodFromModelFile(mf.method.name, weights, mf.method.source);
    const m: LoadedModel = {
      arch: mf.arch,
      config: mf.config,
      value: mf.value,
      layer: method ? `method.${mf.layer}` : mf.layer,
      method,
      bits: mf.bits,
      tokenizer: new Tokenizer(tk),
      file: weights,
      bytes: mf.bytes,
    };
    checkModelTypes(m);
    checkBits(mf);
    return m;
  }
  if (isPacked(head)) {
    // the OneBit-only format before model files: a Llama[OneBit] of the shipped onebit method
    const pk = readPacked(weights, whole(src));
    const tk = tokenizerFile ? readTokenizer(tokenizerFile, pk.config.vocab, weights) : pk.tokenizer;
    return {
      arch: LLAMA,
      config: pk.config,
      value: pk.value,
      layer: 'method.OneBit',
      method: resolveMethod('onebit'),
      tokenizer: new Tokenizer(tk),
      file: weights,
      bytes: pk.bytes,
    };
  }
  let ck: Checkpoint;
  let embedded: TokenizerData | undefined;
  let quantised: Awaited<ReturnType<typeof loadGguf>>['quantised'];
  if (String.fromCharCode(...head.subarray(0, 4)) === 'GGUF') {
    const g = await loadGguf(weights, src, opts.dense);
    ck = g.checkpoint;
    embedded = g.tokenizer;
    quantised = g.quantised;
  } else if (weights.endsWith('.safetensors')) {
    ck = loadSafetensors(weights, src);
  } else if (weights.endsWith('.safetensors.index.json')) {
    ck = loadSafetensorsIndex(weights, whole(src));
  } else {
    ck = parseLlama2c(weights, src);
  }
  let tk: TokenizerData;
  if (tokenizerFile) tk = readTokenizer(tokenizerFile, ck.config.vocab, weights);
  else if (embedded) tk = embedded;
  else {
    const dir = dirname(weights);
    const names = ['tokenizer.json', CHARS_FILE, `tok${ck.config.vocab}.bin`, 'tokenizer.bin'];
    const cand = names.map((n) => join(dir, n)).find(existsSync);
    if (!cand)
      throw new LoadError(
        weights,
        `no tokenizer given and none found next to it (${names.join(', ')}); pass --tokenizer FILE`,
      );
    tk = readTokenizer(cand, ck.config.vocab, weights);
  }
  if (tk.pieces.length !== ck.config.vocab)
    throw new LoadError(
      tk.source,
      `the tokenizer has ${tk.pieces.length} pieces but the model has a vocabulary of ${ck.config.vocab}; wrong tokenizer for this model?`,
    );
  if (quantised) {
    // llama.cpp's 1-bit or ternary layers: the shipped method whose inference form they are
    const method = resolveMethod(quantised.method);
    return {
      arch: ck.arch,
      config: ck.config,
      value: modelValue(ck, quantised.layers),
      layer: `method.${method.infer}`,
      method,
      tokenizer: new Tokenizer(tk),
      file: weights,
      bytes: src.size,
    };
  }
  return {
    arch: ck.arch,
    config: ck.config,
    value: modelValue(ck),
    layer: 'Dense',
    checkpoint: ck,
    tokenizer: new Tokenizer(tk),
    file: weights,
    bytes: src.size,
  };
}
