// The WebGPU runtime: a Plan's buffers as GPU storage buffers (one per plan buffer; bool as one u32
// per element, f16 as f32), its kernels as compute pipelines (cached by WGSL text), one command
// encoder per stretch of kernel steps, host steps on read-back values with the primitive's reference
// rule, update steps as a small kernel (after a buffer copy when not in place); a run without host
// steps is one command encoder and one submit, its results' read-back included. Reads are async;
// an input whose tensor object is the same as last run's is not uploaded again, and a result in a
// donated parameter's buffer is not read back at all (a KV cache stays on the GPU).
import type { Plan, PlanBuffer, PlanStep } from '../plan/plan.ts';
import { GRID_X, WORKGROUP } from './abi.ts';
import { alloc, storageSize, type Tensor } from '../core/tensor.ts';
import { storedToFloats, valuesOnce } from '../core/stored.ts';
import { hostContext, literalTensor, Residency, runHostStep } from '../plan/executor.ts';
import { formatBytes, InternalError, UserError } from '../core/errors.ts';
import { sizeClass, type GpuDevice } from './device.ts';
import { activeProfiler, Profiler, stepEntry, type ProfileEntry } from '../plan/profile.ts';

const kd = (d: PlanBuffer['dtype']) =>
  d === 'sign' || d === 'u32' ? 'u32' : d === 'f16' ? 'f32' : d === 'bool' ? 'bool' : d;

/** Bytes a plan buffer takes on the GPU: 4 an element, 2 for a stored input (rounded up to a word). */
const gpuBytes = (b: PlanBuffer): number =>
  b.stored ? Math.ceil(storageSize(b.dtype, b.shape) / 2) * 4 : storageSize(b.dtype, b.shape) * 4;

/** A stored input's 16-bit words as the GPU buffer holds them (read from its file when it has one). */
function storedWords(b: PlanBuffer, t: Tensor): ArrayBuffer {
  const out = new Uint8Array(gpuBytes(b));
  if (t.source) t.source.read(out.subarray(0, t.source.bytes));
  else out.set(new Uint8Array((t.data as Uint16Array).buffer, t.data.byteOffset, t.data.byteLength));
  return out.buffer;
}

/** Host data → the 32-bit words a GPU buffer holds. */
function toWords(b: PlanBuffer, data: Tensor['data']): ArrayBuffer {
  const n = storageSize(b.dtype, b.shape);
  const d = kd(b.dtype);
  const out = d === 'f32' ? new Float32Array(n) : d === 'i32' ? new Int32Array(n) : new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = Number(data[i]);
  return out.buffer as ArrayBuffer;
}

function fromWords(b: PlanBuffer, words: ArrayBuffer): Tensor {
  if (b.stored) {
    const n = storageSize(b.dtype, b.shape);
    return { dtype: 'f32', shape: b.shape.slice(), data: storedToFloats(b.stored, new Uint16Array(words, 0, n)) };
  }
  const t = alloc(b.dtype, b.shape.slice());
  const d = kd(b.dtype);
  const src = d === 'f32' ? new Float32Array(words) : d === 'i32' ? new Int32Array(words) : new Uint32Array(words);
  for (let i = 0; i < t.data.length; i++) t.data[i] = src[i]!;
  return t;
}

/** What this device cannot run, refused before anything is allocated (a buffer over the device's
 *  limits fails validation and would read back as zeros): every buffer's allocation (its size class,
 *  a power of two) within maxBufferSize and maxStorageBufferBindingSize, every dispatch's rows of
 *  workgroups within maxComputeWorkgroupsPerDimension. */
