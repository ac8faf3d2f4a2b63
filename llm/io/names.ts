// Checkpoint name maps, which are data (llm/io/names/llama.json): how each convention — llama2.c's
// canonical names, GGUF's `blk.N.attn_q.weight`, Hugging Face's `model.layers.N.self_attn.q_proj
// .weight` — names the leaves of the model's `.obt` struct, by leaf path with `{l}` for a block.
// The model's leaves themselves (paths, shapes, which are layers) come from the compiler
// (compiler/query.ts); loaders map a file's names through these tables, as tinygrad loads a state
// dict by attribute path. An architecture is its `.obt` file plus, at most, one of these tables.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export type Convention = 'llama2c' | 'gguf' | 'hf';

const NameMap = z.object({
  about: z.string(),
  model: z.string(),
  type: z.string(),
  /** leaves a tied model does not store, and the leaf they repeat */
  tied: z.record(z.string(), z.string()),
  conventions: z.object({
    llama2c: z.record(z.string(), z.string()),
    gguf: z.record(z.string(), z.string()),
    hf: z.record(z.string(), z.string()),
  }),
  /** leaves a convention stores in rotate-half RoPE row order, with the config field of their heads */
  rotateHalf: z.object({ about: z.string(), hf: z.record(z.string(), z.enum(['heads', 'kvHeads'])) }),
});
export type NameMap = z.infer<typeof NameMap>;

/** The Llama name map (parsed once). */
export const LLAMA_NAMES: NameMap = NameMap.parse(
  JSON.parse(readFileSync(new URL('./names/llama.json', import.meta.url), 'utf8')),
);

/** `blocks[{l}].wq.w` as a pattern matching `blocks[3].wq.w`, capturing the block. */
const pattern = (template: string) =>
  new RegExp(
    `^${template
      .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
      .replace('\\{l\\}', '(\\d+)')
      .replace('{l}', '(\\d+)')}$`,
  );

export interface Names {
  /** the convention's name of a leaf path, or undefined when the convention has none */
  nameOf(path: string): string | undefined;
  /** the leaf path a convention's name stands for, or undefined for a name the map does not know */
  pathOf(name: string): string | undefined;
}

const made = new WeakMap<NameMap, Map<Convention, Names>>();

/** One convention's names in both directions (made once per map and convention). */
export function names(map: NameMap, convention: Convention): Names {
  let byConv = made.get(map);
  if (!byConv) made.set(map, (byConv = new Map()));
  let n = byConv.get(convention);
  if (!n) byConv.set(convention, (n = makeNames(map, convention)));
  return n;
}

function makeNames(map: NameMap, convention: Convention): Names {
  const rows = Object.entries(map.conventions[convention]).map(([path, name]) => ({
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
export function rotateHalfHeads(map: NameMap, path: string): 'heads' | 'kvHeads' | undefined {
  for (const [template, heads] of Object.entries(map.rotateHalf.hf)) if (pattern(template).test(path)) return heads;
  return undefined;
}

/** Renames a GGUF or Hugging Face tensor name to the canonical (llama2c) one, via the leaf path. */
export function canonicalName(map: NameMap, from: Convention, name: string): string | undefined {
  const path = names(map, from).pathOf(name);
  return path === undefined ? undefined : names(map, 'llama2c').nameOf(path);
}
