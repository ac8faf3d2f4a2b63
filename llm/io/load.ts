// Opens a model file by its format (llama2.c .bin, GGUF, safetensors) and its tokenizer.
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { parseLlama2c } from './llama2c.ts';
import { loadGguf } from './gguf.ts';
import { loadSafetensors } from './safetensors.ts';
import { LoadError, llamaValue, type Checkpoint, type LayerKind, type LlamaConfig } from './model.ts';
import { isPacked, readPacked } from './packed.ts';
import { Tokenizer, parseTokenizerBin, type TokenizerData } from './tokenizer.ts';

export interface LoadedModel {
  config: LlamaConfig;
  /** host value of the model struct: Llama[Dense, ...] or, for a packed file, Llama[OneBit, ...] */
  value: Record<string, unknown>;
  layer: LayerKind;
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

/** Loads weights (format from the content) and a tokenizer (explicit, embedded in GGUF, or
 *  tok*.bin / tokenizer.bin next to the weights). */
export async function loadModel(weights: string, tokenizerFile?: string): Promise<LoadedModel> {
  const all = readBytes(weights);
  const head = all.subarray(0, 8);
  if (isPacked(head)) {
    const pk = readPacked(weights);
    const tk = tokenizerFile
      ? parseTokenizerBin(tokenizerFile, readBytes(tokenizerFile), pk.config.vocab)
      : pk.tokenizer;
    return {
      config: pk.config,
      value: pk.value,
      layer: 'onebit',
      tokenizer: new Tokenizer(tk),
      file: weights,
      bytes: pk.bytes,
    };
  }
  let ck: Checkpoint;
  let embedded: TokenizerData | undefined;
  if (String.fromCharCode(...head.subarray(0, 4)) === 'GGUF') {
    const g = await loadGguf(weights);
    ck = g.checkpoint;
    embedded = g.tokenizer;
  } else if (weights.endsWith('.safetensors')) {
    ck = loadSafetensors(weights, readBytes(weights));
  } else {
    ck = parseLlama2c(weights, readBytes(weights));
  }
  let tk: TokenizerData;
  if (tokenizerFile) tk = parseTokenizerBin(tokenizerFile, readBytes(tokenizerFile), ck.config.vocab);
  else if (embedded) tk = embedded;
  else {
    const dir = dirname(weights);
    const cand = [`tok${ck.config.vocab}.bin`, 'tokenizer.bin'].map((n) => join(dir, n)).find(existsSync);
    if (!cand)
      throw new LoadError(
        weights,
        `no tokenizer given and none found next to it (tok${ck.config.vocab}.bin or tokenizer.bin); pass --tokenizer FILE`,
      );
    tk = parseTokenizerBin(cand, readBytes(cand), ck.config.vocab);
  }
  if (tk.pieces.length !== ck.config.vocab)
    throw new LoadError(
      tk.source,
      `the tokenizer has ${tk.pieces.length} pieces but the model has a vocabulary of ${ck.config.vocab}; wrong tokenizer for this model?`,
    );
  return {
    config: ck.config,
    value: llamaValue(ck),
    layer: 'dense',
    checkpoint: ck,
    tokenizer: new Tokenizer(tk),
    file: weights,
    bytes: all.byteLength,
  };
}
