// The Wasm kernels' side of the calling convention that the runtime needs (the rest, which reads
// Kernel IR, is compiler/backends/wasm/emit/abi.ts): the memory's size limit, the host functions kernels
// import.
import { MATH } from './math.js';

/** Pages of the largest memory a kernel imports (4 GiB). */
export const MAX_PAGES = 65536;

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
