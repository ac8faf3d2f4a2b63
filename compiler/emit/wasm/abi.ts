// The calling convention of the Wasm kernels on the compiler's side: parameters, scratch layouts and
// thread split computed from Kernel IR. What the runtime needs of it (memory limit, host imports,
// the Parallelism record) is runtime/wasm/abi.ts, free of the compiler and binaryen.
import type { DotKernel, Kernel, SignKernel } from '../../kir/ir.ts';
import type { Parallelism } from '../../../runtime/plan/plan.ts';

export { MAX_PAGES, MATH_IMPORTS, mathImports } from '../../../runtime/wasm/abi.ts';

/** dot register blocks: MR rows of A × NR rows of B; a thread's rows of B start at a multiple of NR */
export const DOT_MR = 2;
export const DOT_NR = 4;

/** Parameter indices of a kernel function `(out, ins..., scratch, lo, hi)`. */
export const paramsOf = (k: Kernel) => ({ scratch: 1 + k.ins.length, lo: 2 + k.ins.length, hi: 3 + k.ins.length, count: 4 + k.ins.length });

export type SignMethod = 'lut' | 'xor';
export const SIGN_METHODS: readonly SignMethod[] = ['lut', 'xor'];

/** The signlinear method the emitter uses (OBT_SIGNLINEAR=xor|lut overrides it for measurements). */
export function signMethod(): SignMethod {
  const v = process.env.OBT_SIGNLINEAR;
  return v === 'xor' || v === 'lut' ? v : 'lut';
}

/** groups of 8 columns per signlinear LUT tile (a multiple of 4, at most 16): 8 tables × 1 KB stay in L1 */
export const SIGN_TG = 8;
const align16 = (n: number) => Math.ceil(n / 16) * 16;

/** signlinear scratch: x⊙g of one row (zero-padded to whole words), then (lut) the O partial sums
 *  and the tables of one tile. */
export function signScratch(k: SignKernel, method: SignMethod = signMethod()): { xg: number; y: number; tab: number; bytes: number } {
  const W = Math.ceil(k.I / 32);
  const xg = 0;
  const y = W * 128;
  const tab = y + align16(k.O * 4);
  return method === 'lut' ? { xg, y, tab, bytes: tab + SIGN_TG * 1024 } : { xg, y, tab: y, bytes: y };
}

/** dot scratch: the raw products of a bool-valued output. */
export function dotScratch(k: DotKernel): number {
  return k.outDtype === 'bool' ? k.B * k.M * k.N * 4 : 0;
}

/** Scratch bytes a kernel needs per thread. */
export function scratchOf(k: Kernel): number {
  return k.kind === 'signlinear' ? signScratch(k).bytes + 16 : k.kind === 'dot' ? dotScratch(k) : 0;
}

export function parallelism(k: Kernel): Parallelism {
  const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
  if (k.kind === 'dot') return { units: k.N, align: DOT_NR, work: k.B * k.M * k.N * k.K };
  if (k.kind === 'signlinear') return { units: k.O, align: 4, work: (k.M * k.O * k.I) / 4 };
  const rows = k.shape.length ? numel(k.shape.slice(0, -1)) : 1;
  return { units: rows, align: 1, work: numel(k.shape) * (k.red ? numel(k.red.shape) : 1) };
}
