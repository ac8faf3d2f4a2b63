// Entry of the language server's analysis thread; the worker proper is lsp_worker.ts (compiled:
// lsp_worker.js). Run from the TypeScript sources (a checkout), tsx is registered first: a worker
// thread does not inherit the main thread's loader hooks.
import { workerData } from 'node:worker_threads';

if (workerData?.tsx) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(new URL(workerData?.tsx ? './lsp_worker.ts' : './lsp_worker.js', import.meta.url).href);
