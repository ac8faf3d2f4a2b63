#!/usr/bin/env node
// launcher of bench/train_vs_nanogpt.ts (obtc train beside nanoGPT): tsx, as bench/run.js does.
await import('binaryen');
const { register } = await import('tsx/esm/api');
register();
await import('./train_vs_nanogpt.ts');
