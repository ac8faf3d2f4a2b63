#!/usr/bin/env node
// obtc launcher: loads binaryen first (so the ESM cache holds it and tsx never re-transpiles its
// 14 MB of JavaScript), registers tsx so the TypeScript sources run directly, then starts the CLI.
await import('binaryen');
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../compiler/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
