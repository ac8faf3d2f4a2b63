// Regression tests for hostile weight files (issue 17's list): each defect a buggy or hostile writer
// produced is now a one-line LoadError naming the file and the field or tensor — never a crash, a
// stack trace or a silently wrong model. Built from the shipped files.
import { beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, loadModelBytes, type LoadedModel } from '../../llm/load.ts';
import { LoadError } from '../../llm/io/model.ts';
import { writeGguf, writeSafetensors, type Buf, type GgufKv, type GgufTensorInfo } from '../helpers/writers.ts';
import { FRAMES, fixCrc, joinFramed, splitFramed } from '../properties/fuzz.ts';

const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'obt-untrusted-'));
let fp: LoadedModel;
const obt1 = join(root, 'test/fixtures/stories260K-onebit-svid.obt1');
const obt1Bytes = new Uint8Array(readFileSync(obt1));

beforeAll(async () => {
  fp = await loadModel(join(root, 'data/stories260K.bin'));
  copyFileSync(join(root, 'data/tok512.bin'), join(dir, 'tok512.bin'));
});

/** Expects loading to fail with a one-line LoadError matching `re`. */
async function refuses(file: string, bytes: Uint8Array, re: RegExp): Promise<void> {
  const e = await loadModelBytes(file, bytes).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, `${file} loaded`).toBeInstanceOf(LoadError);
  expect((e as Error).message).toMatch(re);
  expect((e as Error).message).not.toContain('\n');
}

describe('GGUF', () => {
  const gguf = (edits: Parameters<typeof writeGguf>[3]) => writeGguf(fp.checkpoint!, fp.tokenizer.data, 'F32', edits);
  const kvSet =
    (key: string, type: number, w: (b: Buf) => void) =>
    (kv: GgufKv[]): GgufKv[] => [...kv.filter(([k]) => k !== key), [key, type, w]];
  const at = (name: string, f: (t: GgufTensorInfo) => GgufTensorInfo) => (t: GgufTensorInfo) =>
    t.name === name ? f(t) : t;
  const file = join(dir, 'm.gguf');

  it('the writer round-trips (the cases below differ from a loadable file in one field)', async () => {
    const m = await loadModelBytes(file, gguf({}));
    expect(m.config.vocab).toBe(512);
  });
  it('general.alignment = 2^31', () =>
    refuses(file, gguf({ kv: kvSet('general.alignment', 4, (b) => b.u32(2 ** 31)) }), /general\.alignment/));
  it('tokens as an int array', () =>
    refuses(
      file,
      gguf({ kv: kvSet('tokenizer.ggml.tokens', 9, (b) => (b.u32(4), b.u64(2), b.u32(1), b.u32(2))) }),
      /tokenizer\.ggml\.tokens.*expected string/,
    ));
  it('tokens as a string', () =>
    refuses(file, gguf({ kv: kvSet('tokenizer.ggml.tokens', 8, (b) => b.str('abc')) }), /tokenizer\.ggml\.tokens/));
  it('a NaN token score', () =>
    refuses(
      file,
      gguf({
        kv: kvSet('tokenizer.ggml.scores', 9, (b) => {
          b.u32(6);
          b.u64(512);
          for (let i = 0; i < 512; i++) b.f32(i === 7 ? NaN : 0);
        }),
      }),
      /tokenizer\.ggml\.scores\.7/,
    ));
  it('string token scores', () =>
    refuses(
      file,
      gguf({
        kv: kvSet('tokenizer.ggml.scores', 9, (b) => {
          b.u32(8);
          b.u64(512);
          for (let i = 0; i < 512; i++) b.str('1');
        }),
      }),
      /tokenizer\.ggml\.scores/,
    ));
  it('BOS outside the vocabulary', () =>
    refuses(
      file,
      gguf({ kv: kvSet('tokenizer.ggml.bos_token_id', 4, (b) => b.u32(600)) }),
      /tokenizer.ggml.bos_token_id: 600, but there are 512 tokens/,
    ));
  it('RoPE scaling in the metadata (not read: refused, not run as plain RoPE)', () =>
    refuses(
      file,
      gguf({ kv: kvSet('llama.rope.scaling.type', 8, (b) => b.str('yarn')) }),
      /llama\.rope\.scaling\.type: 'yarn'; obt reads only unscaled RoPE/,
    ));
  it("Llama 3.1's RoPE frequency factors (rope_freqs.weight)", () =>
    refuses(
      file,
      gguf({ tensor: at('output_norm.weight', (t) => ({ ...t, name: 'rope_freqs.weight' })) }),
      /rope_freqs\.weight \(Llama 3\.1 RoPE scaling\) is not read from GGUF; load the model's Hugging Face folder/,
    ));
  it('a tensor offset past the end (a negative i64)', () =>
    refuses(file, gguf({ tensor: at('output_norm.weight', (t) => ({ ...t, offset: -64n })) }), /output_norm\.weight/));
  it('overlapping tensors', () =>
    refuses(file, gguf({ tensor: at('blk.0.attn_k.weight', (t) => ({ ...t, offset: 0 })) }), /overlaps/));
  it('an unaligned tensor offset', () =>
    refuses(
      file,
      gguf({ tensor: at('blk.0.attn_k.weight', (t) => ({ ...t, offset: Number(t.offset) + 4 })) }),
      /not a multiple of the alignment 32/,
    ));
});

