// vitest configuration: all tests under test/, run in worker threads.
import { defineConfig } from 'vitest/config';
import { existsSync } from 'node:fs';
import v8 from 'node:v8';

// WebGPU tests (Dawn) on a machine without a GPU use SwiftShader; the Vulkan loader reads the
// process's native environment, which worker threads cannot change: set it here, in the main process
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;

// as bin/obtc.js: relaxed SIMD (the kernels' fused multiply-add) on, so the suite runs what users
// run; tests of the plain-SIMD path turn it off with OBT_RELAXED_SIMD=0. V8's flags are per
// process: the worker threads see it.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    pool: 'threads',
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
