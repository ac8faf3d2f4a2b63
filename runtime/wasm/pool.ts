// The thread pool the Wasm runtime is given (never created behind its back): worker threads that
// instantiate a program's kernel modules over one shared WebAssembly.Memory and run slices of a
// kernel's parallel units while the calling thread runs its own slice. runtime/env/node_threads.ts
// implements it with worker_threads; a browser implementation uses Web Workers the same way.

export interface KernelPool {
  /** threads that run kernels, the calling thread included */
  readonly threads: number;
  /** Loads a program's kernels into every worker (synchronously); returns its id. */
  attach(memory: WebAssembly.Memory, modules: WebAssembly.Module[]): number;
  /**
   * Runs kernel `kernel` of program `program` over units [0, units): worker w gets the slice
   * `slices[w + 1]` and the calling thread `slices[0]` (through `self`); returns when all are done.
   * `args(t)` are the kernel's arguments for thread t (its scratch differs), without lo and hi.
   */
  run(
    program: number,
    kernel: number,
    slices: [number, number][],
    args: (thread: number) => number[],
    self: (lo: number, hi: number) => void,
  ): void;
  /** Stops the workers. */
  close(): void;
}

/** Splits [0, units) into at most `threads` slices whose starts are multiples of `align`. */
export function split(units: number, threads: number, align: number): [number, number][] {
  const per = Math.ceil(units / threads / align) * align;
  const out: [number, number][] = [];
  for (let lo = 0; lo < units; lo += per) out.push([lo, Math.min(units, lo + per)]);
  return out;
}
