#!/usr/bin/env node
// bench launcher: loads binaryen before tsx (see bin/obtc.js), then runs bench/run.ts.
// V8 tiers Wasm up lazily and never replaces a running kernel: compile every kernel with the
// optimising tier at once (a kernel runs a long loop in a handful of calls).
(await import('node:v8')).default.setFlagsFromString('--no-wasm-dynamic-tiering');
await import('binaryen');
const { register } = await import('tsx/esm/api');
register();
await import('./run.ts');
