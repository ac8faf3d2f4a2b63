// The calling convention of the Wasm kernels on the compiler's side: parameters and a loop kernel's
// thread split (templates give their own scratch and split: compiler/templates/). What the runtime needs of it (memory limit, host imports,
// the Parallelism record) is runtime/wasm/abi.ts, free of the compiler and binaryen.
import type { Kernel, LoopKernel } from '../../../kir/ir.ts';
import type { Parallelism } from '../../../../runtime/plan/plan.ts';
import { transposeForm, transposeUnits } from './transpose.ts';

export { MAX_PAGES, MATH_IMPORTS, mathImports } from '../../../../runtime/wasm/abi.ts';

/** Parameter indices of a kernel function `(out, ins..., scratch, lo, hi)`. */
export const paramsOf = (k: Kernel) => ({
  scratch: 1 + k.ins.length,
  lo: 2 + k.ins.length,
  hi: 3 + k.ins.length,
  count: 4 + k.ins.length,
});

/** Whether a loop kernel's parallel units are the elements of its only output row (4-aligned
 *  slices) rather than its rows. */
export function columnSplit(k: LoopKernel): boolean {
  const r = k.shape.length;
  return r > 0 && k.shape.slice(0, -1).every((d) => d === 1) && k.shape[r - 1]! >= 8;
}

/** How a loop kernel's work splits across threads: by rows of its output (see columnSplit). */
export function loopParallelism(k: LoopKernel): Parallelism {
  const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const rows = k.shape.length ? numel(k.shape.slice(0, -1)) : 1;
  const work = numel(k.shape) * (k.red ? numel(k.red.shape) : 1);
  // a transpose: groups of 4 output rows (compiler/backends/wasm/emit/transpose.ts)
  if (transposeForm(k)) return { units: transposeUnits(k), align: 1, work };
  // one row (a column reduction's [N] result): its elements split instead, in groups of 4 lanes
  if (columnSplit(k)) return { units: k.shape[k.shape.length - 1]!, align: 4, work };
  return { units: rows, align: 1, work };
}
