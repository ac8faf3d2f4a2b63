// The architectures obt knows, each one name map (data: llm/io/names/NAME.json) beside its `.obt`
// file: which model file and struct type it is, which config field each of the struct's dims is,
// how a Hugging Face config.json or a GGUF file says it is this architecture, and how each
// checkpoint convention — llama2.c's .bin, GGUF's `blk.N.attn_q.weight`, Hugging Face's
// `model.layers.N.self_attn.q_proj.weight` — names the struct's leaves (by leaf path, `{l}` for a
// block). The leaves themselves (paths, shapes, which are layers) come from the compiler
// (compiler/query.ts); loaders map a file's names through these tables, as tinygrad loads a state
// dict by attribute path. A new architecture is its `.obt` file plus one of these tables; the
// folder is read as it is, so adding one touches no code.
import { readdirSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import type { LlamaConfig } from './model.ts';

export type Convention = 'llama2c' | 'gguf' | 'hf';

const CONFIG_FIELDS = [
  'dim',
  'hidden',
  'layers',
  'heads',
  'kvHeads',
  'vocab',
  'seqLen',
] as const satisfies readonly (keyof LlamaConfig)[];
const Names = z.record(z.string(), z.string());

const NameMap = z.object({
  about: z.string(),
  /** the architecture's `.obt` file, relative to the project root */
  model: z.string(),
  /** the model's struct type, its layer type written `Lin` */
  type: z.string(),
  /** each dim of the type: the config field giving it */
  dims: z.record(z.string(), z.enum(CONFIG_FIELDS)),
  /** Hugging Face config.json `architectures` entries that are this architecture */
  hf: z.array(z.string()).default([]),
  /** how positions enter: RoPE (any length runs), or a learned table of seqLen rows (no longer
   *  window fits) */
  positions: z.enum(['rope', 'learned']).default('rope'),
  /** the architecture that is this one with a bias on every projection and norm (nanoGPT's
   *  bias=True; obtc train --bias) */
  withBias: z.string().optional(),
  /** the MLP's activation (config.json's hidden_act must say the same) */
  act: z.enum(['silu', 'gelu']).default('silu'),
  /** GGUF `general.architecture` values that are this architecture */
  gguf: z.array(z.string()).default([]),
  /** leaves a tied model does not store, and the leaf they repeat */
  tied: z.record(z.string(), z.string()),
  conventions: z.object({ llama2c: Names.optional(), gguf: Names.optional(), hf: Names.optional() }),
  /** leaves a convention stores in rotate-half RoPE row order, with the config field of their heads */
  rotateHalf: z
    .object({
      about: z.string(),
      hf: z.record(z.string(), z.enum(['heads', 'kvHeads'])).optional(),
      gguf: z.record(z.string(), z.enum(['heads', 'kvHeads'])).optional(),
    })
    .optional(),
});

/** One architecture: its name map, named by its file's stem. A user's architecture (`obtc train
 *  --model FILE.obt`) also carries its `.obt` file's path and source; one read from a model file is
 *  sealed (compiled from the text the file carries, importing only the standard library and models/). */
export type Arch = z.infer<typeof NameMap> & {
  name: string;
  /** a user architecture's `.obt` file (absolute, or `MODELFILE#NAME.obt` inside a model file) */
  file?: string;
  /** that file's text (what a model file stores and compiles instead of reading a path) */
  source?: string;
  sealed?: boolean;
};

/** A user architecture's definition as a model file stores it: its name map and its source. */
export const ArchDefinition = NameMap.omit({ conventions: true, rotateHalf: true, withBias: true }).extend({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/),
  source: z.string(),
});
export type ArchDefinition = z.infer<typeof ArchDefinition>;

/** A name map parsed against the schema, or the first problem (`field: message`). */
export function parseNameMap(raw: unknown): { map: z.infer<typeof NameMap> } | { problem: string } {
  const parsed = NameMap.safeParse(raw);
  return parsed.success
    ? { map: parsed.data }
    : { problem: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)[0]! };
}

/** The definition a model file stores for a user architecture. */
export const archDefinition = (a: Arch & { source: string }): ArchDefinition => ({
  name: a.name,
  source: a.source,
  about: a.about,
  model: a.model,
  type: a.type,
  dims: a.dims,
  hf: a.hf,
  positions: a.positions,
  act: a.act,
  gguf: a.gguf,
  tied: a.tied,
});

/** A user architecture a model file carries, compiled sealed under a name inside the file. */
export const archFromDefinition = (d: ArchDefinition, modelFile: string): Arch => ({
  ...d,
  conventions: {},
  file: `${modelFile}#${d.name}.obt`,
  sealed: true,
});

const DIR = new URL('./names/', import.meta.url);

/** Every architecture in llm/io/names/, by name (read once). */
export const ARCHES: ReadonlyMap<string, Arch> = new Map(
  readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -5);
      const raw = JSON.parse(readFileSync(new URL(f, DIR), 'utf8')) as unknown;
      const parsed = parseNameMap(raw);
      if ('problem' in parsed) throw new Error(`llm/io/names/${f}: ${parsed.problem}`);
      return [name, { ...parsed.map, name }];
    }),
);

