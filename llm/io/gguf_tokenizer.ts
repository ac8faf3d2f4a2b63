// The tokenizer a GGUF file carries in its metadata (`tokenizer.ggml.*`). `llama`: SentencePiece
// pieces with merge scores, run by llm/io/tokenizer.ts. `gpt2`: byte-level BPE — tokens, ranked
// merges, each token's type, and `tokenizer.ggml.pre`, the name of a pre-tokenizer llama.cpp
// compiles in (the file holds its name, not its regex). A gpt2 tokenizer is written back as the
// tokenizer.json it was converted from (the pre-tokenizer that name stands for, ByteLevel, the BPE
// model with the merges, control and user tokens as added tokens) and run by the library that runs a
// Hugging Face folder's (llm/io/hf_tokenizer.ts): one implementation of byte-level BPE, and a
// student distilled from a GGUF teacher keeps the tokenizer as a tokenizer.json.
import { LoadError } from './model.ts';
import { parseTokenizerJson } from './hf_tokenizer.ts';
import type { TokenizerData } from './tokenizer.ts';

/** The tokenizer keys of a GGUF file's metadata, as its schema checked them (llm/io/gguf.ts). */
export interface GgufTokenizerKeys {
  'tokenizer.ggml.model'?: string;
  'tokenizer.ggml.tokens': string[];
  'tokenizer.ggml.scores'?: number[];
  'tokenizer.ggml.merges'?: string[];
  'tokenizer.ggml.token_type'?: number[];
  'tokenizer.ggml.pre'?: string;
  'tokenizer.ggml.bos_token_id'?: number;
  'tokenizer.ggml.eos_token_id'?: number;
}

/** llama.cpp's token types (llama_token_type): control tokens are special added tokens, user-defined
 *  ones plain added tokens. */
const CONTROL = 3;
const USER_DEFINED = 4;

const byteLevel = (useRegex: boolean) => ({
  type: 'ByteLevel',
  add_prefix_space: false,
  trim_offsets: true,
  use_regex: useRegex,
});
const split = (regex: string) => ({
  type: 'Split',
  pattern: { Regex: regex },
  behavior: 'Isolated',
  invert: false,
});
/** Llama 3's and Qwen2's tokenizer.json patterns (llama.cpp's LLAMA3 and QWEN2 pre-tokenizers are
 *  these, rewritten without the `(?i:…)` group its regex engine lacks); they differ in \p{N}{1,3}. */
