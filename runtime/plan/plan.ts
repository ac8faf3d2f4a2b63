// The execution plan's schema: a serialisable program of `alloc | run | host | update | free` steps
// over buffers at static offsets in one linear memory. The compiler makes plans
// (compiler/plan/plan.ts), artifacts carry them as JSON (plan_json.ts), and the Wasm and WebGPU
// programs run them.
import type { DType } from '../core/dtype.ts';
import type { Stored } from '../core/tensor.ts';
import type { Eqn } from '../core/ir.ts';

export interface PlanBuffer {
  dtype: DType;
  shape: number[];
  bytes: number;
  offset: number;
  role: 'input' | 'output' | 'temp';
  /** an f32 input held at a 16-bit stored precision (runtime/core/stored.ts): 2 bytes an element */
  stored?: Stored;
}

export type PlanStep =
  | { op: 'alloc'; buf: number }
  | { op: 'free'; buf: number }
  /** ops, src: the Core primitives fused into this run and their source locations (profiles) */
  | { op: 'run'; kernel: number; out: number; ins: number[]; ops?: string[]; src?: string[] }
  | { op: 'host'; eqn: number; outs: number[]; ins: (number | Lit)[] }
  | { op: 'update'; out: number; operand: number | Lit; upd: number | Lit; starts: (number | Lit)[]; inPlace: boolean }
  /** a result copied into a donated parameter's buffer (targets without in-place kernels), so
   *  that it is resident there when passed back */
  | { op: 'copy'; from: number; to: number };

export type Lit = { lit: number; dtype: DType };

/** A plan's kernel: its structural hash, scratch bytes and thread split; `kernel` is the compiler's
 *  Kernel IR (K), absent in a loaded artifact. */
export interface PlanKernel<K = unknown> {
  hash: string;
  /** its kind and extents, e.g. `dot 2048×512 · K 64` (profiles) */
  desc?: string;
  kernel?: K;
  scratch: number;
  par: Parallelism;
}

export interface Plan<K = unknown> {
  kernels: PlanKernel<K>[];
  hostEqns: Eqn[];
  buffers: PlanBuffer[];
  steps: PlanStep[];
  inputs: number[];
  outputs: (number | Lit)[];
  scratch: { offset: number; bytes: number };
  /** bytes of linear memory the plan needs (inputs, outputs, temporaries, scratch) */
  memoryBytes: number;
  /** the most bytes live at once */
  peakBytes: number;
}

/** How a kernel's work splits across threads. */
export interface Parallelism {
  /** independent pieces of work: rows of a loop kernel's output, rows of B of a dot, output features of a signlinear */
  units: number;
  /** a thread's slice starts at a multiple of this */
  align: number;
  /** estimated multiply-adds (small kernels are not worth a dispatch) */
  work: number;
}
