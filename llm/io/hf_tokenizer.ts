// Hugging Face tokenizers: `tokenizer.json` (with `tokenizer_config.json` for BOS/EOS) read and
// checked into TokenizerData — the JSON kept whole as the tokenizer's definition, its pieces listed
// by id for the size checks and the browser page. They run with @huggingface/tokenizers
// (llm/io/hf_codec.ts), Hugging Face's own dependency-free JavaScript implementation of
// tokenizer.json. Alternatives weighed: @huggingface/transformers and @xenova/transformers carry
// the same code inside a model runtime of several MB; @lenml/tokenizers is a fork of it; the Rust
// `tokenizers` binding is native (no browser).
import { z } from 'zod';
import { LoadError } from './model.ts';
import { hfCodec } from './hf_codec.ts';
import type { TokenizerData } from './tokenizer.ts';

/** Larger than any tokenizer.json published (Llama 3's is 9 MB, Gemma's 34 MB). */
const MAX_JSON_BYTES = 64 << 20;

const Added = z.object({
  id: z
    .number()
    .int()
    .nonnegative()
    .max(1 << 24),
  content: z.string().max(1024),
});
const TokenizerJson = z.object({
  model: z.object({
    type: z.string().max(64).optional(),
    vocab: z.union([
      z.record(
        z.string(),
        z
          .number()
          .int()
          .nonnegative()
          .max(1 << 24),
      ),
      z.array(z.unknown()),
    ]),
  }),
  added_tokens: z
    .array(Added)
    .max(1 << 20)
    .optional(),
  decoder: z.unknown().optional(),
  pre_tokenizer: z.unknown().optional(),
});
const TokenSpec = z.union([z.string(), z.object({ content: z.string() }), z.null()]);
const TokenizerConfig = z.object({ bos_token: TokenSpec.optional(), eos_token: TokenSpec.optional() }).passthrough();

function parseJson(file: string, text: string): unknown {
  if (text.length > MAX_JSON_BYTES) throw new LoadError(file, `${text.length} bytes; at most ${MAX_JSON_BYTES}`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LoadError(file, `not JSON: ${(e as Error).message}`);
  }
}

function schema<T>(file: string, s: z.ZodType<T>, v: unknown): T {
  const r = s.safeParse(v);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  throw new LoadError(file, `${i.path.join('.') || 'top level'}: ${i.message}`);
}

/** The ids BOS and EOS name, from tokenizer_config.json's tokens or config.json's ids. */
export interface SpecialIds {
  bos?: number | null;
  eos?: number | null;
}

/**
 * Reads tokenizer.json (and tokenizer_config.json's text, when there is one). `ids` are the model
 * config's `bos_token_id`/`eos_token_id`, used where tokenizer_config.json names no token. A
 * tokenizer without BOS (Qwen2) starts sequences with its EOS, the document separator it was
 * trained with.
 */
export function parseTokenizerJson(
  file: string,
  text: string,
  configText?: string,
  ids: SpecialIds = {},
): TokenizerData {
  const tj = schema(file, TokenizerJson, parseJson(file, text));
  if (tj.model.type !== undefined && tj.model.type !== 'BPE')
    throw new LoadError(file, `model.type ${tj.model.type}: expected BPE (byte-level or SentencePiece-style)`);
  if (Array.isArray(tj.model.vocab)) throw new LoadError(file, 'model.vocab: expected an object of token → id (BPE)');
  const pieces: string[] = [];
  const put = (id: number, s: string) => {
    if (id >= pieces.length) for (let i = pieces.length; i <= id; i++) pieces.push('');
    pieces[id] = s;
  };
  for (const [s, id] of Object.entries(tj.model.vocab)) put(id, s);
  for (const a of tj.added_tokens ?? []) put(a.id, a.content);
  const cfgFile = file.replace(/tokenizer\.json$/, 'tokenizer_config.json');
  const cfg = configText === undefined ? {} : schema(cfgFile, TokenizerConfig, parseJson(cfgFile, configText));
  const idOf = (what: string, spec: z.infer<typeof TokenSpec> | undefined, fallback: number | null | undefined) => {
    const content = typeof spec === 'string' ? spec : spec?.content;
    if (content === undefined) return fallback ?? undefined;
    const id = pieces.indexOf(content);
    if (id < 0) throw new LoadError(cfgFile, `${what} ${JSON.stringify(content)} is not a token of ${file}`);
    return id;
  };
  const eos = idOf('eos_token', cfg.eos_token, ids.eos);
  if (eos === undefined) throw new LoadError(file, 'no EOS token (tokenizer_config.json eos_token or eos_token_id)');
  const bos = idOf('bos_token', cfg.bos_token, ids.bos) ?? eos;
  const data: TokenizerData = {
    source: file,
    pieces,
    scores: pieces.map(() => 0),
    bos,
    eos,
    hf: { json: text, ...(configText !== undefined ? { config: configText } : {}) },
  };
  hfCodec(data); // constructs it once: a tokenizer.json the library cannot run fails here
  return data;
}
