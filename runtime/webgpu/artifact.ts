// Compiled WebGPU artifacts (`obtc compile FILE --entry NAME --target webgpu -o DIR`): manifest.json
// (format, entry, inputs, outputs, files), plan.json (the plan, as for Wasm), kernels/<hash>.wgsl and
// updates/<step>.wgsl. Loads without the compiler (the loader reads text and builds pipelines); the
// browser page fetches the same files.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../core/errors.ts';
import { decodePlan, type TensorSpec } from '../wasm/artifact.ts';
import { GpuProgram, type PlanWgsl } from './program.ts';
import type { GpuDevice } from './device.ts';

export const GPU_ARTIFACT_FORMAT = 'obt-webgpu-artifact';
/** 2: kernels carry their workgroup count (tiled contractions) instead of a dispatch mode */
export const GPU_ARTIFACT_VERSION = 2;

export interface GpuManifest {
  format: typeof GPU_ARTIFACT_FORMAT;
  version: number;
  source: string;
  entry: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** the binding budget the kernels were split for */
  maxStorageBuffers: number;
  /** per kernel: its WGSL file and how many workgroups a run dispatches */
  kernels: { hash: string; file: string; groups: number }[];
  updates: { step: number; file: string }[];
}

/** The artifact's format, read from its manifest (undefined when there is none). */
export function artifactFormat(dir: string): string | undefined {
  const f = join(dir, 'manifest.json');
  if (!existsSync(f)) return undefined;
  try {
    return (JSON.parse(readFileSync(f, 'utf8')) as { format?: string }).format;
  } catch {
    return undefined;
  }
}

export async function loadGpuArtifact(
  dir: string,
  gpu: GpuDevice,
): Promise<{ manifest: GpuManifest; program: GpuProgram }> {
  const mf = join(dir, 'manifest.json');
  if (!existsSync(mf)) throw new UserError(`${mf}: missing (not a compiled artifact?)`);
  const manifest = JSON.parse(readFileSync(mf, 'utf8')) as GpuManifest;
  if (manifest.format !== GPU_ARTIFACT_FORMAT)
    throw new UserError(`${mf}: format ${String(manifest.format)}, expected ${GPU_ARTIFACT_FORMAT}`);
  if (manifest.maxStorageBuffers > gpu.maxStorageBuffers)
    throw new UserError(
      `${dir} was compiled for ${manifest.maxStorageBuffers} storage buffers per kernel; this adapter allows ${gpu.maxStorageBuffers}`,
    );
  if (manifest.version !== GPU_ARTIFACT_VERSION)
    throw new UserError(
      `${mf}: artifact version ${String(manifest.version)}, this runtime reads version ${GPU_ARTIFACT_VERSION} (compile it again)`,
    );
  const read = (f: string) => {
    const p = join(dir, f);
    if (!existsSync(p)) throw new UserError(`${p}: missing`);
    return readFileSync(p, 'utf8');
  };
  const plan = decodePlan(read('plan.json'));
  const wgsl: PlanWgsl = {
    kernels: manifest.kernels.map((k) => read(k.file)),
    groups: manifest.kernels.map((k) => k.groups),
    updates: Object.fromEntries(manifest.updates.map((u) => [u.step, read(u.file)])),
  };
  return { manifest, program: await GpuProgram.create(plan, gpu, wgsl) };
}
