// Fuzzer: GGUF fields. The shipped stories260K re-written as GGUF with hostile metadata values
// (wrong types, huge, negative, NaN, missing, duplicated keys) and directory entries (offsets,
// dims, types, alignment). Each either loads or fails with a one-line user error.
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { join } from 'node:path';
import { loadModel, loadModelBytes } from '../../llm/load.ts';
import { writeGguf, type Buf, type GgufKv, type GgufTensorInfo } from '../helpers/writers.ts';
import { HOSTILE_INTS, Tally, share, timeoutFor } from './fuzz.ts';

const file = join(import.meta.dirname, '../../data/stories260K.gguf');

/** Metadata values of every GGUF type, hostile ones included: [type, writer]. */
const VALUES: [number, (b: Buf) => void][] = [
  [4, (b) => b.u32(0)],
  [4, (b) => b.u32(0xffffffff)],
  [5, (b) => b.u32(0xffffffff)], // i32 −1
  [10, (b) => b.u64(2n ** 63n)],
  [10, (b) => b.u64(2n ** 31n)],
  [6, (b) => b.f32(NaN)],
  [6, (b) => b.f32(Infinity)],
  [6, (b) => b.f32(-1)],
  [8, (b) => b.str('llama')],
  [8, (b) => b.str('')],
  [7, (b) => b.push(Uint8Array.of(1))],
  [9, (b) => (b.u32(4), b.u64(3), b.u32(1), b.u32(2), b.u32(3))], // an array of u32
  [9, (b) => (b.u32(8), b.u64(2), b.str('a'), b.str('b'))], // an array of strings
  [9, (b) => (b.u32(6), b.u64(1), b.f32(NaN))],
  [9, (b) => (b.u32(8), b.u64(0))],
];

const edit = fc.record({
  kv: fc.option(
    fc.record({ at: fc.nat(), op: fc.constantFrom('set', 'delete', 'dup'), value: fc.nat(VALUES.length - 1) }),
  ),
  tensor: fc.option(
    fc.record({
      at: fc.nat(47),
      field: fc.constantFrom('offset', 'dim', 'ndims', 'type', 'name'),
      value: fc.constantFrom(...HOSTILE_INTS),
    }),
  ),
  align: fc.option(fc.constantFrom(1, 8, 64, 2 ** 31, 0xffffffff, 0, 3)),
});

describe('GGUF fields under mutation', () => {
  it(
    'hostile metadata and tensor directory entries load or fail with a user error',
    async () => {
      const m = await loadModel(file);
      const t = new Tally('gguf fields', share(0.5));
      await fc.assert(
        fc.asyncProperty(edit, (e) => {
          const kv = (list: GgufKv[]): GgufKv[] => {
            const out = [...list];
            if (e.align !== null) out.push(['general.alignment', 4, (b) => b.u32(e.align!)]);
            if (!e.kv) return out;
            const i = e.kv.at % out.length;
            const [type, w] = VALUES[e.kv.value]!;
            if (e.kv.op === 'delete') out.splice(i, 1);
            else if (e.kv.op === 'dup') out.splice(i, 0, out[i]!);
            else out[i] = [out[i]![0], type, w];
            return out;
          };
          const tensor = (ti: GgufTensorInfo, i: number): GgufTensorInfo => {
            const x = e.tensor;
            if (!x || x.at !== i) return ti;
            if (x.field === 'offset') return { ...ti, offset: x.value };
            if (x.field === 'dim') return { ...ti, dims: [x.value, ...ti.dims.slice(1)] };
            if (x.field === 'ndims') return { ...ti, dims: Array.from({ length: Number(x.value % 10n) }, () => 1) };
            if (x.field === 'type') return { ...ti, type: Number(x.value % 2n ** 32n) };
            return { ...ti, name: 'blk.0.attn_q.weight' };
          };
          const bytes = writeGguf(m.checkpoint!, m.tokenizer.data, 'F32', {
            kv,
            tensor,
            align: e.align !== null && e.align > 0 && e.align <= 64 ? e.align : 32,
          });
          return t.run(() => loadModelBytes(file, bytes));
        }),
        t.params,
      );
      console.log(t.summary());
    },
    timeoutFor(share(0.5)),
  );
});