describe('safetensors', () => {
  const file = join(dir, 'm.safetensors');
  const st = () => writeSafetensors(fp.checkpoint!, 'F32');
  const frame = FRAMES.safetensors;
  beforeAll(() => writeFileSync(join(dir, 'config.json'), st().config));
  /** The file with one header entry replaced. */
  const entry = (value: unknown, name = 'model.norm.weight') => {
    const b = st().bytes;
    const { header, data } = splitFramed(b, frame);
    (header as Record<string, unknown>)[name] = value;
    return joinFramed(b, frame, JSON.stringify(header), data);
  };
  const norm = () =>
    (splitFramed(st().bytes, frame).header as Record<string, { data_offsets: number[] }>)['model.norm.weight']!;

  it('the writer round-trips', async () => expect((await loadModelBytes(file, st().bytes)).config.dim).toBe(64));
  it('an entry null', () => refuses(file, entry(null), /model\.norm\.weight.*expected object/));
  it('an entry without shape', () =>
    refuses(file, entry({ dtype: 'F32', data_offsets: norm().data_offsets }), /model\.norm\.weight.*shape/));
  it('an entry without data_offsets', () =>
    refuses(file, entry({ dtype: 'F32', shape: [64] }), /model\.norm\.weight.*data_offsets/));
  it('a string shape', () =>
    refuses(file, entry({ dtype: 'F32', shape: '64', data_offsets: norm().data_offsets }), /shape/));
  it('a negative shape', () =>
    refuses(file, entry({ dtype: 'F32', shape: [-64], data_offsets: norm().data_offsets }), /shape/));
  it('negative offsets', () =>
    refuses(file, entry({ dtype: 'F32', shape: [64], data_offsets: [-256, 0] }), /data_offsets/));
  it('overlapping offsets', () =>
    refuses(file, entry({ dtype: 'F32', shape: [64], data_offsets: [0, 256] }), /overlaps|gap/));
  it('a header length past the file', () => {
    const b = st().bytes.slice();
    new DataView(b.buffer).setBigUint64(0, 2n ** 62n, true);
    return refuses(file, b, /header length/);
  });
});

describe('.obt1 with a valid CRC', () => {
  const file = obt1;
  const frame = FRAMES.obt1;
  const { header, data } = splitFramed(obt1Bytes, frame);
  const withHeader = (text: string) => joinFramed(obt1Bytes, frame, text, data);
  const edit = (f: (h: Record<string, unknown>) => void) => {
    const h = structuredClone(header) as Record<string, unknown>;
    f(h);
    return withHeader(JSON.stringify(h));
  };
  type Entry = { name: string; offset: number; bytes: number };
  const tensors = (h: Record<string, unknown>) => h.tensors as Entry[];
  const tk = (h: Record<string, unknown>) => h.tokenizer as { pieces: string[]; bos: number };

  it('the fixture loads', async () => expect((await loadModelBytes(file, obt1Bytes)).layer).toBe('method.OneBit'));
  it('a JSON null header', () => refuses(file, withHeader('null'), /header .*expected object/));
  it('a header that is not JSON', () => refuses(file, withHeader('{"config":'), /not valid JSON/));
  it('no config', () =>
    refuses(
      file,
      edit((h) => delete h.config),
      /header config/,
    ));
  it('tensors not an array', () =>
    refuses(
      file,
      edit((h) => (h.tensors = {})),
      /header tensors.*expected array/,
    ));
  it('no tokenizer', () =>
    refuses(
      file,
      edit((h) => delete h.tokenizer),
      /header tokenizer/,
    ));
  it('a lying header length', () => {
    const b = obt1Bytes.slice();
    new DataView(b.buffer).setUint32(12, 0x7fffffff, true);
    return refuses(file, fixCrc(b), /header length/);
  });
  it('bytes not matching the shape', () =>
    refuses(
      file,
      edit((h) => (tensors(h)[0]!.bytes -= 4)),
      /bytes for a/,
    ));
  it('a negative offset', () =>
    refuses(
      file,
      edit((h) => (tensors(h)[3]!.offset = -8)),
      /offset/,
    ));
  it('a vocabulary the tokenizer does not have', () =>
    refuses(
      file,
      edit((h) => tk(h).pieces.pop()),
      /tokenizer has 511 pieces/,
    ));
  it('BOS out of range', () =>
    refuses(
      file,
      edit((h) => (tk(h).bos = 512)),
      /BOS id 512/,
    ));
  it('a NaN weight', () => {
    const h = header as { tensors: Entry[] };
    const norm = h.tensors.find((e) => e.name === 'rms_final')!;
    const d = data.slice();
    const dv = new DataView(d.buffer);
    if ((norm as Entry & { dtype: string }).dtype === 'f16') dv.setUint16(norm.offset + 2 * 5, 0x7e00, true);
    else dv.setFloat32(norm.offset + 4 * 5, NaN, true);
    return refuses(file, joinFramed(obt1Bytes, frame, JSON.stringify(header), d), /norm: NaN at index 5/);
  });
});
