// Hugging Face tokenizer.json (llm/io/hf_tokenizer.ts, run by @huggingface/tokenizers): the shipped
// 512-piece SentencePiece tokenizer converted to tokenizer.json encodes every line of the
// evaluation text exactly as llama2.c's algorithm does (tested against the goldens elsewhere);
// a byte-level BPE learned here encodes like a reference encoder written from the format's
// definition; both decode back to the text and stream the same bytes token by token; a broken
// tokenizer.json is a load error naming the file; a Hugging Face folder runs by its name. GGUF's
// byte-level BPE metadata (tokens, merges, a pre-tokenizer's name) encodes like reference encoders
// with llama.cpp's patterns for each pre-tokenizer name obt reads.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer, parseTokenizerBin } from '../../llm/io/tokenizer.ts';
import { parseTokenizerJson } from '../../llm/io/hf_tokenizer.ts';
import { LoadError } from '../../llm/io/model.ts';
import { loadModel } from '../../llm/load.ts';
import { SPLITS, byteLevelBpe, sentencePieceJson } from '../helpers/hf_tokenizers.ts';
import { ggufTokenizer, type GgufTokenizerKeys } from '../../llm/io/gguf_tokenizer.ts';
import { writeSafetensors } from '../helpers/writers.ts';
import { obtcInProcess } from '../helpers/cli.ts';

const root = join(import.meta.dirname, '../..');
const evalText = readFileSync(join(root, 'data/tinystories_valid_eval.txt'), 'utf8');
const VARIED = [
  'Hello world',
  '  two leading spaces, and  two inside',
  'line one\nline two\n\nafter a blank line\n',
  'digits 0123456789 and 3.14159, 1,000,000',
  'Unicode: café, naïve, Zürich, 日本語, emoji 🙂👍🏽, ﬁ ligature',
  'tabs\tand\tpunctuation!?;:—«quotes»',
  "it's, we're, they'll, I'd",
  '',
  ' ',
];

/** The text of ids decoded byte by byte as generate streams it (pieceAfter + a streaming decoder). */
function streamed(tk: Tokenizer, ids: number[]): string {
  const td = new TextDecoder();
  let s = '';
  for (let i = 1; i < ids.length; i++) s += td.decode(tk.pieceAfter(ids[i - 1]!, ids[i]!), { stream: true });
  return s + td.decode();
}

describe('SentencePiece-style tokenizer.json (Llama 2, TinyLlama)', () => {
  const bin = parseTokenizerBin('tok512.bin', readFileSync(join(root, 'data/tok512.bin')));
  const sp = new Tokenizer(bin);
  const { json, config } = sentencePieceJson(bin);
  const hf = new Tokenizer(parseTokenizerJson('tokenizer.json', json, config));

  it('reads BOS, EOS and the pieces by id', () => {
    expect(hf.data.bos).toBe(1);
    expect(hf.data.eos).toBe(2);
    expect(hf.vocabSize).toBe(512);
    expect(hf.data.pieces[300]).toBe(bin.pieces[300]!.replaceAll(' ', '▁'));
  });

  it('encodes every line of the evaluation text and the varied texts as llama2.c does', () => {
    const lines = [...evalText.split('\n').slice(0, 400), ...VARIED];
    let tokens = 0;
    for (const line of lines) {
      const want = sp.encode(line, { bos: true });
      expect(hf.encode(line, { bos: true }), JSON.stringify(line)).toEqual(want);
      tokens += want.length;
    }
    expect(tokens).toBeGreaterThan(10_000);
  });

  it('decodes back to the text, at once and streamed token by token', () => {
    for (const t of VARIED.filter((x) => x.trim() === x && x)) {
      const ids = hf.encode(t, { bos: true });
      expect(hf.decode(ids)).toBe(t);
      expect(streamed(hf, ids)).toBe(t);
    }
  });
});

