// A model's description, asked of its architecture's `.obt` type instead of kept in tables: the
// leaves of its struct (`Llama[Dense, V, D, F, H, KV, L]` for models/llama.obt) at a config's sizes
// (compiler/query.ts) give a checkpoint's expected tensors and the parameter count, its layers (the
// values of the layer-type parameter) the linear layers a method quantises; the architecture's
// name map (llm/io/names/) gives its dims' config fields and each leaf's name in a checkpoint.
// Checkpoint tensors are keyed by leaf path. Nothing here names a projection.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, type CompileOptions, type Program } from '../../compiler/api.ts';
import { CompileError } from '../../compiler/syntax/diag.ts';
import type { TypeLeaves } from '../../compiler/query.ts';
import { PROJECT_ROOT } from '../../compiler/resolve/modules.ts';
import { treeFromPaths } from '../../runtime/core/contract.ts';
import { numel } from '../../runtime/core/tensor.ts';
import { firstNonFiniteStored } from '../../runtime/core/stored.ts';
import { names, tiedSource, type Arch, type Convention } from './names.ts';
import { LoadError, type Checkpoint, type LlamaConfig } from './model.ts';

const programs = new Map<string, Program>();
const cache = new Map<string, TypeLeaves>();

/** The architecture's `.obt` file (absolute; a user architecture's own, or its name inside the
 *  model file that carries it). */
export const archFile = (arch: Arch): string => arch.file ?? join(PROJECT_ROOT, arch.model);

/** The architecture's text (a user architecture's as it carries it). */
export const archSource = (arch: Arch): string => arch.source ?? readFileSync(archFile(arch), 'utf8');

/** A key naming an architecture and its text (two user architectures may share a name). */
const archKey = (arch: Arch): string => `${archFile(arch)}\u0000${arch.source ?? ''}`;

type Reading = Pick<CompileOptions, 'imports' | 'readFile' | 'sealed'>;

/** How to read the architecture's file, on top of other options (a method's): a user
 *  architecture's text is served from memory, and one a model file carries is sealed (the standard
 *  library and models/ only, as a carried method is). */
export function archReading(arch: Arch, base: Reading = {}): Reading {
  const file = archFile(arch);
  const src = arch.source;
  if (src === undefined) return base;
  const fallback = base.readFile ?? ((p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined));
  return {
    ...base,
    readFile: (p) => (p === file ? src : fallback(p)),
    sealed: [...(base.sealed ?? []), ...(arch.sealed ? [file] : [])],
  };
}

/** Options compiling a program in which `import model` is the architecture's module. */
export function archCompileOptions(arch: Arch, base: Reading = {}): Reading {
  const r = archReading(arch, base);
  return { ...r, imports: { ...r.imports, model: archFile(arch) } };
}

/** The architecture's model program, compiled once (no method: for its types). */
function archProgram(arch: Arch): Program {
  let p = programs.get(archKey(arch));
  if (!p) {
    const file = archFile(arch);
    p = compile(archSource(arch), { path: file, ...archReading(arch) });
    if (!p.ok) throw new CompileError(p.diagnostics);
    if (programs.size > 16) programs.clear();
    programs.set(archKey(arch), p);
  }
  return p;
}

/** The struct's dims from a config (the config field the name map gives each). */
export function archDims(arch: Arch, c: LlamaConfig): Record<string, number> {
  return Object.fromEntries(Object.entries(arch.dims).map(([d, field]) => [d, c[field]]));
}

/** The model's type with its layer type: `Llama[OneBit, V, D, F, H, KV, L]` (the dims by name). */
export const modelType = (arch: Arch, layer: string): string => arch.type.replace(/\bLin\b/, layer);

/** The fp model's leaves and layers at a config's sizes. */
export function modelLeaves(arch: Arch, c: LlamaConfig): TypeLeaves {
  const dims = archDims(arch, c);
  const key = `${archKey(arch)} ${JSON.stringify(dims)}`;
  let q = cache.get(key);
  if (!q) {
    q = archProgram(arch).typeLeaves(modelType(arch, 'Dense'), dims);
    if (cache.size > 16) cache.clear();
    cache.set(key, q);
  }
  return q;
}

