// A WebGPU device opened from an injected GPU object (Dawn on Node via runtime/env/node_gpu.ts,
// navigator.gpu in a browser): adapter and limits negotiated once, with readable errors; compute
// pipelines cached by WGSL text with in-flight de-duplication; validation error scopes only in a
// debug mode (OBT_DEBUG=webgpu).
import { UserError } from '../core/errors.ts';

/** The size a buffer of `bytes` gets from the pool: its size class, a power of two from 256 B. */
export const sizeClass = (bytes: number): number => Math.max(256, 2 ** Math.ceil(Math.log2(Math.max(1, bytes))));

export class GpuDevice {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  readonly debug: boolean;
  /** the first validation/out-of-memory error nobody captured (reported by the next run) */
  private uncaptured?: string;

  private constructor(
    readonly device: GPUDevice,
    readonly adapterName: string,
    readonly maxStorageBuffers: number,
    /** the device has timestamp queries (the profiler's per-dispatch GPU times) */
    readonly timestamps: boolean,
  ) {
    this.debug = (typeof process !== 'undefined' ? (process.env.OBT_DEBUG ?? '') : '').split(',').includes('webgpu');
    device.addEventListener('uncapturederror', (e) => {
      const err = (e as GPUUncapturedErrorEvent).error;
      if (this.uncaptured === undefined) {
        this.uncaptured = err.message;
        this.outOfMemory =
          err.constructor.name === 'GPUOutOfMemoryError' || /out of (device )?memory/i.test(err.message);
      }
    });
  }

  /** Throws the first uncaptured device error since the last call: running out of device memory
   *  is the user's (a UserError naming what to do), anything else is a bug. */
  throwIfFailed(what: string): void {
    const m = this.uncaptured;
    this.uncaptured = undefined;
    if (m && this.outOfMemory)
      throw new UserError(
        `WebGPU: the device ran out of memory in ${what} (${m.split('\n')[0]})`,
        undefined,
        'run it on the Wasm backend, or make the tensors smaller',
      );
    if (m) throw new Error(`WebGPU error in ${what}: ${m}`);
  }
  private outOfMemory = false;

  static async open(gpu: GPU): Promise<GpuDevice> {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter)
      throw new UserError(
        'WebGPU: no adapter (on a machine without a GPU, install a Vulkan driver such as SwiftShader: apt-get install chromium libvulkan1)',
      );
    const want = {
      maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      maxComputeWorkgroupsPerDimension: adapter.limits.maxComputeWorkgroupsPerDimension,
    };
    const timestamps = adapter.features.has('timestamp-query');
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({
        requiredLimits: want,
        requiredFeatures: timestamps ? ['timestamp-query'] : [],
      });
    } catch (e) {
      throw new UserError(`WebGPU: the adapter refused a device with its own limits: ${(e as Error).message}`);
    }
    const info = adapter.info;
    return new GpuDevice(
      device,
      `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim(),
      want.maxStorageBuffersPerShaderStage,
      timestamps,
    );
  }

  private readonly free = new Map<number, GPUBuffer[]>();

  /** A storage buffer of at least `bytes`, from the pool of its size class (powers of two from
   *  256 B), usable as STORAGE | COPY_SRC | COPY_DST. */
  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const b = this.free.get(size)?.pop();
    return (
      b ??
      this.device.createBuffer({
        size,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      })
    );
  }

  /** Returns buffers to their size classes' pools. */
  release(bufs: GPUBuffer[]): void {
    for (const b of bufs) {
      let l = this.free.get(b.size);
      if (!l) this.free.set(b.size, (l = []));
      l.push(b);
    }
  }

  /** The device's copy bandwidth in GB/s (read + write of `mb` MB buffer to buffer): the bound
   *  benchmarks compare memory-bound kernels with. */
  async copyGBs(mb = 256, reps = 10): Promise<number> {
    const size = mb * 1024 * 1024;
    const a = this.device.createBuffer({ size, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.STORAGE });
    const b = this.device.createBuffer({ size, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.STORAGE });
    const enc = this.device.createCommandEncoder();
    for (let r = 0; r < reps; r++) enc.copyBufferToBuffer(a, 0, b, 0, size);
    await this.device.queue.onSubmittedWorkDone();
    const t = performance.now();
    this.device.queue.submit([enc.finish()]);
    await this.device.queue.onSubmittedWorkDone();
    const ms = (performance.now() - t) / reps;
    a.destroy();
    b.destroy();
    return (2 * size) / ms / 1e6;
  }

  /** The compute pipeline of a WGSL text (compiled once per device) whose bindings are
   *  0 = read_write storage and 1..n-1 = read-only storage (an explicit layout: 'auto' would drop
   *  a binding the shader happens not to read). */
  pipeline(code: string, bindings: number): GPUComputePipeline {
    let p = this.pipelines.get(code);
    if (!p) this.pipelines.set(code, (p = this.device.createComputePipeline(this.pipelineDesc(code, bindings))));
    return p;
  }

  private pipelineDesc(code: string, bindings: number): GPUComputePipelineDescriptor {
    const entries: GPUBindGroupLayoutEntry[] = Array.from({ length: bindings }, (_, i) => ({
      binding: i,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: i === 0 ? 'storage' : 'read-only-storage' },
    }));
    const layout = this.device.createPipelineLayout({
      bindGroupLayouts: [this.device.createBindGroupLayout({ entries })],
    });
    return { layout, compute: { module: this.device.createShaderModule({ code }), entryPoint: 'main' } };
  }

  private readonly compiling = new Map<string, Promise<GPUComputePipeline>>();
  /** pipeline() compiled off the main thread (createComputePipelineAsync); concurrent requests for
   *  one WGSL text share one compilation (in-flight de-duplication). */
  pipelineAsync(code: string, bindings: number): Promise<GPUComputePipeline> {
    const hit = this.pipelines.get(code);
    if (hit) return Promise.resolve(hit);
    let p = this.compiling.get(code);
    if (!p) {
      // the shader module's own errors land in this scope (not as an uncaptured error of a later run)
      this.device.pushErrorScope('validation');
      const pipe = this.device.createComputePipelineAsync(this.pipelineDesc(code, bindings));
      const scope = this.device.popErrorScope();
      p = Promise.allSettled([pipe, scope]).then(([made, scoped]) => {
        this.compiling.delete(code);
        // the shader's own error (line:col) explains a failed pipeline better than the pipeline's
        const why =
          scoped.status === 'fulfilled' && scoped.value
            ? scoped.value.message
            : made.status === 'rejected'
              ? (made.reason as Error).message
              : undefined;
        if (why !== undefined || made.status === 'rejected')
          throw new Error(`WebGPU could not build a compute pipeline (${why}) for:\n${code}`);
        this.pipelines.set(code, made.value);
        return made.value;
      });
      this.compiling.set(code, p);
    }
    return p;
  }

  /** how many pipeline compilations are in flight (tests) */
  get pipelinesInFlight(): number {
    return this.compiling.size;
  }

  /** Runs f inside validation error scopes when debugging; rethrows a validation error as an InternalError-like message. */
  async checked<T>(what: string, f: () => T): Promise<T> {
    if (!this.debug) return f();
    this.device.pushErrorScope('validation');
    const r = f();
    const err = await this.device.popErrorScope();
    if (err) throw new Error(`WebGPU validation error in ${what}: ${err.message}`);
    return r;
  }
}
