// Tokenizers. SentencePiece-style BPE as llama2.c run.c does it (llama2.c's tokenizer.bin, GGUF's
// scores): optional BOS, a dummy-prefix space, one token per code point (byte fallback <0xXX> =
// id byte+3), then repeatedly merge the adjacent pair whose concatenation is a piece with the
// highest score (leftmost on ties); decoding drops the leading space after BOS and turns byte
// pieces into raw bytes. A Hugging Face tokenizer.json is run by its own library instead
// (llm/io/hf_codec.ts). A character-level tokenizer (nanoGPT's shakespeare_char: one id per
// character of its vocabulary, no special tokens) is the third kind (charTokenizer).
import { UserError } from '../../runtime/core/errors.ts';
import { LoadError } from './model.ts';
import { hfCodec, type HfCodec } from './hf_codec.ts';

export interface TokenizerData {
  source: string;
  /** each id's token string ('' for an id the tokenizer never produces) */
  pieces: string[];
  /** SentencePiece merge scores (zeros for a tokenizer.json) */
  scores: number[];
  /** BOS and EOS ids; -1 for a character tokenizer, which has none */
  bos: number;
  eos: number;
  /** a character-level tokenizer: each piece is one character (code point), ids in piece order */
  char?: true;
  /** a Hugging Face tokenizer: its tokenizer.json text (the definition) and tokenizer_config.json */
  hf?: { json: string; config?: string };
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

export class Tokenizer {
  private readonly ids = new Map<string, number>();
  private readonly byteId: number[] = [];
  private readonly pieceBytes: Uint8Array[];
  private readonly pairs = new Map<number, number>();
  private readonly hf?: HfCodec;

  constructor(readonly data: TokenizerData) {
    if (data.hf) {
      // the codec holds its own piece bytes; the merge tables below are SentencePiece's only
      this.hf = hfCodec(data);
      this.pieceBytes = [];
      return;
    }
    data.pieces.forEach((p, i) => {
      if (!this.ids.has(p)) this.ids.set(p, i);
      const m = BYTE_PIECE.exec(p);
      if (m) this.byteId[parseInt(m[1]!, 16)] = i;
    });
    const enc = new TextEncoder();
    this.pieceBytes = data.pieces.map((p) => {
      const m = BYTE_PIECE.exec(p);
      return m ? Uint8Array.of(parseInt(m[1]!, 16)) : enc.encode(p);
    });
  }

  get vocabSize(): number {
    return this.data.pieces.length;
  }

  /** Whether the tokenizer has a BOS token (a character tokenizer has none). */
  get hasBos(): boolean {
    return this.data.bos >= 0;
  }

  encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    if (this.data.char) return this.encodeChars(text);
    if (this.hf) {
      const ids = this.hf.encode(text);
      return [...((opts.bos ?? true) ? [this.data.bos] : []), ...ids, ...(opts.eos ? [this.data.eos] : [])];
    }
    const tokens: number[] = [];
    if (opts.bos ?? true) tokens.push(this.data.bos);
    if (text.length) {
      const space = this.ids.get(' ');
      if (space !== undefined) tokens.push(space);
    }
    const enc = new TextEncoder();
    for (const cp of text) {
      const id = this.ids.get(cp);
      if (id !== undefined) tokens.push(id);
      else for (const b of enc.encode(cp)) tokens.push(this.byteId[b] ?? b + 3);
    }
    // greedy merges: the best-scoring adjacent pair, leftmost on ties
    const start = (opts.bos ?? true) ? 1 : 0;
    const merged = this.mergeAll(tokens.slice(start));
    tokens.length = start;
    for (const t of merged) tokens.push(t);
    if (opts.eos) tokens.push(this.data.eos);
    return tokens;
  }

  /** A character tokenizer: one id per code point; a character outside the vocabulary is an error
   *  naming it and where it is (there is no byte fallback to map it to). */
  private encodeChars(text: string): number[] {
    const out: number[] = [];
    let at = 0;
    for (const cp of text) {
      const id = this.ids.get(cp);
      if (id === undefined) {
        const code = cp.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
        const line = text.slice(0, at).split('\n').length;
        throw new UserError(
          `character ${JSON.stringify(cp)} (U+${code}) at line ${line} of the text is not in the model's ${this.data.pieces.length}-character vocabulary`,
        );
      }
      out.push(id);
      at += cp.length;
    }
    return out;
  }

  /** The piece id that merges the pair (a, b), or -1 (memoised). */
  private pairId(a: number, b: number): number {
    const key = a * this.data.pieces.length + b;
    let id = this.pairs.get(key);
    if (id === undefined) this.pairs.set(key, (id = this.ids.get(this.data.pieces[a]! + this.data.pieces[b]!) ?? -1));
    return id;
  }

