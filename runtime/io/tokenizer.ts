// SentencePiece-style BPE as llama2.c run.c does it: optional BOS, a dummy-prefix space, one token
// per code point (byte fallback <0xXX> = id byte+3), then repeatedly merge the adjacent pair
// whose concatenation is a piece with the highest score (leftmost on ties). Decoding drops the
// leading space after BOS and turns byte pieces into raw bytes.
import { LoadError } from './model.ts';

export interface TokenizerData {
  source: string;
  pieces: string[];
  scores: number[];
  bos: number;
  eos: number;
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

export class Tokenizer {
  private readonly ids = new Map<string, number>();
  private readonly byteId: number[] = [];
  private readonly pieceBytes: Uint8Array[];

  constructor(readonly data: TokenizerData) {
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

  encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
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
    const start = opts.bos ?? true ? 1 : 0;
    for (;;) {
      let best = -Infinity;
      let at = -1;
      let bestId = -1;
      for (let i = start; i + 1 < tokens.length; i++) {
        const id = this.ids.get(this.data.pieces[tokens[i]!]! + this.data.pieces[tokens[i + 1]!]!);
        if (id !== undefined && this.data.scores[id]! > best) {
          best = this.data.scores[id]!;
          at = i;
          bestId = id;
        }
      }
      if (at < 0) break;
      tokens.splice(at, 2, bestId);
    }
    if (opts.eos) tokens.push(this.data.eos);
    return tokens;
  }

  /** The bytes one token contributes after `prev` (run.c decode). */
  pieceAfter(prev: number, token: number): Uint8Array {
    let b = this.pieceBytes[token] ?? new Uint8Array();
    if (prev === this.data.bos && b[0] === 0x20) b = b.subarray(1);
    return b;
  }

  /** Decodes a token sequence (that may start with BOS) to text. */
  decode(ids: number[]): string {
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
    if (off + 8 > bytes.byteLength) throw new LoadError(file, `truncated tokenizer entry ${pieces.length} at byte ${off}`);
    const score = dv.getFloat32(off, true);
    const len = dv.getInt32(off + 4, true);
    if (len < 0 || len > maxLen * 4 + 16 || off + 8 + len > bytes.byteLength || !Number.isFinite(score))
      throw new LoadError(file, `corrupted tokenizer entry ${pieces.length} at byte ${off} (length ${len})`);
    pieces.push(dec.decode(bytes.subarray(off + 8, off + 8 + len)));
    scores.push(score);
    off += 8 + len;
  }
  if (expectedVocab !== undefined && pieces.length !== expectedVocab)
    throw new LoadError(file, `the tokenizer has ${pieces.length} pieces but the model has a vocabulary of ${expectedVocab}; wrong tokenizer for this model?`);
  // llama2.c's exporter stores BOS/EOS as "\n<s>\n" / "\n</s>\n"
  return { source: file, pieces, scores, bos: 1, eos: 2 };
}
