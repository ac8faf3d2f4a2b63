// The GPU object on Node: Dawn through the `webgpu` package. On a machine without a GPU, Dawn needs
// a Vulkan driver: SwiftShader from Debian's chromium package is used when VK_ICD_FILENAMES is
// unset. The object returned by create() is kept referenced for the whole process (if it is
// garbage-collected, Dawn crashes the process).
import { existsSync } from 'node:fs';
import { UserError } from '../core/errors.ts';
import { GpuDevice } from '../webgpu/device.ts';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
let kept: GPU | undefined;

export async function nodeGpu(): Promise<GPU> {
  if (kept) return kept;
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  let mod: { create(flags: string[]): GPU; globals: Record<string, unknown> };
  try {
    mod = (await import('webgpu')) as never;
  } catch (e) {
    throw new UserError(
      `the WebGPU backend on Node needs the optional 'webgpu' package (Dawn for Node; not installed with obt): ` +
        `npm install webgpu (${(e as Error).message.split('\n')[0]})`,
    );
  }
  // the WebGPU enums (GPUBufferUsage, GPUMapMode, ...) as globals, as in a browser
  for (const [k, v] of Object.entries(mod.globals))
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  kept = mod.create([]);
  return kept;
}

/** The WebGPU device on Node (adapter and limits negotiated once per call). */
export async function nodeGpuDevice(): Promise<GpuDevice> {
  return GpuDevice.open(await nodeGpu());
}
