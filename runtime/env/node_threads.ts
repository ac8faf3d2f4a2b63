// KernelPool on Node's worker_threads: one control slot of Int32s per worker in a
// SharedArrayBuffer (its words named in control.js). A command bumps SEQ and notifies; the worker
// spins for up to SPIN_MS, then sleeps in Atomics.wait; DONE echoes SEQ when finished. Programs are loaded through a MessagePort the worker reads synchronously, so attach()
// and run() never wait for an event loop. Workers are unref'd: they never keep a process alive.
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { KernelPool } from '../wasm/pool.ts';
import { ARGS, CMD, DONE, KERNEL, LOAD, MAX_ARGS, NARGS, PROGRAM, RUN, SEQ, SLOT_INTS, STOP } from './control.js';
/** How long a waiting thread polls before it sleeps. A training step dispatches ~150 split kernels
 *  with host work and small single-threaded kernels between them; a worker that has fallen asleep
 *  takes a futex wake-up to start (tens to hundreds of µs in a VM), which its slice then waits for.
 *  Measured on stories260K's KD step, 2 threads: 20 000 polls (~40 µs) 265 ms per step, 5 ms
 *  214 ms. The price: an idle pool keeps a core busy for 5 ms after its last dispatch. */
const SPIN_MS = 5; // Atomics.load polls before sleeping (~20–50 µs): dispatches in a burst stay awake

export class NodeThreadPool implements KernelPool {
  private readonly ctl: Int32Array;
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private seq = 0;
  private programs = 0;
  /** kernel calls split across the workers so far */
  dispatches = 0;

  constructor(readonly threads: number) {
    if (!Number.isInteger(threads) || threads < 1)
      throw new RangeError(`threads: expected a positive integer, got ${threads}`);
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * SLOT_INTS * Math.max(1, threads - 1)));
    for (let w = 0; w < threads - 1; w++) {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(new URL('./kernel_worker.js', import.meta.url), {
        workerData: { control: this.ctl.buffer, slot: w, port: port2, spinMs: SPIN_MS },
        transferList: [port2],
      });
      worker.unref();
      port1.unref();
      this.workers.push(worker);
      this.ports.push(port1);
    }
  }

  /** A command for worker w: RUN's program, kernel and arguments, or LOAD, or STOP. */
  private command(w: number, cmd: number, run?: { program: number; kernel: number; args: number[] }): void {
    const b = w * SLOT_INTS;
    this.ctl[b + CMD] = cmd;
    if (run) {
      this.ctl[b + PROGRAM] = run.program;
      this.ctl[b + KERNEL] = run.kernel;
      this.ctl[b + NARGS] = run.args.length;
      run.args.forEach((v, i) => (this.ctl[b + ARGS + i] = v));
    }
    Atomics.store(this.ctl, b + SEQ, this.seq);
    Atomics.notify(this.ctl, b + SEQ);
  }

  private wait(w: number): void {
    const b = w * SLOT_INTS + DONE;
    const until = performance.now() + SPIN_MS;
    let n = 0;
    let spinning = true;
    while (Atomics.load(this.ctl, b) !== this.seq) {
      // the clock is read every 256 polls
      if (spinning && ++n % 256 === 0) spinning = performance.now() < until;
      if (!spinning) Atomics.wait(this.ctl, b, Atomics.load(this.ctl, b), 1);
    }
  }

  attach(memory: WebAssembly.Memory, modules: WebAssembly.Module[]): number {
    const id = this.programs++;
    this.seq++;
    this.workers.forEach((_, w) => {
      this.ports[w]!.postMessage({ id, memory, modules });
      this.command(w, LOAD);
    });
    this.workers.forEach((_, w) => this.wait(w));
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
    this.dispatches++;
    const used = Math.min(slices.length - 1, this.workers.length);
    for (let w = 0; w < used; w++) {
      const a = [...args(w + 1), slices[w + 1]![0], slices[w + 1]![1]];
      if (a.length > MAX_ARGS) throw new RangeError(`kernel with ${a.length} arguments; at most ${MAX_ARGS}`);
      this.command(w, RUN, { program, kernel, args: a });
    }
    self(slices[0]![0], slices[0]![1]);
    for (let w = 0; w < used; w++) this.wait(w);
  }

  close(): void {
    this.seq++;
    this.workers.forEach((_, w) => this.command(w, STOP));
    for (const w of this.workers) void w.terminate();
  }
}