export function checkDeviceLimits(plan: Plan, limits: GPUSupportedLimits, wgsl: PlanWgsl): void {
  const maxBytes = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  for (const b of plan.buffers) {
    const size = sizeClass(gpuBytes(b));
    if (size > maxBytes)
      throw new UserError(
        `webgpu: a ${b.dtype}[${b.shape.join(', ')}] tensor needs a ${formatBytes(size)} buffer; this device binds at most ${formatBytes(maxBytes)} (maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}, maxBufferSize ${limits.maxBufferSize})`,
        undefined,
        'run it on the Wasm backend, or split the tensor',
      );
  }
  const rowX = GRID_X / WORKGROUP;
  const maxRows = limits.maxComputeWorkgroupsPerDimension;
  wgsl.groups.forEach((g, k) => {
    if (Math.min(g, rowX) > maxRows || Math.ceil(g / rowX) > maxRows)
      throw new UserError(
        `webgpu: kernel ${k} needs ${g} workgroups, more than this device dispatches (${maxRows} per dimension)`,
        undefined,
        'run it on the Wasm backend',
      );
  });
}

/** `prof`: the profile entry the op's time goes to (profiling only) */
type Op = { prof?: ProfileEntry } & (
  | { kind: 'pass'; run: (pass: GPUComputePassEncoder) => void }
  | { kind: 'copy'; from: number; to: number }
  | { kind: 'host'; step: Extract<PlanStep, { op: 'host' }> }
);

/** The WGSL of a plan: one module per kernel, and one per update step (by step index). */
export interface PlanWgsl {
  kernels: string[];
  /** per kernel: the workgroups one run dispatches (WORKGROUP invocations each) */
  groups: number[];
  updates: Record<number, string>;
}

export interface GpuProgramOptions {
  /** parameters whose buffers the plan may overwrite; a result there stays on the GPU */
  donate?: number[];
  /** read results in donated buffers back too (the host needs their values: training state);
   *  without it they come back as empty handles (a KV cache) */
  readDonated?: boolean;
  /** record every dispatch's time here (default: the active profiler, if any): GPU timestamp
   *  queries where the device has them (one compute pass per dispatch), else the host's clock
   *  around each submitted dispatch */
  profile?: Profiler;
}

export class GpuProgram {
  private readonly bufs: GPUBuffer[];
  private readonly ops: Op[] = [];
  private readonly residency: Residency;
  private readonly readDonated: boolean;
  private readonly ctx = hostContext();
  private readonly prof?: Profiler;

  constructor(
    readonly plan: Plan,
    readonly gpu: GpuDevice,
    wgsl: PlanWgsl,
    opts: GpuProgramOptions = {},
  ) {
    this.residency = new Residency(plan, opts.donate, 'webgpu');
    this.readDonated = !!opts.readDonated;
    this.prof = opts.profile ?? activeProfiler();
    const dev = gpu.device;
    checkDeviceLimits(plan, dev.limits, wgsl);
    // from the device's pools by size class; dispose() returns them
    this.bufs = plan.buffers.map((b) => gpu.acquire(gpuBytes(b)));
    const bind = (pipe: GPUComputePipeline, bufs: number[]) =>
      dev.createBindGroup({
        layout: pipe.getBindGroupLayout(0),
        entries: bufs.map((b, i) => ({ binding: i, resource: { buffer: this.bufs[b]! } })),
      });
    const dispatch = (pass: GPUComputePassEncoder, pipe: GPUComputePipeline, group: GPUBindGroup, groups: number) => {
      pass.setPipeline(pipe);
      pass.setBindGroup(0, group);
      const rowX = GRID_X / WORKGROUP; // workgroups per grid row
      pass.dispatchWorkgroups(Math.max(1, Math.min(groups, rowX)), Math.max(1, Math.ceil(groups / rowX)));
    };
    plan.steps.forEach((st, si) => {
      if (st.op === 'run') {
        const k = plan.kernels[st.kernel]!;
        if (1 + st.ins.length > gpu.maxStorageBuffers)
          throw new InternalError(
            `webgpu: kernel ${k.hash} binds ${1 + st.ins.length} storage buffers, the adapter allows ${gpu.maxStorageBuffers} (kernel splitting is not built yet)`,
          );
        const { code, bindings } = stepPipeline(st, si, wgsl)!;
        const pipe = gpu.pipeline(code, bindings);
        const group = bind(pipe, [st.out, ...st.ins]);
        const groups = wgsl.groups[st.kernel]!;
        this.ops.push({ kind: 'pass', run: (pass) => dispatch(pass, pipe, group, groups) });
      } else if (st.op === 'update') {
        if (!st.inPlace) {
          if (typeof st.operand !== 'number') throw new InternalError('webgpu: update of a literal operand');
          this.ops.push({ kind: 'copy', from: st.operand, to: st.out });
        }
        if (typeof st.upd !== 'number') throw new InternalError('webgpu: update with a literal value');
        const ub = plan.buffers[st.upd]!;
        const startBufs = st.starts.filter((s): s is number => typeof s === 'number');
        const { code, bindings } = stepPipeline(st, si, wgsl)!;
        const pipe = gpu.pipeline(code, bindings);
        const group = bind(pipe, [st.out, st.upd, ...startBufs]);
        const n = storageSize(ub.dtype, ub.shape);
        this.ops.push({ kind: 'pass', run: (pass) => dispatch(pass, pipe, group, Math.ceil(n / WORKGROUP)) });
      } else if (st.op === 'copy') this.ops.push({ kind: 'copy', from: st.from, to: st.to });
      else if (st.op === 'host') this.ops.push({ kind: 'host', step: st });
      const op = this.ops[this.ops.length - 1];
      if (this.prof && op && st.op !== 'alloc' && st.op !== 'free')
        op.prof = this.prof.entry(
          stepEntry(plan, st, 'webgpu'),
          op.kind === 'pass' && gpu.timestamps ? 'gpu-timestamp' : 'host',
        );
    });
  }

