// The model's description, asked of its `.obt` type instead of kept in tables: the leaves of
// `Llama[Dense, V, D, F, H, KV, L]` at a config's sizes (compiler/query.ts) give a checkpoint's
// expected tensors and the parameter count, its layers (the values of the layer-type parameter)
// the linear layers a method quantises; the name map (llm/io/names/llama.json) gives each leaf's
// name in a checkpoint. Nothing here names a projection.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, type Program } from '../../compiler/api.ts';
import { CompileError } from '../../compiler/syntax/diag.ts';
import type { TypeLeaves } from '../../compiler/query.ts';
import { PROJECT_ROOT } from '../../compiler/resolve/modules.ts';
import { treeFromPaths } from '../../runtime/core/contract.ts';
import { numel } from '../../runtime/core/tensor.ts';
import { LLAMA_NAMES, names } from './names.ts';
import { LoadError, type Checkpoint, type LlamaConfig } from './model.ts';

let program: Program | undefined;
const cache = new Map<string, TypeLeaves>();

/** The struct's dims from a config (the config's fields by the struct's parameter names). */
export const configDims = (c: LlamaConfig): Record<string, number> => ({
  V: c.vocab,
  D: c.dim,
  F: c.hidden,
  H: c.heads,
  KV: c.kvHeads,
  L: c.layers,
});

/** The fp model's leaves and layers at a config's sizes. */
export function modelLeaves(c: LlamaConfig): TypeLeaves {
  const dims = configDims(c);
  const key = JSON.stringify(dims);
  let q = cache.get(key);
  if (!q) {
    if (!program) {
      const file = join(PROJECT_ROOT, LLAMA_NAMES.model);
      program = compile(readFileSync(file, 'utf8'), { path: file });
      if (!program.ok) throw new CompileError(program.diagnostics);
    }
    q = program.typeLeaves(LLAMA_NAMES.type, dims);
    if (cache.size > 16) cache.clear();
    cache.set(key, q);
  }
  return q;
}

const canonical = () => names(LLAMA_NAMES, 'llama2c');

/** The canonical name and expected shape of each tensor a checkpoint holds. */
export function expectedShapes(c: LlamaConfig): Map<string, number[]> {
  const n = canonical();
  return new Map(modelLeaves(c).leaves.map((l) => [n.nameOf(l.path) ?? l.path, l.shape]));
}

/** Leaves a tied model does not store (its head: the embedding again). */
export const tiedLeaves = (): string[] => Object.keys(LLAMA_NAMES.tied);

/** The fp model's parameter count (a tied head counted once). */
export function paramCount(c: LlamaConfig, tied: boolean): number {
  const skip = tied ? tiedLeaves() : [];
  return modelLeaves(c)
    .leaves.filter((l) => !skip.includes(l.path))
    .reduce((s, l) => s + numel(l.shape), 0);
}

/** Every linear layer of the model (the values of its layer type), in `layers(model)` order: its
 *  path in the value tree and its fp weight count. */
export function linearLayers(c: LlamaConfig): { path: string; weights: number }[] {
  return modelLeaves(c).layers.map((l) => ({
    path: l.path,
    weights: l.leaves.reduce((s, x) => s + numel(x.shape), 0),
  }));
}

/** The host value of the model's struct from a checkpoint's canonical tensors, by leaf path (a
 *  tied model's head is its embedding). */
export function modelValue(ck: Checkpoint): Record<string, unknown> {
  const n = canonical();
  const leaves = modelLeaves(ck.config).leaves.map((l) => {
    const from = ck.sharedHead ? (LLAMA_NAMES.tied[l.path] ?? l.path) : l.path;
    return { path: l.path, value: ck.tensors.get(n.nameOf(from) ?? from) };
  });
  return treeFromPaths(leaves) as Record<string, unknown>;
}

/** Checks that every canonical tensor is present with its expected shape (a tied model's head is
 *  not stored). */
export function validateTensors(ck: Checkpoint): void {
  const tied = ck.sharedHead ? new Set(tiedLeaves().map((p) => canonical().nameOf(p))) : new Set();
  for (const [name, shape] of expectedShapes(ck.config)) {
    if (tied.has(name)) continue;
    const t = ck.tensors.get(name);
    if (!t) throw new LoadError(ck.file, `missing tensor ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new LoadError(ck.file, `tensor ${name} has shape [${t.shape}], expected [${shape}]`);
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++)
      if (!Number.isFinite(d[i]!))
        throw new LoadError(ck.file, `tensor ${name} contains a non-finite value at element ${i}`);
  }
}
