// The WebGPU target: plan options (kernels bind at most maxStorageBuffersPerShaderStage buffers, no
// in-place elementwise kernels), WGSL for every kernel and update step, the runnable GpuProgram
// and the artifact directory (format in runtime/webgpu/artifact.ts). The plan itself comes from
// compiler/pipeline.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KPlan } from '../../../plan/plan.ts';
import type { ArtifactMeta, ParamLeaf, TargetPlanOptions } from '../../artifact.ts';
import { emitUpdate } from '../emit/kernel.ts';
import { kernelGroups, kernelWgsl } from '../codegen.ts';
import { encodePlan } from '../../../../runtime/plan/json.ts';
import { GpuProgram, type GpuProgramOptions, type PlanWgsl } from '../../../../runtime/webgpu/program.ts';
import type { GpuDevice } from '../../../../runtime/webgpu/device.ts';
import { GPU_ARTIFACT_FORMAT, GPU_ARTIFACT_VERSION, type GpuManifest } from '../../../../runtime/webgpu/artifact.ts';
import { PORTABLE_STORAGE_BUFFERS } from '../../../../runtime/webgpu/abi.ts';
import { planOutputs } from '../../wasm/artifact/target.ts';

/** Plan options for a device binding at most `maxStorageBuffers` buffers per kernel (output included). */
export function webgpuPlan(maxStorageBuffers: number): TargetPlanOptions {
  return { inPlaceKernels: false, maxInputs: maxStorageBuffers - 1 };
}

/** Plan options of an artifact: the portable binding budget every adapter offers. */
export const WEBGPU_ARTIFACT_PLAN = webgpuPlan(PORTABLE_STORAGE_BUFFERS);

/** WGSL for every kernel and update step of a plan. */
export function planWgsl(plan: KPlan): PlanWgsl {
  const updates: Record<number, string> = {};
  plan.steps.forEach((st, i) => {
    if (st.op !== 'update' || typeof st.upd !== 'number') return;
    const ob = plan.buffers[st.out]!;
    const dtype = ob.dtype === 'sign' || ob.dtype === 'u32' ? 'u32' : ob.dtype === 'f16' ? 'f32' : ob.dtype;
    updates[i] = emitUpdate(
      ob.shape,
      plan.buffers[st.upd]!.shape,
      dtype,
      st.starts.map((s) => (typeof s === 'number' ? s : { lit: s.lit })),
    );
  });
  return {
    kernels: plan.kernels.map((k) => kernelWgsl(k.kernel!)),
    groups: plan.kernels.map((k) => kernelGroups(k.kernel!)),
    updates,
  };
}

/** A runnable program of a plan, its pipelines compiled first. */
export function gpuProgram(plan: KPlan, wgsl: PlanWgsl, gpu: GpuDevice, opts: GpuProgramOptions): Promise<GpuProgram> {
  return GpuProgram.create(plan, gpu, wgsl, opts);
}

/** Writes a WebGPU artifact: WGSL per kernel and update step, the plan, then the manifest (last). */
export function writeGpuArtifact(
  dir: string,
  plan: KPlan,
  wgsl: PlanWgsl,
  params: ParamLeaf[],
  meta: ArtifactMeta,
): GpuManifest {
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
    inputs: params.map((p) => ({ path: p.path, dtype: p.dtype, shape: p.shape })),
    outputs: planOutputs(plan),
    maxStorageBuffers: PORTABLE_STORAGE_BUFFERS,
    kernels,
    updates,
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