  /** A program whose pipelines are compiled concurrently and off the main thread first (each WGSL
   *  text once, shared with any other program compiling it at the same time). */
  static async create(plan: Plan, gpu: GpuDevice, wgsl: PlanWgsl, opts: GpuProgramOptions = {}): Promise<GpuProgram> {
    const want = new Map<string, number>();
    plan.steps.forEach((st, si) => {
      const p = stepPipeline(st, si, wgsl);
      if (p) want.set(p.code, p.bindings);
    });
    await Promise.all([...want].map(([code, n]) => gpu.pipelineAsync(code, n)));
    return new GpuProgram(plan, gpu, wgsl, opts);
  }

  /** Records kernel and copy ops (no host steps) into an encoder: consecutive kernels share a pass
   *  (profiling with timestamps: one pass per kernel, its start and end written to `ts`). */
  private encode(enc: GPUCommandEncoder, ops: Op[], ts?: Timestamps): void {
    let pass: GPUComputePassEncoder | undefined;
    for (const op of ops) {
      if (op.kind === 'pass') {
        if (ts && op.prof) {
          const i = ts.entries.push(op.prof) - 1;
          pass?.end();
          const p = enc.beginComputePass({
            timestampWrites: { querySet: ts.set, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
          });
          op.run(p);
          p.end();
          pass = undefined;
          continue;
        }
        pass ??= enc.beginComputePass();
        op.run(pass);
      } else if (op.kind === 'copy') {
        pass?.end();
        pass = undefined;
        enc.copyBufferToBuffer(
          this.bufs[op.from]!,
          0,
          this.bufs[op.to]!,
          0,
          Math.min(this.bufs[op.from]!.size, this.bufs[op.to]!.size),
        );
      }
    }
    pass?.end();
  }

  /** Returns this program's buffers to the device's pools (the program is unusable after). */
  dispose(): void {
    this.gpu.release(this.bufs.splice(0));
  }

  /** Records copies of plan buffers into staging buffers at the end of `enc` (so a run's read-back
   *  travels in the same submit as its kernels); `collect` maps them after the submit. */
  private stage(enc: GPUCommandEncoder, bs: number[]): { b: number; staging: GPUBuffer }[] {
    return bs.map((b) => {
      const pb = this.plan.buffers[b]!;
      const size = Math.max(4, gpuBytes(pb));
      const staging = this.gpu.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      enc.copyBufferToBuffer(this.bufs[b]!, 0, staging, 0, size);
      return { b, staging };
    });
  }

  private async collect(staged: { b: number; staging: GPUBuffer }[]): Promise<Map<number, Tensor>> {
    await Promise.all(staged.map((s) => s.staging.mapAsync(GPUMapMode.READ)));
    return new Map(
      staged.map(({ b, staging }) => {
        const t = fromWords(this.plan.buffers[b]!, staging.getMappedRange().slice(0));
        staging.unmap();
        staging.destroy();
        return [b, t];
      }),
    );
  }

  /**
   * Milliseconds of GPU work per run of the plan's kernels (inputs already uploaded by a run()):
   * `reps` copies of the kernel sequence in one command encoder, one submit, timed to
   * onSubmittedWorkDone — so submit and read-back latency are amortised (benchmarks only; plans
   * with host steps are not measured this way).
   */
  async kernelMs(reps: number): Promise<number> {
    if (this.ops.some((op) => op.kind === 'host'))
      throw new InternalError('webgpu: kernelMs on a plan with host steps');
    const q = this.gpu.device.queue;
    const enc = this.gpu.device.createCommandEncoder();
    for (let r = 0; r < reps; r++) this.encode(enc, this.ops);
    await q.onSubmittedWorkDone();
    const t = performance.now();
    q.submit([enc.finish()]);
    await q.onSubmittedWorkDone();
    return (performance.now() - t) / reps;
  }

  /**
   * Records a stretch of kernel and copy ops. Profiling with timestamp queries: one pass per kernel
   * writing its start and end, resolved into a staging buffer in the same encoder (read after the
   * run's last submit); profiling without them: each kernel submitted alone and timed on the host
   * clock to onSubmittedWorkDone. Returns the encoder to go on with.
   */
  private async record(enc: GPUCommandEncoder, ops: Op[], timed: Timestamps[]): Promise<GPUCommandEncoder> {
    const dev = this.gpu.device;
    const passes = ops.filter((op) => op.kind === 'pass' && op.prof).length;
    if (!this.prof || passes === 0) {
      this.encode(enc, ops);
      return enc;
    }
    if (this.gpu.timestamps) {
      const count = 2 * passes;
      const ts: Timestamps = {
        set: dev.createQuerySet({ type: 'timestamp', count }),
        entries: [],
        resolved: dev.createBuffer({ size: 8 * count, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
        staging: dev.createBuffer({ size: 8 * count, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
      };
      this.encode(enc, ops, ts);
      enc.resolveQuerySet(ts.set, 0, count, ts.resolved, 0);
      enc.copyBufferToBuffer(ts.resolved, 0, ts.staging, 0, 8 * count);
      timed.push(ts);
      return enc;
    }
    const q = dev.queue;
    for (const op of ops) {
      if (op.kind === 'pass' && op.prof) {
        q.submit([enc.finish()]);
        await q.onSubmittedWorkDone();
        const one = dev.createCommandEncoder();
        this.encode(one, [op]);
        const t = performance.now();
        q.submit([one.finish()]);
        await q.onSubmittedWorkDone();
        Profiler.add(op.prof, performance.now() - t);
        enc = dev.createCommandEncoder();
      } else this.encode(enc, [op]);
    }
    return enc;
  }

  /** Runs the plan; results are read back (async). */
  async run(inputs: Tensor[]): Promise<Tensor[]> {
    const p = this.plan;
    const q = this.gpu.device.queue;
    this.residency.uploadInputs(inputs, (i, t) => {
      const b = p.inputs[i]!;
      const pb = p.buffers[b]!;
      if (pb.stored !== undefined && t.stored !== pb.stored)
        throw new InternalError(`webgpu: input ${i} is ${t.stored ?? 'f32'}, the plan holds it as ${pb.stored}`);
      q.writeBuffer(this.bufs[b]!, 0, pb.stored ? storedWords(pb, t) : toWords(pb, valuesOnce(t)));
    });
    let enc = this.gpu.device.createCommandEncoder();
    const timed: Timestamps[] = [];
    let from = 0;
    for (let i = 0; i <= this.ops.length; i++) {
      const op = this.ops[i];
      if (op && op.kind !== 'host') continue;
      enc = await this.record(enc, this.ops.slice(from, i), timed);
      from = i + 1;
      if (!op) break;
      // a host step: finish what is recorded with the copies of its arguments, compute on them,
      // continue in a new encoder
      const t0 = performance.now();
      const staged = this.stage(enc, [...new Set(op.step.ins.filter((a): a is number => typeof a === 'number'))]);
      q.submit([enc.finish()]);
      const read = await this.collect(staged);
      const outs = runHostStep(p, op.step, (a) => read.get(a)!, this.ctx);
      op.step.outs.forEach((o, j) => q.writeBuffer(this.bufs[o]!, 0, toWords(p.buffers[o]!, outs[j]!.data)));
      if (op.prof) Profiler.add(op.prof, performance.now() - t0);
      enc = this.gpu.device.createCommandEncoder();
    }
    // the results' read-back goes in the same encoder and submit as the last kernels
    const staged = this.stage(enc, [
      ...new Set(
        p.outputs.filter(
          (o): o is number => typeof o === 'number' && (this.readDonated || !this.residency.isDonated(o)),
        ),
      ),
    ]);
    await this.gpu.checked('run', () => q.submit([enc.finish()]));
    this.residency.ran();
    const read = await this.collect(staged);
    await Promise.all(timed.map((ts) => readTimestamps(ts)));
    const outs = p.outputs.map((o) => {
      if (typeof o !== 'number') return literalTensor(o);
      const donatedAs = this.residency.donatedAs(o);
      if (donatedAs === undefined) return read.get(o)!;
      // stays on the GPU: passed back as the same parameter, it uploads nothing; without
      // readDonated the host gets an empty handle (a KV cache it never reads)
      return this.residency.keep(
        donatedAs,
        read.get(o) ?? { dtype: p.buffers[o]!.dtype, shape: p.buffers[o]!.shape.slice(), data: new Float32Array(0) },
      );
    });
    this.gpu.throwIfFailed('a plan run');
    return outs;
  }
}

/** A stretch of profiled dispatches: their timestamp query set and where it is read back. */
interface Timestamps {
  set: GPUQuerySet;
  /** the profile entry of dispatch i (timestamps 2i, 2i + 1) */
  entries: ProfileEntry[];
  resolved: GPUBuffer;
  staging: GPUBuffer;
}

async function readTimestamps(ts: Timestamps): Promise<void> {
  await ts.staging.mapAsync(GPUMapMode.READ);
  const t = new BigUint64Array(ts.staging.getMappedRange().slice(0));
  ts.staging.unmap();
  ts.entries.forEach((e, i) => {
    const ns = t[2 * i + 1]! - t[2 * i]!;
    Profiler.add(e, Math.max(0, Number(ns) / 1e6));
  });
  for (const b of [ts.staging, ts.resolved]) b.destroy();
  ts.set.destroy();
}

/** The WGSL a kernel or update step runs and how many buffers it binds (output first). */
function stepPipeline(st: PlanStep, si: number, wgsl: PlanWgsl): { code: string; bindings: number } | undefined {
  if (st.op === 'run') return { code: wgsl.kernels[st.kernel]!, bindings: 1 + st.ins.length };
  if (st.op !== 'update') return undefined;
  const code = wgsl.updates[si];
  if (code === undefined) throw new InternalError(`webgpu: no WGSL for update step ${si}`);
  return { code, bindings: 2 + st.starts.filter((s) => typeof s === 'number').length };
}