/** The default architecture (llama2.c checkpoints, the shipped models). */
export const LLAMA: Arch = ARCHES.get('llama')!;

/** An architecture by name, or undefined. */
export const archNamed = (name: string): Arch | undefined => ARCHES.get(name);

/** The architecture a Hugging Face config.json's `architectures` or a GGUF file's
 *  `general.architecture` names, or undefined when none is known. */
export function archFor(key: 'hf' | 'gguf', values: string[]): Arch | undefined {
  for (const a of ARCHES.values()) if (values.some((v) => a[key].includes(v))) return a;
  return undefined;
}

/** The names every architecture answers to in `key` (for an error listing them). */
export const knownNames = (key: 'hf' | 'gguf'): string[] => [...ARCHES.values()].flatMap((a) => a[key]);

/** A leaf path template (`blocks[{l}].…`) as a pattern matching its paths (`blocks[3].…`), capturing the block. */
const pattern = (template: string) =>
  new RegExp(
    `^${template
      .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
      .replace('\\{l\\}', '(\\d+)')
      .replace('{l}', '(\\d+)')}$`,
  );

export interface NameTable {
  /** the convention's name of a leaf path, or undefined when the convention has none */
  nameOf(path: string): string | undefined;
  /** the leaf path a convention's name stands for, or undefined for a name the map does not know */
  pathOf(name: string): string | undefined;
}

const made = new WeakMap<Arch, Map<Convention, NameTable>>();

/** One convention's names in both directions (made once per architecture and convention). */
export function names(arch: Arch, convention: Convention): NameTable {
  let byConv = made.get(arch);
  if (!byConv) made.set(arch, (byConv = new Map()));
  let n = byConv.get(convention);
  if (!n) byConv.set(convention, (n = makeNames(arch, convention)));
  return n;
}

/** A convention's entries (leaf path template → name), in the name map's order; empty when the
 *  architecture has none. */
export const conventionRows = (arch: Arch, convention: Convention): [string, string][] =>
  Object.entries(arch.conventions[convention] ?? {});

function makeNames(arch: Arch, convention: Convention): NameTable {
  const rows = conventionRows(arch, convention).map(([path, name]) => ({
    path,
    name,
    byPath: pattern(path),
    byName: pattern(name),
  }));
  const swap = (from: RegExp, to: string, s: string) => {
    const m = from.exec(s);
    return m ? to.replace('{l}', m[1] ?? '') : undefined;
  };
  return {
    nameOf: (path) => rows.map((r) => swap(r.byPath, r.name, path)).find((x) => x !== undefined),
    pathOf: (name) => rows.map((r) => swap(r.byName, r.path, name)).find((x) => x !== undefined),
  };
}

/** The config field counting the heads of a leaf a convention stores in rotate-half order. */
export function rotateHalfHeads(arch: Arch, convention: 'hf' | 'gguf', path: string): 'heads' | 'kvHeads' | undefined {
  for (const [template, heads] of Object.entries(arch.rotateHalf?.[convention] ?? {}))
    if (pattern(template).test(path)) return heads;
  return undefined;
}

/** Rows of a [heads·hd, in] matrix (its bytes, in place) from rotate-half order (i, i + hd/2) to
 *  adjacent pairs (2i, 2i+1); a bias's entries are its rows of one element. */
export function unpermuteRope(b: Uint8Array, heads: number, rows: number): void {
  const rowBytes = b.byteLength / rows;
  const hd = rows / heads;
  const head = new Uint8Array(hd * rowBytes); // one head's rows as they were
  for (let h = 0; h < heads; h++) {
    head.set(b.subarray(h * hd * rowBytes, (h + 1) * hd * rowBytes));
    for (let i = 0; i < hd / 2; i++)
      for (let half = 0; half < 2; half++) {
        const src = half * (hd / 2) + i; // HF row
        const dst = 2 * i + half; // adjacent-pair row
        b.set(head.subarray(src * rowBytes, (src + 1) * rowBytes), (h * hd + dst) * rowBytes);
      }
  }
}

/** The inverse of unpermuteRope: rows from adjacent pairs (2i, 2i+1) to rotate-half order (i, i + hd/2). */
export function permuteRope(b: Uint8Array, heads: number, rows: number): void {
  const rowBytes = b.byteLength / rows;
  const hd = rows / heads;
  const head = new Uint8Array(hd * rowBytes);
  for (let h = 0; h < heads; h++) {
    head.set(b.subarray(h * hd * rowBytes, (h + 1) * hd * rowBytes));
    for (let i = 0; i < hd / 2; i++)
      for (let half = 0; half < 2; half++) {
        const src = 2 * i + half; // adjacent-pair row
        const dst = half * (hd / 2) + i; // rotate-half row
        b.set(head.subarray(src * rowBytes, (src + 1) * rowBytes), (h * hd + dst) * rowBytes);
      }
  }
}

/** The leaf a tied model's `path` repeats (its head: the embedding), or path itself. */
export const tiedSource = (arch: Arch, path: string): string => arch.tied[path] ?? path;