describe('byte-level BPE tokenizer.json (Llama 3, SmolLM, Qwen2)', () => {
  const bpe = byteLevelBpe(evalText.slice(0, 60_000), 300);
  const hf = new Tokenizer(parseTokenizerJson('tokenizer.json', bpe.json, bpe.config));

  it('has no BOS: sequences start with its end-of-text token', () => {
    expect(hf.data.eos).toBe(bpe.vocab.size);
    expect(hf.data.bos).toBe(hf.data.eos);
    expect(hf.encode('Hi', { bos: true })[0]).toBe(hf.data.eos);
  });

  it('encodes like the reference encoder (GPT-2 split, byte table, merges by rank) and merges', () => {
    for (const t of [...evalText.split('\n').slice(0, 200), ...VARIED]) {
      expect(hf.encode(t, { bos: false }), JSON.stringify(t)).toEqual(bpe.encode(t));
    }
    const text = evalText.slice(0, 5000);
    expect(hf.encode(text, { bos: false }).length).toBeLessThan(new TextEncoder().encode(text).length / 2);
  });

  it('decodes back to the text, at once and streamed (a character split across tokens included)', () => {
    for (const t of VARIED) {
      const ids = hf.encode(t, { bos: true });
      expect(hf.decode(ids), JSON.stringify(t)).toBe(t);
      expect(streamed(hf, ids), JSON.stringify(t)).toBe(t);
    }
  });
});

