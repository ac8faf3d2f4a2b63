#!/usr/bin/env node
// bench launcher: loads binaryen before tsx (see bin/obtc.js), then runs bench/run.ts.
// Wasm is compiled by the optimising tier only (--no-liftoff): a kernel runs long loops in a
// handful of calls, and with tier-up its optimised code queued behind binaryen's own (a 4096²
// matvec measured 15–23 ms on baseline code instead of 4–5 ms).
(await import('node:v8')).default.setFlagsFromString('--no-liftoff --no-wasm-dynamic-tiering');
await import('binaryen');
const { register } = await import('tsx/esm/api');
register();
await import('./run.ts');
