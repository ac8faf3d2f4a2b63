#!/usr/bin/env node
// obtc launcher. The installed package ships the compiled dist/ (npm run build) and no TypeScript:
// it runs dist/cli/main.js with no loader. In a checkout (cli/main.ts beside it) it registers tsx
// and runs the sources, so an edit needs no build; OBT_DIST=1 runs dist/ there too (the start-up
// benchmark does). tsx's path loads binaryen first (so the ESM cache holds it and tsx never
// re-transpiles its 14 MB of JavaScript).
// Wasm is compiled by the optimising tier only (--no-liftoff): a kernel runs long loops in a
// handful of calls, and with tier-up its optimised code queued behind binaryen's own (a 4096²
// matvec measured 15–23 ms on baseline code instead of 4–5 ms). Relaxed SIMD (its fused
// multiply-add) is still behind a flag in Node 20's V8; compiler/backends/wasm/codegen.ts probes for it.
import { existsSync } from 'node:fs';
import v8 from 'node:v8';

// A closed reader (`obtc generate | head`) ends the run quietly, as a shell tool does: no stack trace.
for (const s of [process.stdout, process.stderr])
  s.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
v8.setFlagsFromString('--no-liftoff --no-wasm-dynamic-tiering --experimental-wasm-relaxed-simd');
const source = new URL('../cli/main.ts', import.meta.url);
let main;
if (process.env.OBT_DIST !== '1' && existsSync(source)) {
  await import('binaryen');
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
