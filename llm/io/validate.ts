// The checks every weight-file reader shares (llama2.c, GGUF, safetensors, model files, .obt1,
// state files): headers against a zod schema, reported as "field: expected …, found …"; shapes
// (whole, non-negative, at most 8 axes, at most 2^31 − 1 elements); and the data extents a header
// names — inside the file's data, non-overlapping, aligned where the format says so — all before
// anything is allocated for a tensor. Every failure is a LoadError: one line naming the file and
// the field or tensor.
import { z } from 'zod';
import { LoadError } from './model.ts';

/** The most elements one tensor may have (Wasm's i32 indices; Float32Array's length on 32-bit). */
const MAX_ELEMS = 2 ** 31 - 1;
/** The deepest a header's JSON tree may nest (the model tree is ~4 levels; this bounds recursion). */
const MAX_TREE_DEPTH = 32;

/** A zod error as "field.path: message" (its first issue). */
export function zodWhere(e: z.ZodError): string {
  const i = e.issues[0]!;
  return `${i.path.length ? i.path.map(String).join('.') + ': ' : ''}${i.message}`;
}

/** Parses a header's JSON value against a schema, or throws "FILE: WHAT field: expected …". */
export function parseWith<S extends z.ZodType>(file: string, what: string, schema: S, json: unknown): z.infer<S> {
  const r = schema.safeParse(json);
  if (!r.success) throw new LoadError(file, `${what} ${zodWhere(r.error)}`);
  return r.data;
}

/** Decodes UTF-8 JSON bytes, or throws naming the header. */
export function parseJsonBytes(file: string, what: string, bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new LoadError(file, `${what}: not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new LoadError(file, `${what}: not valid JSON (${(e as Error).message.slice(0, 120)})`);
  }
  const d = depth(json, MAX_TREE_DEPTH + 1);
  if (d > MAX_TREE_DEPTH) throw new LoadError(file, `${what}: nested deeper than ${MAX_TREE_DEPTH} levels`);
  return json;
}

/** The nesting depth of a JSON value, counting no further than `limit` (iterative: a hostile
 *  header cannot overflow the stack here). */
function depth(v: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (d > max) max = d;
    if (max >= limit) return max;
    if (x && typeof x === 'object') for (const e of Object.values(x)) stack.push([e, d + 1]);
  }
  return max;
}

/** A shape's element count, or throws when it is not a list of ≤ 8 whole non-negative sizes with
 *  at most MAX_ELEMS elements. */
export function checkShape(file: string, what: string, shape: readonly unknown[]): number {
  if (shape.length > 8) throw new LoadError(file, `${what}: ${shape.length} axes; at most 8 are supported`);
  let n = 1;
  for (const d of shape) {
    const v = typeof d === 'bigint' ? Number(d) : d;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw new LoadError(file, `${what}: shape [${shape.join(', ')}] has a size that is not a whole number ≥ 0`);
    n *= v;
  }
  if (n > MAX_ELEMS)
    throw new LoadError(
      file,
      `${what}: shape [${shape.join(', ')}] has ${n} elements; at most ${MAX_ELEMS} are supported`,
    );
  return n;
}

/** One tensor's data as a header places it: `start` bytes from the data section's start. */
export interface Extent {
  what: string;
  start: number;
  bytes: number;
}

/** Checks that every extent lies inside [0, size) of the data section (whose absolute offset in
 *  the file is `base`, for the message), starts at a multiple of `align`, and that no two overlap.
 *  With `covering`, the extents must also leave no gap and end at `size` (safetensors' rule). */
export function checkExtents(
  file: string,
  extents: readonly Extent[],
  size: number,
  opts: { align?: number; covering?: boolean; base?: number } = {},
): void {
  const base = opts.base ?? 0;
  for (const e of extents) {
    if (!Number.isSafeInteger(e.start) || e.start < 0)
      throw new LoadError(file, `${e.what}: data offset ${e.start} is not a whole number ≥ 0`);
    if (!Number.isSafeInteger(e.bytes) || e.bytes < 0)
      throw new LoadError(file, `${e.what}: byte length ${e.bytes} is not a whole number ≥ 0`);
    if (opts.align && e.start % opts.align)
      throw new LoadError(file, `${e.what}: data offset ${e.start} is not a multiple of the alignment ${opts.align}`);
    if (e.start + e.bytes > size)
      throw new LoadError(
        file,
        `truncated: ${e.what} needs bytes ${base + e.start}..${base + e.start + e.bytes}, the data ends at byte ${base + size}`,
      );
  }
  const sorted = [...extents].sort((a, b) => a.start - b.start || a.bytes - b.bytes);
  let end = 0;
  let last: Extent | undefined;
  for (const e of sorted) {
    if (last && e.start < end && e.bytes > 0)
      throw new LoadError(file, `${e.what}: its data (from byte ${base + e.start}) overlaps ${last.what}'s`);
    if (opts.covering && e.start > end)
      throw new LoadError(file, `${e.what}: a gap of ${e.start - end} bytes before its data`);
    if (e.start + e.bytes >= end) {
      end = e.start + e.bytes;
      last = e;
    }
  }
  if (opts.covering && end !== size) throw new LoadError(file, `${size - end} bytes after the last tensor's data`);
}

export const Shape = z.array(z.number().int().nonnegative().max(MAX_ELEMS)).max(8);
/** A tensor's shape and where its data lies: `bytes` from `offset` into the data section. */
export const Placed = {
  shape: Shape,
  offset: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
};
/** A tokenizer as a header stores it (pieces, finite scores, BOS/EOS ids; their range against the
 *  vocabulary is checked by the loader once the vocabulary is known). */
export const TokenizerHeader = z.object({
  pieces: z.array(z.string().max(1024)).max(1 << 20),
  scores: z.array(z.number()).max(1 << 20),
  /** -1: none (a character tokenizer) */
  bos: z.number().int().min(-1),
  eos: z.number().int().min(-1),
  /** a character-level tokenizer (its pieces are its characters) */
  char: z.literal(true).optional(),
  /** a Hugging Face tokenizer's tokenizer.json and tokenizer_config.json, as read */
  hf: z
    .object({
      json: z.string().max(64 << 20),
      config: z
        .string()
        .max(1 << 20)
        .optional(),
    })
    .optional(),
});
/** A LlamaConfig as model files store it (its values are then checked by validateConfig). */
export const ConfigHeader = z.object({
  dim: z.number(),
  hidden: z.number(),
  layers: z.number(),
  heads: z.number(),
  kvHeads: z.number(),
  vocab: z.number(),
  seqLen: z.number(),
  eps: z.number(),
  ropeTheta: z.number(),
  ropeScaling: z
    .object({ factor: z.number(), lowFreq: z.number(), highFreq: z.number(), original: z.number() })
    .optional(),
});
