// Compiled Wasm artifacts (`obtc compile FILE --entry NAME --target wasm -o DIR`): a directory that
// runs without the compiler (no parser, type checker, fusion or binaryen):
//   manifest.json   format, codegen version, entry, inputs (path, dtype, shape), outputs, files
//   plan.json       the execution plan (kernels by hash, buffers, steps, host equations)
//   kernels/<hash>.wasm and kernels/<hash>.shared.wasm   each kernel for a private / shared memory
// loadArtifact() checks the format and every file's presence, then returns a WasmProgram.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KernelPool } from './pool.ts';
import { WasmProgram } from './program.ts';
import { UserError } from '../core/errors.ts';
import { decodePlan } from '../plan/json.ts';

export { decodePlan, encodePlan } from '../plan/json.ts';

export const ARTIFACT_FORMAT = 'obt-wasm-artifact';
export const ARTIFACT_VERSION = 1;

export interface TensorSpec {
  path: string;
  dtype: string;
  shape: number[];
}

export interface Manifest {
  format: typeof ARTIFACT_FORMAT;
  version: number;
  codegen: string;
  signlinear: string;
  source: string;
  entry: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  kernels: { hash: string; file: string; shared: string }[];
  memoryBytes: number;
  peakBytes: number;
}

function readJson(file: string): unknown {
  if (!existsSync(file)) throw new UserError(`${file}: missing (not a compiled artifact?)`);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** Loads an artifact directory; with a pool its shared-memory kernels are used. */
export function loadArtifact(
  dir: string,
  opts: { pool?: KernelPool; donate?: number[] } = {},
): { manifest: Manifest; program: WasmProgram } {
  const manifest = readJson(join(dir, 'manifest.json')) as Manifest;
  if (manifest.format !== ARTIFACT_FORMAT)
    throw new UserError(
      `${join(dir, 'manifest.json')}: format ${String(manifest.format)}, expected ${ARTIFACT_FORMAT}`,
    );
  if (manifest.version !== ARTIFACT_VERSION)
    throw new UserError(
      `${join(dir, 'manifest.json')}: version ${manifest.version}, this runtime reads version ${ARTIFACT_VERSION}`,
    );
  const planFile = join(dir, 'plan.json');
  if (!existsSync(planFile)) throw new UserError(`${planFile}: missing`);
  const plan = decodePlan(readFileSync(planFile, 'utf8'));
  const shared = !!opts.pool && opts.pool.threads > 1;
  const modules = manifest.kernels.map((k) => {
    const file = join(dir, shared ? k.shared : k.file);
    if (!existsSync(file)) throw new UserError(`${file}: missing kernel ${k.hash}`);
    return new WebAssembly.Module(readFileSync(file));
  });
  return { manifest, program: new WasmProgram(plan, modules, opts) };
}
