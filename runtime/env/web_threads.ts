// KernelPool for browsers: Web Workers (script URL injected: `obtc serve` bundles
// runtime/env/web_kernel_worker.ts) over the shared memory of a cross-origin-isolated page. The
// page's main thread may not block: it spins on the control words (Atomics.load) while workers
// run their slices; program loading goes by postMessage and is acknowledged in the control block.
// Control slot layout: [seq, done, loadAck, cmd, program, kernel, nargs, args...].
import type { KernelPool } from '../wasm/pool.ts';

const SLOT = 64;

export class WebThreadPool implements KernelPool {
  private readonly ctl: Int32Array;
  private readonly workers: Worker[] = [];
  private seq = 0;
  private programs = 0;
  private loads = 0;

  private constructor(readonly threads: number) {
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * SLOT * Math.max(1, threads - 1)));
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
          w.postMessage({ kind: 'init', control: p.ctl.buffer, slot, slotInts: SLOT });
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
    this.workers.forEach((_, k) => this.spin(k * SLOT + 2, ack));
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
      const b = w * SLOT;
      this.ctl[b + 3] = 2;
      this.ctl[b + 4] = program;
      this.ctl[b + 5] = kernel;
      this.ctl[b + 6] = a.length;
      a.forEach((v, i) => (this.ctl[b + 7 + i] = v));
      Atomics.store(this.ctl, b, this.seq);
      Atomics.notify(this.ctl, b);
    }
    self(slices[0]![0], slices[0]![1]);
    for (let w = 0; w < used; w++) this.spin(w * SLOT + 1, this.seq);
  }

  close(): void {
    this.seq++;
    this.workers.forEach((w, k) => {
      this.ctl[k * SLOT + 3] = 3;
      Atomics.store(this.ctl, k * SLOT, this.seq);
      Atomics.notify(this.ctl, k * SLOT);
      w.terminate();
    });
  }
}
