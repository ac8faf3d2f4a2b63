// The Wasm runtime: loads a Plan and its compiled kernels into one WebAssembly.Memory and runs it.
// Kernel steps call the kernel's exported function with the buffers' static byte offsets; host
// steps run the primitive's reference rule on typed-array views of the same memory; update steps
// write a slice. An input whose tensor object is the same as last run's is not copied again
// (weights stay resident). Nothing here needs the compiler's front end, fusion or binaryen: a
// compiled artifact (runtime/wasm/artifact.ts) loads with this file alone.
import type { Plan, PlanBuffer, PlanStep } from '../plan/plan.ts';
import { mathImports, MAX_PAGES, memoryLimit } from './abi.ts';
import { split, type KernelPool } from './pool.ts';
import { alloc, storageSize, type Storage, type Tensor } from '../core/tensor.ts';
import { storedBytes, storedToFloats, widen } from '../core/stored.ts';
import { formatBytes, InternalError, MemoryLimitError, UserError } from '../core/errors.ts';
import { hostContext, literalTensor, Residency, runHostStep, type NestedRunner } from '../plan/executor.ts';
import { activeProfiler, Profiler, stepEntry } from '../plan/profile.ts';

type KernelFn = (...ptrs: number[]) => void;

/** A buffer's elements in the memory (a stored input's: its values widened, a copy to read). */
function view(mem: WebAssembly.Memory, b: PlanBuffer): Storage {
  const n = storageSize(b.dtype, b.shape);
  if (b.stored) return storedToFloats(b.stored, new Uint8Array(mem.buffer, b.offset, storedBytes(b.stored, n)));
  switch (b.dtype) {
    case 'f32':
    case 'f16':
      return new Float32Array(mem.buffer, b.offset, n);
    case 'i32':
      return new Int32Array(mem.buffer, b.offset, n);
    case 'u32':
    case 'sign':
      return new Uint32Array(mem.buffer, b.offset, n);
    case 'bool':
      return new Uint8Array(mem.buffer, b.offset, n);
  }
}

export interface ProgramOptions {
  /** an existing memory to run in (grown as needed; shared when a pool is given) */
  memory?: WebAssembly.Memory;
  /** worker threads (runtime/env/): kernels big enough are split across them over a shared memory */
  pool?: KernelPool;
  /**
   * Parameters donated to the run: the plan may update them in place (dynamic_update_slice). A
   * result that ends up in a donated parameter's buffer is returned as a view of the memory (valid
   * until the next run) and stays resident: passing that tensor back as the same parameter next
   * run copies nothing (a KV cache in a decode loop).
   */
  donate?: number[];
  /** how a host step runs a nested function (iterate bodies): compiled, or by default interpreted */
  nested?: NestedRunner;
  /** record every step's time here (default: the active profiler, if any) */
  profile?: Profiler;
}

/** multiply-adds below which a kernel runs on the calling thread alone (a dispatch costs ~10 µs) */
const MIN_PARALLEL_WORK = 1 << 17;
const align16 = (n: number) => Math.ceil(n / 16) * 16;

export class WasmProgram {
  readonly memory: WebAssembly.Memory;
  private readonly ops: (() => void)[] = [];
  private readonly residency: Residency;
  private readonly prof: Profiler | undefined;

