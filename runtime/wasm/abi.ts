// The Wasm kernels' side of the calling convention that the runtime needs (the rest, which reads
// Kernel IR, is compiler/emit/wasm/abi.ts): the memory's size limit, the host functions kernels
// import.
/** Pages of the largest memory a kernel imports (4 GiB). */
export const MAX_PAGES = 65536;

/** Host functions the kernels import (f64 in and out, as the reference computes them): name → arity. */
export const MATH_IMPORTS: Record<string, number> = { exp: 1, log: 1, sin: 1, cos: 1, tanh: 1, pow: 2, rem: 2 };

export function mathImports(): Record<string, (...x: number[]) => number> {
  return {
    exp: Math.exp,
    log: Math.log,
    sin: Math.sin,
    cos: Math.cos,
    tanh: Math.tanh,
    pow: Math.pow,
    rem: (a, b) => a % b,
  };
}
