// A file of host values (nested objects/arrays of tensors, numbers, strings): a JSON header that
// mirrors the tree with tensor references, then the tensors' bytes, then a CRC-32. Used for
// training checkpoints. Writes are atomic (a temporary file renamed over the target).
import { isTensor, mapTree } from '../../runtime/core/tree.ts';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { LoadError } from './model.ts';
import { storageSize, type Tensor } from '../../runtime/core/tensor.ts';
import { widen } from '../../runtime/core/stored.ts';
import { DTYPES } from '../../runtime/core/dtype.ts';
import { z } from 'zod';
import { parseJsonBytes, zodWhere } from './validate.ts';

const MAGIC = 'OBTSTATE';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** zlib's native CRC-32 (Node ≥ 20.15; ~12× the table loop below, which older Nodes use). */
const nativeCrc32 = (zlib as { crc32?: (b: Uint8Array, prev?: number) => number }).crc32;

export function crc32(b: Uint8Array, prev = 0): number {
  // Node 20's zlib.crc32, once V8 calls it through its fast path, returns 0 for an empty array
  // whatever the starting value (seen here: a file's CRC chained over parts, some empty)
  if (b.length === 0) return prev >>> 0;
  if (nativeCrc32) return nativeCrc32(b, prev) >>> 0;
  let c = (prev ^ 0xffffffff) >>> 0;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Serialises a tree; tensors become { $t: index } in the JSON. */
export function encodeState(value: unknown): Uint8Array {
  const tensors: Tensor[] = [];
  const tree = JSON.stringify(
    mapTree(value, isTensor, (stored: Tensor) => {
      const t = widen(stored); // a tensor held at a stored precision is saved as its values
      tensors.push(t);
      return { $t: tensors.length - 1, dtype: t.dtype, shape: t.shape };
    }),
  );
  const datas = tensors.map((t) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  const header = new TextEncoder().encode(
    JSON.stringify({
      tree: JSON.parse(tree),
      sizes: datas.map((d) => d.length),
      kinds: tensors.map((t) => t.data.constructor.name),
    }),
  );
  const total = 8 + 4 + header.length + datas.reduce((s, d) => s + d.length, 0) + 4;
  const out = new Uint8Array(total);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, 12);
  let o = 12 + header.length;
  for (const d of datas) {
    out.set(d, o);
    o += d.length;
  }
  new DataView(out.buffer).setUint32(o, crc32(out.subarray(0, o)), true);
  return out;
}

const CTORS: Record<string, new (b: ArrayBuffer) => Tensor['data']> = {
  Float32Array,
  Float64Array,
  Int32Array,
  Uint32Array,
  Uint8Array,
};

const ELEMENT_BYTES: Record<string, number> = {
  Float32Array: 4,
  Float64Array: 8,
  Int32Array: 4,
  Uint32Array: 4,
  Uint8Array: 1,
};

const Header = z.object({
  tree: z.unknown(),
  sizes: z.array(z.number().int().nonnegative()),
  kinds: z.array(z.enum(Object.keys(ELEMENT_BYTES) as [string, ...string[]])),
});
const Ref = z.object({
  $t: z.number().int().nonnegative(),
  dtype: z.enum(DTYPES),
  shape: z
    .array(
      z
        .number()
        .int()
        .nonnegative()
        .max(2 ** 31 - 1),
    )
    .max(16),
});

/** Reads a state file. Everything beyond the CRC is checked too (a CRC-valid file can still be
 *  written wrong by a buggy tool): the header length against the file, the header against its
 *  schema, the tensors' byte sizes against what is left of the file and their element sizes, every
 *  reference's index, dtype and shape against the tensor it names — before anything is copied. */
export function decodeState(file: string, b: Uint8Array): unknown {
  if (b.length < 16 || new TextDecoder().decode(b.subarray(0, 8)) !== MAGIC)
    throw new LoadError(file, 'not an obt state file');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const stored = dv.getUint32(b.length - 4, true);
  if (crc32(b.subarray(0, b.length - 4)) !== stored)
    throw new LoadError(file, 'checksum mismatch: the file is corrupted or truncated');
  const hlen = dv.getUint32(8, true);
  const body = b.length - 4;
  if (12 + hlen > body)
    throw new LoadError(file, `header length ${hlen}: more than the file's ${body - 12} bytes after it`);
  const json = parseJsonBytes(file, 'header', b.subarray(12, 12 + hlen));
  const h = Header.safeParse(json);
  if (!h.success) throw new LoadError(file, `header: ${zodWhere(h.error)}`);
  const { sizes, kinds, tree } = h.data;
  if (sizes.length !== kinds.length)
    throw new LoadError(file, `header: ${sizes.length} tensor sizes but ${kinds.length} kinds`);
  const starts: number[] = [];
  let o = 12 + hlen;
  for (const [i, n] of sizes.entries()) {
    starts.push(o);
    if (n % ELEMENT_BYTES[kinds[i]!]! !== 0)
      throw new LoadError(file, `tensor ${i}: ${n} bytes is not a whole number of ${kinds[i]} elements`);
    if (o + n > body)
      throw new LoadError(file, `tensor ${i}: ${n} bytes at offset ${o}, past the data's end at ${body}`);
    o += n;
  }
  if (o !== body) throw new LoadError(file, `${body - o} bytes after the last tensor`);
  const isRef = (v: unknown): v is z.infer<typeof Ref> =>
    !!v && typeof v === 'object' && Object.hasOwn(v as object, '$t');
  // references first (no copy until all agree), then the tensors
  const refs: z.infer<typeof Ref>[] = [];
  mapTree(tree, isRef, (r) => {
    const ok = Ref.safeParse(r);
    if (!ok.success)
      throw new LoadError(file, `tensor reference ${JSON.stringify(r).slice(0, 80)}: ${zodWhere(ok.error)}`);
    const { $t, dtype, shape } = ok.data;
    if ($t >= sizes.length) throw new LoadError(file, `tensor reference ${$t}: the file has ${sizes.length} tensors`);
    const want = storageSize(dtype, shape);
    const have = sizes[$t]! / ELEMENT_BYTES[kinds[$t]!]!;
    if (want !== have)
      throw new LoadError(
        file,
        `tensor ${$t}: ${dtype}[${shape.join(', ')}] needs ${want} elements, the file has ${have}`,
      );
    refs.push(ok.data);
    return r;
  });
  const tensors = sizes.map((n, i) => new CTORS[kinds[i]!]!(b.slice(starts[i]!, starts[i]! + n).buffer));
  return mapTree(tree, isRef, (r) => ({ dtype: r.dtype, shape: r.shape, data: tensors[r.$t] }));
}

export function writeAtomic(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

/** A file's bytes as an own Uint8Array (a Node Buffer may be a view into a shared pool, so its
 *  .buffer is not the file). */
export function readBytesCopy(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch {
    throw new LoadError(path, 'cannot read the file');
  }
}

export function readState(path: string): unknown {
  return decodeState(path, readBytesCopy(path));
}
