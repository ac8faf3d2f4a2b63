// The frame model files (.obtm) and legacy .obt1 files share: an 8-byte magic, u32 version, u32
// header length, the JSON header, zero padding to 8 bytes, the tensor data, then a CRC-32 of
// everything before it. The magic, version, CRC and header length are checked here, then the
// header's JSON is parsed (its schema is the format's own).
import { LoadError } from './model.ts';
import { crc32 } from './state.ts';
import { parseJsonBytes } from './validate.ts';

export interface Framed {
  /** the header's JSON value, not yet checked against the format's schema */
  json: unknown;
  /** the data section: [base, end) of the file's bytes */
  base: number;
  end: number;
}

/** The most bytes a header may have (a 2^20-piece tokenizer fits). */
const MAX_HEADER = 1 << 28;

export function readFramed(file: string, b: Uint8Array, magic: string, version: number, kind: string): Framed {
  const bad = (what: string): never => {
    throw new LoadError(file, what);
  };
  if (b.length < 20 || new TextDecoder().decode(b.subarray(0, 8)) !== magic)
    bad(`not ${kind} (no ${magic.replace(/\0/g, '')} magic)`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const v = dv.getUint32(8, true);
  if (v !== version) bad(`format version ${v}; this reader knows version ${version}`);
  if (crc32(b.subarray(0, b.length - 4)) !== dv.getUint32(b.length - 4, true))
    bad('checksum mismatch: the file is corrupted or truncated');
  const hlen = dv.getUint32(12, true);
  if (hlen > MAX_HEADER || 16 + hlen > b.length - 4) bad(`header length ${hlen} is past the end of the file`);
  const base = 16 + hlen + ((8 - ((16 + hlen) % 8)) % 8);
  const end = b.length - 4;
  if (base > end) bad(`header length ${hlen} leaves no room for the data`);
  return { json: parseJsonBytes(file, 'header', b.subarray(16, 16 + hlen)), base, end };
}
