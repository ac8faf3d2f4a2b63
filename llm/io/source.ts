// Where a checkpoint's bytes come from: a file read piece by piece where it is asked (never whole:
// a 2.2 GB checkpoint is read tensor by tensor, each straight into the memory that keeps it), or
// bytes already in memory. Loading a file reads its headers only; a tensor is read when a backend
// uploads it, checked for non-finite values as it is read (one pass over the file), and the file is
// checked on every read to be the one that was loaded (same size and modification time).
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { LoadError } from './model.ts';
import { firstNonFiniteStored, storedBytes } from '../../runtime/core/stored.ts';
import type { Stored } from '../../runtime/core/tensor.ts';

export interface ByteSource {
  /** the file it is (errors name it) */
  readonly name: string;
  readonly size: number;
  /** fills `into` with the bytes from `pos` on (the range lies inside size: callers check) */
  read(pos: number, into: Uint8Array): void;
  /** the bytes, when they are already in memory (looking at them costs no pass over a file) */
  readonly bytes?: Uint8Array;
}

/** Bytes in memory. */
export function bytesSource(name: string, bytes: Uint8Array): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    bytes,
    read: (pos, into) => into.set(bytes.subarray(pos, pos + into.byteLength)),
  };
}

/** A file, read where asked; it must stay as it was when opened. */
export function fileSource(path: string): ByteSource {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new LoadError(path, 'no such file');
  }
  const { size, mtimeMs } = st;
  return {
    name: path,
    size,
    read(pos, into) {
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch {
        throw new LoadError(path, 'cannot read the file');
      }
      try {
        const now = fstatSync(fd);
        if (now.size !== size || now.mtimeMs !== mtimeMs)
          throw new LoadError(path, 'the file changed after it was loaded; load it again');
        // at most 1 GiB a call (a read's limit is 2 GiB)
        for (let done = 0; done < into.byteLength;) {
          const n = readSync(fd, into, done, Math.min(into.byteLength - done, 1 << 30), pos + done);
          if (n <= 0) throw new LoadError(path, `truncated while reading at byte ${pos + done}`);
          done += n;
        }
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** `n` bytes at `pos` (a copy). */
export function readAt(src: ByteSource, pos: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  src.read(pos, out);
  return out;
}

/** The index of the first non-finite value among the f32 values (or 16-bit stored words) in
 *  `bytes` (Q8_0: of the first block whose scale is); -1 when all are finite. Values are tested by
 *  their exponent bits (all ones: ±inf or NaN). */
export function nonFiniteIn(bytes: Uint8Array, stored?: Stored): number {
  if (stored === 'q8_0') return firstNonFiniteStored('q8_0', bytes); // a block's f16 scale
  const exp = stored === 'bf16' ? 0x7f80 : stored === 'f16' ? 0x7c00 : 0x7f800000;
  const width = stored ? 2 : 4;
  const n = Math.floor(bytes.byteLength / width);
  let from = 0; // 16-bit words: two at a time through 32-bit loads while aligned
  if (stored && bytes.byteOffset % 4 === 0) {
    const w32 = new Uint32Array(bytes.buffer, bytes.byteOffset, n >> 1);
    const hi = (exp << 16) >>> 0;
    let i = 0;
    for (; i < w32.length; i++) {
      const w = w32[i]!;
      if ((w & exp) === exp || (w & hi) >>> 0 === hi) break;
    }
    from = 2 * i;
  }
  if (bytes.byteOffset % width === 0) {
    const words = stored
      ? new Uint16Array(bytes.buffer, bytes.byteOffset, n)
      : new Uint32Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = from; i < n; i++) if ((words[i]! & exp) >>> 0 === exp) return i;
    return -1;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) {
    const w = stored ? dv.getUint16(i * 2, true) : dv.getUint32(i * 4, true);
    if ((w & exp) >>> 0 === exp) return i;
  }
  return -1;
}

/**
 * How a tensor of `count` values (f32, or 16-bit stored words) at `pos` is read: into the memory
 * that keeps it (a Wasm memory, a GPU upload, a host array), checked for non-finite values in the
 * same pass, then `after` (a row permutation) applied. A file is checked as it is read, so loading
 * reads it once; bytes already in memory are checked now as well, so a bad tensor fails the load.
 */
export function checkedRead(
  src: ByteSource,
  pos: number,
  count: number,
  stored: Stored | undefined,
  tensor: string,
  after?: (bytes: Uint8Array) => void,
): (into: Uint8Array) => void {
  const fail = (bad: number) => {
    throw new LoadError(src.name, `tensor ${tensor} contains a non-finite value at element ${bad}`);
  };
  const inMemory = src.bytes !== undefined;
  if (src.bytes) {
    const bad = nonFiniteIn(src.bytes.subarray(pos, pos + (stored ? storedBytes(stored, count) : 4 * count)), stored);
    if (bad >= 0) fail(bad);
  }
  return (into) => {
    src.read(pos, into);
    if (!inMemory) {
      const bad = nonFiniteIn(into, stored); // checked once already when the bytes were in memory
      if (bad >= 0) fail(bad);
    }
    after?.(into);
  };
}
