// The WebGPU device the tests use (Dawn on SwiftShader when the machine has no GPU). Tests that
// need it are skipped, with the reason in their names, only on a machine without a WebGPU adapter;
// CI installs SwiftShader, so there a missing adapter fails the suite instead of skipping.
import { nodeGpuDevice } from '../../runtime/env/node_gpu.ts';
import type { GpuDevice } from '../../runtime/webgpu/device.ts';

export const gpu: GpuDevice | undefined = await nodeGpuDevice().catch((e: Error) => {
  if (process.env.CI) throw e;
  return undefined;
});

/** appended to the names of WebGPU tests: why they were skipped, when they are */
export const gpuNote = gpu ? '' : ' (skipped: no WebGPU adapter)';
