// Compiling for the WebGPU backend: the same fusion and plan as Wasm (no elementwise in-place
// kernels: a buffer is never bound read-only and read-write in one dispatch), WGSL per kernel.
import type { Func } from '../../compiler/core/ir.ts';
import { fuse, type FuseOptions } from '../../compiler/fuse/fuse.ts';
import { makePlan } from '../../compiler/plan/plan.ts';
import { emitWgsl } from '../../compiler/emit/wgsl/kernel.ts';
import { GpuProgram } from './program.ts';
import type { GpuDevice } from './device.ts';

export function compileWebGpu(f: Func, gpu: GpuDevice, opts: FuseOptions & { donate?: number[] } = {}): GpuProgram {
  // a kernel binds its output and inputs: at most maxStorageBuffersPerShaderStage of them
  const plan = makePlan(fuse(f, { ...opts, maxInputs: gpu.maxStorageBuffers - 1 }), { donate: opts.donate, inPlaceKernels: false });
  return new GpuProgram(plan, gpu, plan.kernels.map((k) => emitWgsl(k.kernel!)));
}
