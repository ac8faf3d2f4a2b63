// tokenizer.json files the tests make, in the two layouts Hugging Face models ship: SentencePiece-
// style BPE (Llama 2, TinyLlama: ▁ for spaces, byte fallback), converted from a llama2.c
// tokenizer as transformers' LlamaConverter does, and byte-level BPE (Llama 3, SmolLM, Qwen2: GPT-2's
// byte table and pre-tokenizing regex) trained here on a text. Each with a plain reference
// encoder written from the format's definition, independent of the library obt runs.
import type { TokenizerData } from '../../llm/io/tokenizer.ts';

/** tokenizer.json and tokenizer_config.json of a llama2.c tokenizer (pieces and scores). */
export function sentencePieceJson(tk: TokenizerData): { json: string; config: string } {
  const special: Record<number, string> = { 0: '<unk>', [tk.bos]: '<s>', [tk.eos]: '</s>' };
  const pieces = tk.pieces.map((p, i) => special[i] ?? p.replaceAll(' ', '▁'));
  const vocab = Object.fromEntries(pieces.map((p, i) => [p, i]));
  // every split of a piece into two pieces, ranked by the piece's score (transformers'
  // SentencePieceExtractor: within a piece by the parts' ids, then a stable sort by score)
  const merges: { l: string; r: string; score: number }[] = [];
  pieces.forEach((p, i) => {
    if (special[i] !== undefined || /^<0x[0-9A-F]{2}>$/.test(p)) return;
    const cps = [...p];
    const local: { l: string; r: string; score: number }[] = [];
    for (let k = 1; k < cps.length; k++) {
      const l = cps.slice(0, k).join('');
      const r = cps.slice(k).join('');
      if (l in vocab && r in vocab) local.push({ l, r, score: tk.scores[i]! });
    }
    local.sort((a, b) => vocab[a.l]! - vocab[b.l]! || vocab[a.r]! - vocab[b.r]!);
    merges.push(...local);
  });
  merges.sort((a, b) => b.score - a.score);
  const json = {
    version: '1.0',
    added_tokens: [0, tk.bos, tk.eos].map((id) => ({
      id,
      content: special[id],
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: merges.map((m) => [m.l, m.r]),
    },
  };
  const config = { bos_token: '<s>', eos_token: '</s>', add_bos_token: true, add_eos_token: false };
  return { json: JSON.stringify(json), config: JSON.stringify(config) };
}

/** GPT-2's bytes → printable characters. */
export function byteChars(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const out: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(bs.includes(b) ? b : 256 + n++);
  return out;
}

/** GPT-2's pre-tokenizing pattern (the ByteLevel pre-tokenizer's, with use_regex). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
/** Llama 3's and Qwen2's patterns as llama.cpp writes them (src/llama-vocab.cpp, LLAMA3 and QWEN2). */
const WORDS = (digits: string) =>
  new RegExp(
    `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|${digits}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
    'gu',
  );
const LLAMA3_SPLIT = WORDS('\\p{N}{1,3}');
const QWEN2_SPLIT = WORDS('\\p{N}');

/** How each pre-tokenizer (by GGUF's tokenizer.ggml.pre name) cuts a text into words. */
export const SPLITS: Record<string, (text: string) => string[]> = {
  'gpt-2': (t) => t.match(GPT2_SPLIT) ?? [],
  'llama-bpe': (t) => t.match(LLAMA3_SPLIT) ?? [],
  qwen2: (t) => t.match(QWEN2_SPLIT) ?? [],
  // every digit alone, then GPT-2's pattern on what is between
  smollm: (t) =>
    t
      .split(/(\p{N})/u)
      .filter((p) => p !== '')
      .flatMap((p) => (/^\p{N}$/u.test(p) ? [p] : (p.match(GPT2_SPLIT) ?? []))),
};

function byteWords(text: string, split = SPLITS['gpt-2']!): string[][] {
  const chars = byteChars();
  const enc = new TextEncoder();
  return split(text).map((w) => [...enc.encode(w)].map((b) => chars[b]!));
}

/** Applies ranked merges to one word's symbols (lowest rank first, leftmost among equals). */
function applyMerges(syms: string[], rank: Map<string, number>): string[] {
  const s = syms.slice();
  for (;;) {
    let best = -1;
    let at = -1;
    for (let i = 0; i + 1 < s.length; i++) {
      const r = rank.get(`${s[i]} ${s[i + 1]}`);
      if (r !== undefined && (best < 0 || r < best)) [best, at] = [r, i];
    }
    if (at < 0) return s;
    s.splice(at, 2, s[at]! + s[at + 1]!);
  }
}

/** A byte-level BPE tokenizer.json with `n` merges learned on `text` (most frequent pair first),
 *  an end-of-text token last, and its reference encoder. */
export function byteLevelBpe(
  text: string,
  n: number,
  split = SPLITS['gpt-2']!,
): {
  json: string;
  config: string;
  encode: (t: string) => number[];
  encodeWith: (split: (t: string) => string[], ignoreMerges?: boolean) => (t: string) => number[];
  vocab: Map<string, number>;
  merges: [string, string][];
} {
  const vocab = new Map(byteChars().map((c, i) => [c, i]));
  const merges: [string, string][] = [];
  let words = byteWords(text, split);
  for (let k = 0; k < n; k++) {
    const counts = new Map<string, number>();
    for (const w of words)
      for (let i = 0; i + 1 < w.length; i++)
        counts.set(`${w[i]} ${w[i + 1]}`, (counts.get(`${w[i]} ${w[i + 1]}`) ?? 0) + 1);
    let top = '';
    let c = 0;
    for (const [p, m] of counts) if (m > c) [top, c] = [p, m];
    if (c < 2) break;
    const [l, r] = top.split(' ') as [string, string];
    merges.push([l, r]);
    if (!vocab.has(l + r)) vocab.set(l + r, vocab.size);
    const rank = new Map([[top, 0]]);
    words = words.map((w) => applyMerges(w, rank));
  }
  const eot = vocab.size;
  const json = {
    version: '1.0',
    added_tokens: [
      {
        id: eot,
        content: '<|endoftext|>',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
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
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges,
    },
  };
  const rank = new Map(merges.map(([l, r], i) => [`${l} ${r}`, i]));
  // an added token is matched in the text before anything else (as the library does); with
  // ignoreMerges (Llama 3) a word that is a token is that token
  const encodeWith =
    (split: (t: string) => string[], ignoreMerges = false) =>
    (t: string) =>
      t
        .split('<|endoftext|>')
        .flatMap((part, i) => [
          ...(i ? [eot] : []),
          ...byteWords(part, split).flatMap((w) =>
            ignoreMerges && vocab.has(w.join(''))
              ? [vocab.get(w.join(''))!]
              : applyMerges(w, rank).map((s) => vocab.get(s)!),
          ),
        ]);
  const encode = encodeWith(split);
  const config = { bos_token: null, eos_token: '<|endoftext|>' };
  return { json: JSON.stringify(json), config: JSON.stringify(config), encode, encodeWith, vocab, merges };
}
