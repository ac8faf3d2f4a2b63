// @ts-check
// The host functions Wasm kernels import (f64 in and out, as the reference computes them), in one
// table. Plain JavaScript: the worker threads (runtime/env/kernel_worker.js) start without the
// TypeScript loader and import it as it is; runtime/wasm/abi.ts types it for the compiler.
export const MATH = {
  exp: Math.exp,
  log: Math.log,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  pow: Math.pow,
  rem: (/** @type {number} */ a, /** @type {number} */ b) => a % b,
};