describe("GGUF's byte-level BPE (tokenizer.ggml.model gpt2: Llama 3, SmolLM, Qwen2 converted by llama.cpp)", () => {
  // merges learned with each pre-tokenizer's own split (as real tokenizers are) on a text with
  // digits, capitals and runs of newlines, where the pre-tokenizers differ
  const corpus =
    evalText.slice(0, 40_000) + "In 2024 the 12,345 cats and 678 dogs.\n\n\nTHEY'LL GO, WE'RE HERE.\r\n".repeat(40);
  /** The metadata llama.cpp's converter writes (tokens padded past the vocabulary, the end-of-text token a control token). */
  const md = (bpe: ReturnType<typeof byteLevelBpe>, pre?: string): GgufTokenizerKeys => {
    const eot = bpe.vocab.size;
    const tokens = Array.from({ length: eot + 20 }, (_, i) => `[PAD${i}]`);
    for (const [t, i] of bpe.vocab) tokens[i] = t;
    tokens[eot] = '<|endoftext|>';
    return {
      'tokenizer.ggml.model': 'gpt2',
      ...(pre !== undefined ? { 'tokenizer.ggml.pre': pre } : {}),
      'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.token_type': tokens.map((_, i) => (i < eot ? 1 : i === eot ? 3 : 5)),
      'tokenizer.ggml.merges': bpe.merges.map(([l, r]) => `${l} ${r}`),
      'tokenizer.ggml.eos_token_id': eot,
    };
  };
  const texts = [...evalText.split('\n').slice(0, 100), ...VARIED, "Then 2025: THEY'LL pay 12345 or 6,789\r\n\n\n  x"];

  for (const pre of Object.keys(SPLITS))
    it(`${pre}: encodes like a reference encoder with llama.cpp's ${pre} pre-tokenizer, and decodes back`, () => {
      const bpe = byteLevelBpe(corpus, 300, SPLITS[pre]);
      const tk = new Tokenizer(ggufTokenizer('m.gguf', md(bpe, pre)));
      const eot = bpe.vocab.size;
      expect([tk.vocabSize, tk.data.eos, tk.data.bos]).toEqual([eot + 20, eot, eot]);
      const ref = bpe.encodeWith(SPLITS[pre]!, pre === 'llama-bpe');
      for (const t of texts) expect(tk.encode(t, { bos: false }), JSON.stringify(t)).toEqual(ref(t));
      // the name is honoured: GPT-2's split gives other tokens with these merges
      if (pre !== 'gpt-2')
        expect(tk.encode(texts.at(-1)!)).not.toEqual(bpe.encodeWith(SPLITS['gpt-2']!)(texts.at(-1)!));
      for (const t of VARIED) {
        const ids = tk.encode(t, { bos: true });
        expect(tk.decode(ids), JSON.stringify(t)).toBe(t);
        expect(streamed(tk, ids), JSON.stringify(t)).toBe(t);
      }
    });

  it('refuses what it cannot run, naming the metadata key', () => {
    const bpe = byteLevelBpe('a small text, a small text', 5);
    const size = bpe.vocab.size + 20;
    const err = (m: GgufTokenizerKeys) => {
      try {
        ggufTokenizer('m.gguf', m);
      } catch (e) {
        expect(e).toBeInstanceOf(LoadError);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    const q = md(bpe, 'qwen2');
    expect(err(md(bpe))).toMatch(/m\.gguf: metadata tokenizer\.ggml\.pre: missing, expected one of 'gpt-2', /);
    expect(err(md(bpe, 'falcon'))).toMatch(/tokenizer\.ggml\.pre: 'falcon', expected one of/);
    expect(err({ ...q, 'tokenizer.ggml.model': 't5' })).toMatch(
      /tokenizer\.ggml\.model: 't5', expected 'llama' or 'gpt2'/,
    );
    expect(err({ ...q, 'tokenizer.ggml.merges': ['ab'] })).toMatch(
      /tokenizer\.ggml\.merges\[0\]: 'ab' is not two tokens/,
    );
    expect(err({ ...q, 'tokenizer.ggml.token_type': [1, 1] })).toMatch(
      new RegExp(`tokenizer\\.ggml\\.token_type: 2 entries for ${size} tokens`),
    );
    expect(err({ ...q, 'tokenizer.ggml.eos_token_id': undefined })).toMatch(/eos_token_id: missing/);
    expect(err({ ...q, 'tokenizer.ggml.eos_token_id': size })).toMatch(
      new RegExp(`eos_token_id: ${size}, but there are ${size} tokens`),
    );
    expect(err({ ...q, 'tokenizer.ggml.model': 'llama' })).toMatch(/tokenizer\.ggml\.scores: missing/);
  });
});

describe('a tokenizer.json that cannot be used', () => {
  const bpe = byteLevelBpe('a small text, a small text', 5);
  const err = (json: string, config?: string) => {
    try {
      parseTokenizerJson('dir/tokenizer.json', json, config);
    } catch (e) {
      expect(e).toBeInstanceOf(LoadError);
      return (e as Error).message;
    }
    throw new Error('accepted');
  };

  it('is a load error naming the file and what is wrong', () => {
    expect(err('{not json')).toMatch(/dir\/tokenizer\.json: not JSON/);
    expect(err('{"model": {}}')).toMatch(/dir\/tokenizer\.json: model\.vocab: /);
    expect(err(JSON.stringify({ model: { type: 'Unigram', vocab: [] } }))).toMatch(/model\.type Unigram: expected BPE/);
    expect(err(bpe.json, '{"eos_token": "</nope>"}')).toMatch(
      /dir\/tokenizer_config\.json: eos_token "<\/nope>" is not a token of dir\/tokenizer\.json/,
    );
    expect(err(bpe.json, '{"eos_token": null}')).toMatch(/no EOS token/);
  });
});

describe('a Hugging Face folder (config.json, model.safetensors, tokenizer.json)', () => {
  it('runs ppl and generate by its folder name like the llama2.c original, and a model file keeps the tokenizer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'obt-hf-'));
    const ref = await loadModel(join(root, 'data/stories260K.bin'));
    const { bytes, config } = writeSafetensors(ref.checkpoint!, 'F32');
    const { json, config: tkConfig } = sentencePieceJson(ref.tokenizer.data);
    writeFileSync(join(dir, 'model.safetensors'), bytes);
    writeFileSync(join(dir, 'config.json'), config);
    writeFileSync(join(dir, 'tokenizer.json'), json);
    writeFileSync(join(dir, 'tokenizer_config.json'), tkConfig);
    const m = await loadModel(dir);
    expect(m.tokenizer.data.hf).toBeDefined();
    const text = join(dir, 'eval.txt');
    writeFileSync(text, evalText.slice(0, 20_000));
    const ppl = (w: string) => obtcInProcess(['ppl', '--weights', w, '--text', text, '--json']);
    const [a, b] = [await ppl(dir), await ppl(join(root, 'data/stories260K.bin'))];
    expect(a.code, a.err).toBe(0);
    expect(JSON.parse(a.out)).toEqual(JSON.parse(b.out));
    const gen = (w: string) =>
      obtcInProcess(['generate', '--weights', w, '--prompt', 'Once upon', '--steps', '24', '--temperature', '0']);
    const [ga, gb] = [await gen(dir), await gen(join(root, 'data/stories260K.bin'))];
    expect(ga.code, ga.err).toBe(0);
    expect(ga.out).toBe(gb.out);
    // a model file written from it carries tokenizer.json: it encodes as the folder's did
    const out = join(dir, 's.obtm');
    const q = await obtcInProcess([
      'quantize',
      '--weights',
      dir,
      '--steps',
      '1',
      '--batch',
      '1',
      '--seq',
      '16',
      '--no-eval',
      '--out',
      out,
    ]);
    expect(q.code, q.err).toBe(0);
    const s = await loadModel(out);
    expect(s.tokenizer.data.hf?.json).toBe(json);
    expect(s.tokenizer.encode('Zürich 🙂 and digits 42')).toEqual(m.tokenizer.encode('Zürich 🙂 and digits 42'));
  }, 120_000);
});
