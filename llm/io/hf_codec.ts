// The run-time half of a Hugging Face tokenizer: tokenizer.json run by @huggingface/tokenizers
// (Hugging Face's own dependency-free JavaScript implementation: normalizers, pre-tokenizers,
// byte-level and SentencePiece-style BPE with byte fallback, decoders), and the bytes each token
// adds to a stream (generate prints as it decodes): byte-level BPE maps bytes to printable
// characters (GPT-2's table), SentencePiece style writes a space as ▁ and unknown bytes as <0xXX>.
// Kept apart from the reading and checking of the files (llm/io/hf_tokenizer.ts, zod) so that the
// browser page, which runs tokenizers, does not bundle the checker.
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { LoadError } from './model.ts';
import type { TokenizerData } from './tokenizer.ts';

function parse(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LoadError(file, `not JSON: ${(e as Error).message}`);
  }
}

/** GPT-2's byte ↔ printable character table (byte-level BPE writes every byte as one of these). */
function byteLevelTable(): Map<string, number> {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++)
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  return new Map(bs.map((b, i) => [String.fromCodePoint(cs[i]!), b]));
}

/** Whether a tokenizer.json component (or a Sequence of them) has a part of this type. */
function hasType(c: unknown, type: string): boolean {
  if (c === null || typeof c !== 'object') return false;
  const o = c as { type?: unknown; decoders?: unknown; pretokenizers?: unknown };
  if (o.type === type) return true;
  return [o.decoders, o.pretokenizers].some((l) => Array.isArray(l) && l.some((x) => hasType(x, type)));
}

/** A tokenizer.json run: encode without special tokens, decode as the library does, and each
 *  token's bytes. */
export interface HfCodec {
  encode(text: string): number[];
  decode(ids: number[]): string;
  tokenBytes(id: number): Uint8Array;
  /** SentencePiece style: the first piece's leading space is the prepended ▁, not text */
  readonly stripsFirstSpace: boolean;
}

const codecs = new WeakMap<TokenizerData, HfCodec>();

/** The codec of a tokenizer read from tokenizer.json (made once per data). */
export function hfCodec(data: TokenizerData): HfCodec {
  let c = codecs.get(data);
  if (c) return c;
  const hf = data.hf!;
  const json = parse(data.source, hf.json) as { decoder?: unknown; pre_tokenizer?: unknown };
  let tk: HfTokenizer;
  try {
    tk = new HfTokenizer(json, hf.config === undefined ? {} : (parse(data.source, hf.config) as object));
  } catch (e) {
    throw new LoadError(data.source, `@huggingface/tokenizers cannot run it: ${(e as Error).message}`);
  }
  const byteLevel = hasType(json.decoder, 'ByteLevel') || hasType(json.pre_tokenizer, 'ByteLevel');
  const table = byteLevel ? byteLevelTable() : undefined;
  const enc = new TextEncoder();
  const bytes = data.pieces.map((p) => {
    if (table) return Uint8Array.from([...p].flatMap((ch) => (table.has(ch) ? [table.get(ch)!] : [...enc.encode(ch)])));
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p);
    return m ? Uint8Array.of(parseInt(m[1]!, 16)) : enc.encode(p.replaceAll('▁', ' '));
  });
  c = {
    encode: (text) => tk.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => tk.decode(ids, { skip_special_tokens: true }),
    tokenBytes: (id) => bytes[id] ?? new Uint8Array(),
    stripsFirstSpace: !byteLevel,
  };
  codecs.set(data, c);
  return c;
}