  /**
   * run.c's merge loop (repeatedly merge the best-scoring adjacent pair, leftmost on ties) in
   * O(n log n): a doubly linked list of tokens and a heap of candidate pairs ordered by (score
   * descending, left position ascending); a popped pair whose tokens changed since it was pushed is
   * stale and skipped. Positions keep their left-to-right order, so ties resolve as in run.c.
   */
  private mergeAll(toks: number[]): number[] {
    const n = toks.length;
    const tok = Int32Array.from(toks);
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const alive = new Uint8Array(n).fill(1);
    // heap entries: [score, left, leftTok, rightTok, merged id]
    const heap: [number, number, number, number, number][] = [];
    const before = (x: (typeof heap)[number], y: (typeof heap)[number]) =>
      x[0] > y[0] || (x[0] === y[0] && x[1] < y[1]);
    const push = (e: (typeof heap)[number]) => {
      let i = heap.push(e) - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!before(heap[i]!, heap[p]!)) break;
        [heap[i], heap[p]] = [heap[p]!, heap[i]!];
        i = p;
      }
    };
    const pop = () => {
      const top = heap[0]!;
      const last = heap.pop()!;
      if (heap.length) {
        heap[0] = last;
        for (let i = 0; ;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
          if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m]!, heap[i]!];
          i = m;
        }
      }
      return top;
    };
    const consider = (i: number) => {
      const j = i >= 0 ? next[i]! : -1;
      if (j < 0) return;
      const id = this.pairId(tok[i]!, tok[j]!);
      if (id >= 0) push([this.data.scores[id]!, i, tok[i]!, tok[j]!, id]);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heap.length) {
      const [, i, a, b, id] = pop();
      const j = next[i]!;
      if (!alive[i] || j < 0 || tok[i] !== a || tok[j] !== b) continue; // stale
      tok[i] = id;
      alive[j] = 0;
      next[i] = next[j]!;
      if (next[j]! >= 0) prev[next[j]!] = i;
      consider(prev[i]!);
      consider(i);
    }
    const out: number[] = [];
    for (let i = n ? 0 : -1; i >= 0; i = next[i]!) out.push(tok[i]!);
    return out;
  }

  /** The bytes one token contributes after `prev` (run.c decode). */
  pieceAfter(prev: number, token: number): Uint8Array {
    let b = (this.hf ? this.hf.tokenBytes(token) : this.pieceBytes[token]) ?? new Uint8Array();
    if (this.hasBos && prev === this.data.bos && b[0] === 0x20 && (!this.hf || this.hf.stripsFirstSpace))
      b = b.subarray(1);
    return b;
  }

  /** Decodes a token sequence (that may start with BOS) to text. */
  decode(ids: number[]): string {
    if (this.hf) return this.hf.decode(ids);
    const chunks: Uint8Array[] = [];
    let prev = -1;
    for (const id of ids) {
      if (id !== this.data.bos && id !== this.data.eos) chunks.push(this.pieceAfter(prev, id));
      prev = id;
    }
    return new TextDecoder().decode(concat(chunks));
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** The character tokenizer of a text (nanoGPT's shakespeare_char prepare.py): its distinct
 *  characters (code points) in code-point order, each one id. */
export function charTokenizer(text: string, source: string): TokenizerData {
  const pieces = [...new Set(text)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  if (pieces.length < 2) throw new UserError(`${source}: a character vocabulary needs at least 2 distinct characters`);
  return charData(source, pieces);
}

/** A character tokenizer's data: its pieces, no scores, no BOS or EOS. */
const charData = (source: string, pieces: string[]): TokenizerData => ({
  source,
  pieces,
  scores: pieces.map(() => 0),
  bos: -1,
  eos: -1,
  char: true,
});

/** A character vocabulary file (chars.json: a JSON array of one-character strings, id order, as
 *  nanoGPT's meta.pkl `itos` lists them). */
export function parseCharsJson(file: string, text: string): TokenizerData {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new LoadError(file, `not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(v) || v.length < 2 || v.length > 1 << 20)
    throw new LoadError(file, "expected a JSON array of the vocabulary's characters, in id order");
  const seen = new Set<string>();
  v.forEach((c, i) => {
    if (typeof c !== 'string' || [...c].length !== 1)
      throw new LoadError(file, `entry ${i}: ${JSON.stringify(c).slice(0, 40)}, expected one character`);
    if (seen.has(c)) throw new LoadError(file, `entry ${i}: ${JSON.stringify(c)} appears twice`);
    seen.add(c);
  });
  return charData(file, v as string[]);
}

/** Reads llama2.c's tokenizer.bin: int32 max_token_length, then per piece: f32 score, int32 length, bytes. */
export function parseTokenizerBin(file: string, bytes: Uint8Array, expectedVocab?: number): TokenizerData {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) throw new LoadError(file, 'not a llama2.c tokenizer: too short');
  const maxLen = dv.getInt32(0, true);
  if (maxLen <= 0 || maxLen > 1024) throw new LoadError(file, `not a llama2.c tokenizer: max_token_length ${maxLen}`);
  const pieces: string[] = [];
  const scores: number[] = [];
  const dec = new TextDecoder('utf-8', { fatal: false });
  let off = 4;
  while (off < bytes.byteLength) {
    if (off + 8 > bytes.byteLength)
      throw new LoadError(file, `truncated tokenizer entry ${pieces.length} at byte ${off}`);
    const score = dv.getFloat32(off, true);
    const len = dv.getInt32(off + 4, true);
    if (len < 0 || len > maxLen * 4 + 16 || off + 8 + len > bytes.byteLength || !Number.isFinite(score))
      throw new LoadError(file, `corrupted tokenizer entry ${pieces.length} at byte ${off} (length ${len})`);
    pieces.push(dec.decode(bytes.subarray(off + 8, off + 8 + len)));
    scores.push(score);
    off += 8 + len;
  }
  if (expectedVocab !== undefined && pieces.length !== expectedVocab)
    throw new LoadError(
      file,
      `the tokenizer has ${pieces.length} pieces but the model has a vocabulary of ${expectedVocab}; wrong tokenizer for this model?`,
    );
  // llama2.c's exporter stores BOS/EOS as "\n<s>\n" / "\n</s>\n"
  return { source: file, pieces, scores, bos: 1, eos: 2 };
}
