// Hostile model files for tests and fuzzers: the shipped 1-bit student (data/stories260K-1bit-best.obtm)
// with its JSON header edited — the CRC, length and padding recomputed, so every check beyond the
// frame is reached — as an attacker who wants to read files, hang or crash `obtc` would write it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FRAMES, joinFramed, splitFramed } from './fuzz.ts';

const root = join(import.meta.dirname, '../..');
export const BEST_OBTM = join(root, 'data/stories260K-1bit-best.obtm');

/** The header fields tests edit. */
export interface ObtmHeader {
  config: Record<string, number>;
  tokenizer: { pieces: string[]; scores: number[]; bos: number; eos: number };
  layer: string;
  method: { name: string; source: string; train: string; infer: string };
  bits: Record<string, number>;
  tree: Record<string, unknown>;
  tensors: { path: string; dtype: string; stored: string; shape: number[]; offset: number; bytes: number }[];
}

let seed: { bytes: Uint8Array; header: ObtmHeader; data: Uint8Array } | undefined;

function seedFile() {
  if (!seed) {
    const bytes = new Uint8Array(readFileSync(BEST_OBTM));
    const { header, data } = splitFramed(bytes, FRAMES.obtm);
    seed = { bytes, header: header as ObtmHeader, data };
  }
  return seed;
}

/** The shipped student's header (a fresh copy). */
export function bestHeader(): ObtmHeader {
  return structuredClone(seedFile().header);
}

/** The shipped student with its header edited (and, optionally, its tensor data replaced). */
export function hostileModel(edit: (h: ObtmHeader) => void, data?: Uint8Array): Uint8Array {
  const s = seedFile();
  const h = bestHeader();
  const claimed = h.bits.file;
  edit(h);
  // the file's own size in bits per parameter is in its header: settled as the writer does, unless
  // the edit set it
  const join = () => joinFramed(s.bytes, FRAMES.obtm, JSON.stringify(h), data ?? s.data);
  let out = join();
  if (h.bits.file === claimed)
    for (let i = 0; i < 4; i++) {
      const f = (out.length * 8) / h.bits.params!;
      if (f === h.bits.file) break;
      h.bits.file = f;
      out = join();
    }
  return out;
}

/** The method source of the shipped student with `extra` declarations inserted before `export`, and
 *  the export's result wrapped by `wrap` (e.g. a call to a bomb that returns its argument). */
export function withMethod(h: ObtmHeader, extra: string, wrap?: (e: string) => string): void {
  const src = h.method.source;
  const at = src.indexOf('pub fn export');
  if (at < 0) throw new Error('the shipped method has no export');
  h.method.source = src.slice(0, at) + extra + '\n' + src.slice(at);
  if (wrap) {
    // the inference form's apply (what a run calls on every layer): its result wrapped
    const call = 'signlinear(x, l.s, l.g, l.h)';
    if (!h.method.source.includes(call)) throw new Error('the shipped method has no signlinear apply');
    h.method.source = h.method.source.replace(call, wrap(call));
  }
}
