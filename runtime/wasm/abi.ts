// The Wasm kernels' side of the calling convention that the runtime needs (the rest, which reads
// Kernel IR, is compiler/backends/wasm/emit/abi.ts): the memory's size limit, the host functions kernels
// import.
import { MATH } from './math.js';

/** Pages of the largest memory a kernel imports (4 GiB). */
export const MAX_PAGES = 65536;

/** The most bytes a program's memory may have: 4 GiB less a page, or less where the environment's
 *  OBT_WASM_MAX_MEMORY says (Node; a tighter budget, and how tests reach the limit cheaply). */
export function memoryLimit(): number {
  const max = (MAX_PAGES - 1) * 65536;
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const v = Number(env?.OBT_WASM_MAX_MEMORY);
  return v > 0 ? Math.min(max, v) : max;
}

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
