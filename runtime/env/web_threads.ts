// KernelPool for browsers: Web Workers (script URL injected: `obtc serve` bundles
// runtime/env/web_kernel_worker.ts) over the shared memory of a cross-origin-isolated page. The
// page's main thread may not block: it spins on the control words (Atomics.load) while workers
// run their slices; program loading goes by postMessage and is acknowledged in the control block.
// The control slot's words are named in control.js (shared with the Node pool and both workers).
import type { KernelPool } from '../wasm/pool.ts';
import { ARGS, CMD, DONE, KERNEL, LOAD_ACK, MAX_ARGS, NARGS, PROGRAM, RUN, SEQ, SLOT_INTS, STOP } from './control.js';

export class WebThreadPool implements KernelPool {
  private readonly ctl: Int32Array;
  private readonly workers: Worker[] = [];
  private seq = 0;
  private programs = 0;
  private loads = 0;

  private constructor(readonly threads: number) {
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * SLOT_INTS * Math.max(1, threads - 1)));
  }

  /** Starts threads − 1 workers from the worker script's URL and waits until they are ready. */
  static async create(threads: number, workerUrl: string | URL): Promise<WebThreadPool> {
    const p = new WebThreadPool(threads);
    await Promise.all(
      Array.from({ length: threads - 1 }, (_, slot) => {
        const w = new Worker(workerUrl, { type: 'module' });
        p.workers.push(w);
        return new Promise<void>((ok, fail) => {
          w.onmessage = () => ok();
          w.onerror = (e) => fail(new Error(`kernel worker: ${e.message}`));
          w.postMessage({ kind: 'init', control: p.ctl.buffer, slot });
        });
      }),
    );
    return p;
  }

  private spin(i: number, want: number): void {
    while (Atomics.load(this.ctl, i) !== want) {
      /* the main thread may not Atomics.wait: spin */
    }
  }

  attach(memory: WebAssembly.Memory, modules: WebAssembly.Module[]): number {
    const id = this.programs++;
    const ack = ++this.loads;
    this.workers.forEach((w) => w.postMessage({ kind: 'load', id, memory, modules, ack }));
    this.workers.forEach((_, k) => this.spin(k * SLOT_INTS + LOAD_ACK, ack));
    return id;
  }

  run(
    program: number,
    kernel: number,
    slices: [number, number][],
    args: (thread: number) => number[],
    self: (lo: number, hi: number) => void,
  ): void {
    this.seq++;
    const used = Math.min(slices.length - 1, this.workers.length);
    for (let w = 0; w < used; w++) {
      const a = [...args(w + 1), slices[w + 1]![0], slices[w + 1]![1]];
      if (a.length > MAX_ARGS) throw new RangeError(`kernel with ${a.length} arguments; at most ${MAX_ARGS}`);
      const b = w * SLOT_INTS;
      this.ctl[b + CMD] = RUN;
      this.ctl[b + PROGRAM] = program;
      this.ctl[b + KERNEL] = kernel;
      this.ctl[b + NARGS] = a.length;
      a.forEach((v, i) => (this.ctl[b + ARGS + i] = v));
      Atomics.store(this.ctl, b + SEQ, this.seq);
      Atomics.notify(this.ctl, b + SEQ);
    }
    self(slices[0]![0], slices[0]![1]);
    for (let w = 0; w < used; w++) this.spin(w * SLOT_INTS + DONE, this.seq);
  }

  close(): void {
    this.seq++;
    this.workers.forEach((w, k) => {
      this.ctl[k * SLOT_INTS + CMD] = STOP;
      Atomics.store(this.ctl, k * SLOT_INTS + SEQ, this.seq);
      Atomics.notify(this.ctl, k * SLOT_INTS + SEQ);
      w.terminate();
    });
  }
}
