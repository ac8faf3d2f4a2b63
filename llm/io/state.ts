// A file of host values (nested objects/arrays of tensors, numbers, strings): a JSON header that
// mirrors the tree with tensor references, then the tensors' bytes, then a CRC-32. Used for
// training checkpoints. Writes are atomic (a temporary file renamed over the target).
import { isTensor, mapTree } from '../../runtime/core/tree.ts';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { LoadError } from './model.ts';
import type { Tensor } from '../../runtime/core/tensor.ts';

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

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Serialises a tree; tensors become { $t: index } in the JSON. */
export function encodeState(value: unknown): Uint8Array {
  const tensors: Tensor[] = [];
  const tree = JSON.stringify(
    mapTree(value, isTensor, (t) => {
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

export function decodeState(file: string, b: Uint8Array): unknown {
  if (b.length < 16 || new TextDecoder().decode(b.subarray(0, 8)) !== MAGIC)
    throw new LoadError(file, 'not an obt state file');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const stored = dv.getUint32(b.length - 4, true);
  if (crc32(b.subarray(0, b.length - 4)) !== stored)
    throw new LoadError(file, 'checksum mismatch: the file is corrupted or truncated');
  const hlen = dv.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(b.subarray(12, 12 + hlen))) as {
    tree: unknown;
    sizes: number[];
    kinds: string[];
  };
  let o = 12 + hlen;
  const tensors = header.sizes.map((n, i) => {
    const buf = b.slice(o, o + n).buffer;
    o += n;
    return new CTORS[header.kinds[i]!]!(buf);
  });
  const isRef = (v: unknown): v is { $t: number; dtype: string; shape: number[] } =>
    !!v && typeof v === 'object' && typeof (v as { $t?: unknown }).$t === 'number';
  return mapTree(header.tree, isRef, (r) => ({ dtype: r.dtype, shape: r.shape, data: tensors[r.$t] }));
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
