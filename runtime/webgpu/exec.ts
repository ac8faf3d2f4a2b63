// Compiling for the WebGPU backend: the same fusion and plan as Wasm (no elementwise in-place
// kernels: a buffer is never bound read-only and read-write in one dispatch), WGSL per kernel.
import type { Func } from '../../compiler/core/ir.ts';
import { fuse, type FuseOptions } from '../../compiler/fuse/fuse.ts';
import { makePlan, type Plan } from '../../compiler/plan/plan.ts';
import { emitUpdate, emitWgsl, wgslGroups } from '../../compiler/emit/wgsl/kernel.ts';
import { GpuProgram, type PlanWgsl } from './program.ts';
import type { GpuDevice } from './device.ts';

export function compileWebGpu(f: Func, gpu: GpuDevice, opts: FuseOptions & { donate?: number[] } = {}): Promise<GpuProgram> {
  // a kernel binds its output and inputs: at most maxStorageBuffersPerShaderStage of them
  const plan = makePlan(fuse(f, { ...opts, maxInputs: gpu.maxStorageBuffers - 1 }), { donate: opts.donate, inPlaceKernels: false });
  return GpuProgram.create(plan, gpu, planWgsl(plan), { donate: opts.donate });
}

/** WGSL for every kernel and update step of a plan. */
export function planWgsl(plan: Plan): PlanWgsl {
  const updates: Record<number, string> = {};
  plan.steps.forEach((st, i) => {
    if (st.op !== 'update' || typeof st.upd !== 'number') return;
    const ob = plan.buffers[st.out]!;
    const dtype = ob.dtype === 'sign' || ob.dtype === 'u32' ? 'u32' : ob.dtype === 'f16' ? 'f32' : ob.dtype;
    updates[i] = emitUpdate(ob.shape, plan.buffers[st.upd]!.shape, dtype, st.starts.map((s) => (typeof s === 'number' ? s : { lit: s.lit })));
  });
  return { kernels: plan.kernels.map((k) => emitWgsl(k.kernel!)), groups: plan.kernels.map((k) => wgslGroups(k.kernel!)), updates };
}
