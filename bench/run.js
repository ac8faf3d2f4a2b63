#!/usr/bin/env node
// bench launcher: loads binaryen before tsx (see bin/obtc.js), then runs bench/run.ts.
// Wasm is compiled by the optimising tier only (--no-liftoff): a kernel runs long loops in a
// handful of calls, and with tier-up its optimised code queued behind binaryen's own (a 4096²
// matvec measured 15–23 ms on baseline code instead of 4–5 ms). Relaxed SIMD (its fused
// multiply-add) is still behind a flag in Node 20's V8; compiler/backends/wasm/codegen.ts probes for it.
(await import('node:v8')).default.setFlagsFromString(
  '--no-liftoff --no-wasm-dynamic-tiering --experimental-wasm-relaxed-simd',
);
await import('binaryen');
const { register } = await import('tsx/esm/api');
register();
await import('./run.ts');