const WORDS = (digits: string) =>
  `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|${digits}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;

/** The pre-tokenizers obt reads, by tokenizer.ggml.pre (the names llama.cpp's converter writes), as
 *  the tokenizer.json of the model family it names writes them. */
const PRE: Record<string, { pre: unknown; ignoreMerges?: boolean }> = {
  // GPT-2's own: ByteLevel splitting with its built-in pattern
  'gpt-2': { pre: byteLevel(true) },
  // Llama 3: whole words that are tokens are taken as they are (ignore_merges), as llama.cpp does
  'llama-bpe': {
    pre: { type: 'Sequence', pretokenizers: [split(WORDS('\\p{N}{1,3}')), byteLevel(false)] },
    ignoreMerges: true,
  },
  qwen2: { pre: { type: 'Sequence', pretokenizers: [split(WORDS('\\p{N}')), byteLevel(false)] } },
  // SmolLM: every digit on its own, then GPT-2's pattern
  smollm: {
    pre: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] },
  },
};
PRE['llama3'] = PRE['llama-v3'] = PRE['llama-bpe']!;

/** The tokenizer of a GGUF file's metadata (its keys already checked for type and size). */
export function ggufTokenizer(file: string, md: GgufTokenizerKeys): TokenizerData {
  const tokens = md['tokenizer.ggml.tokens'];
  const kind = md['tokenizer.ggml.model'] ?? 'llama';
  const per = (key: keyof GgufTokenizerKeys, n: number | undefined) => {
    if (n !== undefined && n !== tokens.length)
      throw new LoadError(file, `metadata ${key}: ${n} entries for ${tokens.length} tokens (expected one per token)`);
  };
  per('tokenizer.ggml.token_type', md['tokenizer.ggml.token_type']?.length);
  const idOk = (key: 'tokenizer.ggml.bos_token_id' | 'tokenizer.ggml.eos_token_id') => {
    const id = md[key];
    if (id !== undefined && id >= tokens.length)
      throw new LoadError(file, `metadata ${key}: ${id}, but there are ${tokens.length} tokens`);
    return id;
  };
  const bos = idOk('tokenizer.ggml.bos_token_id');
  const eos = idOk('tokenizer.ggml.eos_token_id');
  if (kind === 'llama') {
    const scores = md['tokenizer.ggml.scores'];
    if (!scores) throw new LoadError(file, 'metadata tokenizer.ggml.scores: missing (a llama tokenizer needs them)');
    per('tokenizer.ggml.scores', scores.length);
    return {
      source: file,
      pieces: tokens.map((t) => t.replace(/\u2581/g, ' ')),
      scores,
      bos: bos ?? 1,
      eos: eos ?? 2,
    };
  }
  if (kind !== 'gpt2')
    throw new LoadError(file, `metadata tokenizer.ggml.model: '${kind.slice(0, 64)}', expected 'llama' or 'gpt2'`);
  if (eos === undefined) throw new LoadError(file, 'metadata tokenizer.ggml.eos_token_id: missing');
  const preName = md['tokenizer.ggml.pre'];
  const pre = preName === undefined ? undefined : PRE[preName];
  if (!pre)
    throw new LoadError(
      file,
      `metadata tokenizer.ggml.pre: ${preName === undefined ? 'missing' : `'${preName.slice(0, 64)}'`}, expected one of ${Object.keys(
        PRE,
      )
        .map((p) => `'${p}'`)
        .join(', ')}`,
    );
  const merges = (md['tokenizer.ggml.merges'] ?? []).map((m, i) => {
    const at = m.indexOf(' ', 1); // a merge is "left right"; neither half is empty
    if (at < 0 || at === m.length - 1)
      throw new LoadError(file, `metadata tokenizer.ggml.merges[${i}]: '${m.slice(0, 80)}' is not two tokens`);
    return [m.slice(0, at), m.slice(at + 1)];
  });
  const types = md['tokenizer.ggml.token_type'] ?? [];
  const vocab: Record<string, number> = {};
  const added: object[] = [];
  tokens.forEach((t, id) => {
    const type = types[id];
    if (type === CONTROL || type === USER_DEFINED)
      added.push({
        id,
        content: t,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: type !== CONTROL,
        special: type === CONTROL,
      });
    else vocab[t] = id;
  });
  const json = {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: pre.pre,
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: pre.ignoreMerges ?? false,
      vocab,
      merges,
    },
  };
  // BOS and EOS by id (a tokenizer without BOS, Qwen2's, starts sequences with its EOS)
  return parseTokenizerJson(`${file} (tokenizer.ggml)`, JSON.stringify(json), undefined, { bos, eos });
}

/** The pre-tokenizer a tokenizer.json's `pre_tokenizer` is, by the name llama.cpp gives it, or
 *  undefined when it is none of those obt reads (compared by what splits: each Split's regex, Digits,
 *  and whether ByteLevel splits by GPT-2's pattern). */
export function preNameOf(pre: unknown): string | undefined {
  const sig = signature(pre);
  return ['gpt-2', 'llama-bpe', 'qwen2', 'smollm'].find((n) => signature(PRE[n]!.pre) === sig);
}

function signature(c: unknown): string {
  if (c === null || typeof c !== 'object') return '';
  const o = c as {
    type?: string;
    pretokenizers?: unknown[];
    pattern?: { Regex?: string };
    use_regex?: boolean;
    individual_digits?: boolean;
  };
  switch (o.type) {
    case 'Sequence':
      return (o.pretokenizers ?? []).map(signature).join('|');
    case 'Split':
      return `split:${o.pattern?.Regex ?? '?'}`;
    case 'ByteLevel':
      return `bytelevel:${o.use_regex ?? true}`;
    case 'Digits':
      return `digits:${o.individual_digits ?? false}`;
    default:
      return `${o.type ?? '?'}`;
  }
}
