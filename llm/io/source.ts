// Where a checkpoint's bytes come from: a file read piece by piece where it is asked (never whole:
// a 2.2 GB checkpoint is read tensor by tensor, each straight into the memory that keeps it), or
// bytes already in memory. A file is checked on every read to be the one that was loaded (same
// size and modification time): its tensors are read again when a backend uploads them.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { LoadError } from './model.ts';

export interface ByteSource {
  /** the file it is (errors name it) */
  readonly name: string;
  readonly size: number;
  /** fills `into` with the bytes from `pos` on (the range lies inside size: callers check) */
  read(pos: number, into: Uint8Array): void;
}

/** Bytes in memory. */
export function bytesSource(name: string, bytes: Uint8Array): ByteSource {
  return { name, size: bytes.byteLength, read: (pos, into) => into.set(bytes.subarray(pos, pos + into.byteLength)) };
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

/** bytes scanned at a time: the scan keeps no more than this */
const CHUNK = 1 << 23;

/** The index of the first non-finite value among `count` f32 values (or 16-bit stored words) at
 *  `pos`, read a chunk at a time; -1 when all are finite. Values are tested by their exponent bits
 *  (all ones: ±inf or NaN), two 16-bit words per 32-bit test. */
export function firstNonFinite(src: ByteSource, pos: number, count: number, stored?: 'bf16' | 'f16'): number {
  const width = stored ? 2 : 4;
  const buf = new Uint8Array(Math.min(CHUNK, count * width + 3) & ~3);
  const u32 = new Uint32Array(buf.buffer);
  // the exponent's bits in each 32-bit word: an f32's, or those of its two 16-bit words
  const lo = stored === 'bf16' ? 0x7f80 : stored === 'f16' ? 0x7c00 : 0x7f800000;
  const hi = stored ? lo << 16 : 0;
  for (let first = 0; first < count;) {
    const n = Math.min(count - first, Math.floor(buf.byteLength / width));
    const bytes = n * width;
    src.read(pos + first * width, buf.subarray(0, bytes));
    if (bytes & 3) buf.fill(0, bytes, (bytes + 3) & ~3); // a last odd 16-bit word's partner: finite
    const bad = scan(u32, (bytes + 3) >> 2, lo, hi);
    if (bad >= 0) {
      const at = stored ? 2 * bad + ((u32[bad]! & lo) === lo ? 0 : 1) : bad;
      return first + at;
    }
    first += n;
  }
  return -1;
}

/** The first word i < n with (w & lo) === lo or, hi nonzero, (w & hi) === hi; -1 if none. */
function scan(u32: Uint32Array, n: number, lo: number, hi: number): number {
  if (hi) {
    for (let i = 0; i < n; i++) {
      const w = u32[i]!;
      if ((w & lo) === lo || (w & hi) >>> 0 === hi >>> 0) return i;
    }
  } else for (let i = 0; i < n; i++) if ((u32[i]! & lo) === lo) return i;
  return -1;
}
