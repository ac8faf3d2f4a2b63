// WGSL of a kernel: loop kernels by the generic emitter (compiler/backends/webgpu/emit/kernel.ts), template
// kernels by the same emitter with their record's hooks (compiler/templates/).
import type { Kernel } from '../../kir/ir.ts';
import { emitWgsl, wgslGroups, wgslMode, type WgslMode, type WgslTemplate } from './emit/kernel.ts';
import { templateOf } from '../../templates/index.ts';

export type { WgslMode } from './emit/kernel.ts';

const hooks = (k: Kernel) => (k.kind === 'loop' ? undefined : (templateOf(k).wgsl as WgslTemplate<Kernel>));

/** How a kernel is dispatched (see wgslMode in compiler/backends/webgpu/emit/kernel.ts). */
export const kernelMode = (k: Kernel): WgslMode => wgslMode(k, hooks(k));
/** Workgroups one run of the kernel dispatches. */
export const kernelGroups = (k: Kernel): number => wgslGroups(k, hooks(k));
/** The kernel's WGSL module. */
export const kernelWgsl = (k: Kernel): string => emitWgsl(k, hooks(k));
