// Writes a compiled WebGPU artifact (format in runtime/webgpu/artifact.ts): kernels split for the
// portable binding budget, WGSL per kernel and update step, the plan, then the manifest (last).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lowered } from '../../api.ts';
import { fuse } from '../../fuse/fuse.ts';
import { makePlan } from '../../plan/plan.ts';
import { encodePlan } from '../../../runtime/wasm/artifact.ts';
import { planWgsl } from '../../../runtime/webgpu/exec.ts';
import { GPU_ARTIFACT_FORMAT, GPU_ARTIFACT_VERSION, type GpuManifest } from '../../../runtime/webgpu/artifact.ts';
import { PORTABLE_STORAGE_BUFFERS } from './abi.ts';

export function writeGpuArtifact(dir: string, low: Lowered, meta: { source: string; entry: string; donate?: number[] }): GpuManifest {
  const plan = makePlan(fuse(low.func, { maxInputs: PORTABLE_STORAGE_BUFFERS - 1 }), { inPlaceKernels: false, donate: meta.donate });
  const wgsl = planWgsl(plan);
  mkdirSync(join(dir, 'kernels'), { recursive: true });
  mkdirSync(join(dir, 'updates'), { recursive: true });
  const kernels = plan.kernels.map((k, i) => {
    const file = `kernels/${k.hash}.wgsl`;
    writeFileSync(join(dir, file), wgsl.kernels[i]!);
    return { hash: k.hash, file, groups: wgsl.groups[i]! };
  });
  const updates = Object.entries(wgsl.updates).map(([step, code]) => {
    const file = `updates/${step}.wgsl`;
    writeFileSync(join(dir, file), code);
    return { step: Number(step), file };
  });
  writeFileSync(join(dir, 'plan.json'), encodePlan(plan));
  const manifest: GpuManifest = {
    format: GPU_ARTIFACT_FORMAT,
    version: GPU_ARTIFACT_VERSION,
    source: meta.source,
    entry: meta.entry,
    inputs: low.params.map((p) => ({ path: p.path, dtype: p.dtype, shape: p.shape })),
    outputs: plan.outputs.map((o, i) => (typeof o === 'number' ? { path: `out${i}`, dtype: plan.buffers[o]!.dtype, shape: plan.buffers[o]!.shape } : { path: `out${i}`, dtype: o.dtype, shape: [] })),
    maxStorageBuffers: PORTABLE_STORAGE_BUFFERS,
    kernels,
    updates,
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