/** The expected shape of each tensor a checkpoint holds, by leaf path. */
export function expectedShapes(arch: Arch, c: LlamaConfig): Map<string, number[]> {
  return new Map(modelLeaves(arch, c).leaves.map((l) => [l.path, l.shape]));
}

/** Leaves a tied model does not store (its head: the embedding again). */
export const tiedLeaves = (arch: Arch): string[] => Object.keys(arch.tied);

/** The fp model's parameter count (a tied head counted once). */
export function paramCount(arch: Arch, c: LlamaConfig, tied: boolean): number {
  const skip = tied ? tiedLeaves(arch) : [];
  return modelLeaves(arch, c)
    .leaves.filter((l) => !skip.includes(l.path))
    .reduce((s, l) => s + numel(l.shape), 0);
}

/** Every linear layer of the model (the values of its layer type), in `layers(model)` order: its
 *  path in the value tree and its fp weight count. */
export function linearLayers(arch: Arch, c: LlamaConfig): { path: string; weights: number }[] {
  return modelLeaves(arch, c).layers.map((l) => ({
    path: l.path,
    weights: l.leaves.reduce((s, x) => s + numel(x.shape), 0),
  }));
}

/** Whether a checkpoint's tensors are tied (it stores no tensor for a tied leaf). */
export const isTied = (arch: Arch, tensors: Map<string, unknown>): boolean =>
  tiedLeaves(arch).length > 0 && tiedLeaves(arch).every((p) => !tensors.has(p));

/** The host value of the model's struct from a checkpoint's tensors, by leaf path (a tied model's
 *  head is its embedding). */
export function modelValue(
  ck: Checkpoint,
  layers?: ReadonlyMap<string, Record<string, unknown>>,
): Record<string, unknown> {
  const q = modelLeaves(ck.arch, ck.config);
  const layerOf = (path: string) =>
    layers ? q.layers.find((l) => layers.has(l.path) && path.startsWith(`${l.path}.`)) : undefined;
  const leaves: { path: string; value: unknown }[] = [];
  for (const l of q.leaves) {
    // a quantised layer's value (its inference form's fields) in place of its dense leaves
    const layer = layerOf(l.path);
    if (layer) {
      if (!leaves.some((x) => x.path === layer.path)) leaves.push({ path: layer.path, value: layers!.get(layer.path) });
      continue;
    }
    leaves.push({ path: l.path, value: ck.tensors.get(ck.sharedHead ? tiedSource(ck.arch, l.path) : l.path) });
  }
  return treeFromPaths(leaves) as Record<string, unknown>;
}

const CONVENTION: Record<Checkpoint['format'], Convention> = { llama2c: 'llama2c', gguf: 'gguf', safetensors: 'hf' };

/** A leaf's name as the checkpoint's own format calls it (the leaf path when it has none). */
export const fileName = (ck: Pick<Checkpoint, 'arch' | 'format'>, path: string): string =>
  names(ck.arch, CONVENTION[ck.format]).nameOf(path) ?? path;

/** Checks that every leaf's tensor is present with its expected shape and finite (a tied model's
 *  head is not stored, nor are the dense leaves of `quantised` layers); a problem names the tensor
 *  as the file does. */
export function validateTensors(ck: Checkpoint, quantised: ReadonlySet<string> = new Set()): void {
  const tied = ck.sharedHead ? new Set(tiedLeaves(ck.arch)) : new Set<string>();
  for (const [path, shape] of expectedShapes(ck.arch, ck.config)) {
    if (tied.has(path) || quantised.has(path)) continue;
    const name = fileName(ck, path);
    const t = ck.tensors.get(path);
    if (!t) throw new LoadError(ck.file, `missing tensor ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new LoadError(ck.file, `tensor ${name} has shape [${t.shape}], expected [${shape}]`);
    if (t.source) continue; // its loader scanned it where it lies in the file
    const bad = t.stored
      ? firstNonFiniteStored(t.stored, t.data as Uint16Array | Uint8Array)
      : (t.data as Float32Array).findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new LoadError(ck.file, `tensor ${name} contains a non-finite value at element ${bad}`);
  }
}
