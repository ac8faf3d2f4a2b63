// The Wasm kernels' side of the calling convention that the runtime needs (the rest, which reads
// Kernel IR, is compiler/emit/wasm/abi.ts): the memory's size limit, the host functions kernels
// import.
/** Pages of the largest memory a kernel imports (4 GiB). */
export const MAX_PAGES = 65536;

/** Host functions the kernels import (f64 in and out, as the reference computes them). The worker
 *  threads' copy is runtime/env/kernel_worker.js (plain JavaScript). */
const MATH = {
  exp: Math.exp,
  log: Math.log,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  pow: Math.pow,
  rem: (a: number, b: number) => a % b,
};

/** The name of a host math function a kernel may import. */
export type MathImport = keyof typeof MATH;

/** name → arity */
export const MATH_IMPORTS = Object.fromEntries(Object.entries(MATH).map(([k, f]) => [k, f.length])) as Record<
  MathImport,
  number
>;

export function mathImports(): Record<MathImport, (...x: number[]) => number> {
  return { ...MATH };
}