  constructor(
    readonly plan: Plan,
    modules: WebAssembly.Module[],
    opts: ProgramOptions = {},
  ) {
    this.residency = new Residency(plan, opts.donate, 'wasm');
    // host steps' nested functions (iterate bodies, custom_vjp forwards) are prepared on first use
    const ctx = hostContext(opts.nested);
    const pool = opts.pool && opts.pool.threads > 1 ? opts.pool : undefined;
    // the scratch of thread t > 0 lies after the plan's memory
    const scratchStride = align16(plan.scratch.bytes);
    const scratchOf = (t: number) =>
      t === 0 ? plan.scratch.offset : align16(plan.memoryBytes) + (t - 1) * scratchStride;
    const bytes = pool ? scratchOf(pool.threads - 1) + scratchStride : plan.memoryBytes;
    const pages = Math.ceil(bytes / 65536) + 1;
    const limit = memoryLimit();
    if (pages * 65536 > limit + 65536) {
      // refused before anything is allocated, naming the largest tensors
      const big = [...plan.buffers]
        .sort((a, b) => b.bytes - a.bytes)
        .slice(0, 2)
        .map((b) => `${b.stored ?? b.dtype}[${b.shape.join(', ')}] ${formatBytes(b.bytes)}`);
      throw new MemoryLimitError(
        `wasm: this program needs ${bytes} bytes (${formatBytes(bytes)}) of memory (largest tensors: ${big.join(', ')}); WebAssembly memory holds at most ${limit} bytes here`,
        bytes,
        limit,
        'split the computation (e.g. in chunks with fold) or make the tensors smaller',
      );
    }
    try {
      this.memory = opts.memory ?? new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared: !!pool });
      const have = this.memory.buffer.byteLength / 65536;
      if (have < pages) this.memory.grow(pages - have);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      throw new UserError(`wasm: cannot allocate ${formatBytes(bytes)} of memory for this program (${e.message})`);
    }
    const env = { memory: this.memory, ...mathImports() };
    const fns: KernelFn[] = modules.map((mod) => new WebAssembly.Instance(mod, { env }).exports.kernel as KernelFn);
    const program = pool?.attach(this.memory, modules);
    const off = (b: number) => plan.buffers[b]!.offset;
    const prof = (this.prof = opts.profile ?? activeProfiler());
    for (const st of plan.steps) {
      const before = this.ops.length;
      if (st.op === 'run') {
        const f = fns[st.kernel]!;
        const par = plan.kernels[st.kernel]!.par;
        const bufs = [off(st.out), ...st.ins.map(off)];
        const args = [...bufs, plan.scratch.offset, 0, par.units];
        if (pool && par.work >= MIN_PARALLEL_WORK && par.units >= 2 * par.align) {
          const slices = split(par.units, pool.threads, par.align);
          const self = (lo: number, hi: number) => f(...bufs, scratchOf(0), lo, hi);
          this.ops.push(() => pool.run(program!, st.kernel, slices, (t) => [...bufs, scratchOf(t)], self));
        } else this.ops.push(() => f(...args));
      } else if (st.op === 'update') {
        this.ops.push(() => this.update(st));
      } else if (st.op === 'copy') {
        this.ops.push(() =>
          view(this.memory, plan.buffers[st.to]!).set(view(this.memory, plan.buffers[st.from]!) as never),
        );
      } else if (st.op === 'host') {
        this.ops.push(() => {
          const outs = runHostStep(
            plan,
            st,
            (a) => ({
              dtype: plan.buffers[a]!.dtype,
              shape: plan.buffers[a]!.shape,
              data: view(this.memory, plan.buffers[a]!),
            }),
            ctx,
          );
          st.outs.forEach((o, i) =>
            (view(this.memory, plan.buffers[o]!) as Float32Array).set(outs[i]!.data as Float32Array),
          );
        });
      }
      if (prof && this.ops.length > before) {
        // profiling: the step's op, timed into its entry
        const op = this.ops.pop()!;
        const e = prof.entry(stepEntry(plan, st, 'wasm'));
        this.ops.push(() => {
          const t = performance.now();
          op();
          Profiler.add(e, performance.now() - t);
        });
      }
    }
  }

  /** dynamic_update_slice: (copy the operand, then) write the update at the clamped starts. */
  private update(st: Extract<PlanStep, { op: 'update' }>): void {
    const p = this.plan;
    const ob = p.buffers[st.out]!;
    const dst = view(this.memory, ob);
    if (!st.inPlace) {
      if (typeof st.operand === 'number') dst.set(view(this.memory, p.buffers[st.operand]!) as never);
      else dst.fill(st.operand.lit);
    }
    const shape = ob.shape;
    const ushape = typeof st.upd === 'number' ? p.buffers[st.upd]!.shape : shape.map(() => 1);
    const src = typeof st.upd === 'number' ? view(this.memory, p.buffers[st.upd]!) : [st.upd.lit];
    const start = st.starts.map((a, d) => {
      const v = typeof a === 'number' ? view(this.memory, p.buffers[a]!)[0]! : a.lit;
      return Math.min(Math.max(v, 0), shape[d]! - ushape[d]!);
    });
    // copy runs along the last axis, row by row of the update
    const r = shape.length;
    const inner = r ? ushape[r - 1]! : 1;
    const rows = src.length / inner;
    const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
    for (let row = 0; row < rows; row++) {
      let rem = row;
      let at = r ? start[r - 1]! : 0;
      for (let d = r - 2; d >= 0; d--) {
        const i = rem % ushape[d]!;
        rem = Math.floor(rem / ushape[d]!);
        at += (start[d]! + i) * strides[d]!;
      }
      for (let j = 0; j < inner; j++) dst[at + j] = src[row * inner + j]!;
    }
  }

  /** Copies (or reads from their files) the inputs that are not resident into their buffers. */
  private upload(inputs: Tensor[]): void {
    const p = this.plan;
    let written: Map<number, Tensor> | undefined; // a buffer two parameters share is written once
    this.residency.uploadInputs(inputs, (i, t) => {
      if ((written ??= new Map()).get(p.inputs[i]!) === t) return;
      written.set(p.inputs[i]!, t);
      const b = p.buffers[p.inputs[i]!]!;
      if (b.stored !== undefined && t.stored !== b.stored)
        throw new InternalError(`wasm: input ${i} is ${t.stored ?? 'f32'}, the plan holds it as ${b.stored}`);
      const n = storageSize(b.dtype, b.shape);
      // a tensor read from a file goes from the file straight into the memory, as it is stored
      const bytes = b.stored ? storedBytes(b.stored, n) : 4 * n;
      if (t.source && t.stored === b.stored && t.source.bytes === bytes) {
        t.source.read(new Uint8Array(this.memory.buffer, b.offset, t.source.bytes));
        return;
      }
      // a stored input's words or blocks as they are; one the plan holds as f32, widened
      const src = b.stored ? t : widen(t);
      const got = b.stored ? src.data.byteLength : src.data.length;
      if (got !== (b.stored ? bytes : n))
        throw new InternalError(
          `wasm: input ${i} has ${got} ${b.stored ? 'bytes' : 'elements'}, the plan expects ${b.stored ? bytes : n}`,
        );
      if (b.stored)
        new Uint8Array(this.memory.buffer, b.offset, bytes).set(
          new Uint8Array(src.data.buffer, src.data.byteOffset, src.data.byteLength),
        );
      else (view(this.memory, b) as Float32Array).set(src.data as Float32Array);
    });
  }

  /** Runs the plan; results are fresh tensors (copied out of the memory), or views for donated buffers. */
  run(inputs: Tensor[]): Tensor[] {
    const p = this.plan;
    if (this.prof) this.prof.phase('wasm: upload inputs', () => this.upload(inputs));
    else this.upload(inputs);
    for (const op of this.ops) op();
    this.residency.ran();
    return p.outputs.map((o) => {
      if (typeof o !== 'number') return literalTensor(o);
      const b = p.buffers[o]!;
      const donatedAs = this.residency.donatedAs(o);
      if (donatedAs !== undefined)
        return this.residency.keep(donatedAs, { dtype: b.dtype, shape: b.shape.slice(), data: view(this.memory, b) });
      const t = alloc(b.dtype, b.shape.slice());
      (t.data as Float32Array).set(view(this.memory, b) as Float32Array);
      return t;
    });
  }

  /** Forgets which inputs are resident (call after writing into an input tensor in place). */
  invalidate(): void {
    this.residency.invalidate();
  }
}
