#!/usr/bin/env node
// obtc launcher: loads binaryen first (so the ESM cache holds it and tsx never re-transpiles its
// 14 MB of JavaScript), registers tsx so the TypeScript sources run directly, then starts the CLI.
// V8 tiers Wasm up lazily and never replaces a running kernel: compile every kernel with the
// optimising tier at once (a kernel runs a long loop in a handful of calls).
(await import('node:v8')).default.setFlagsFromString('--no-wasm-dynamic-tiering');
await import('binaryen');
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../compiler/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
