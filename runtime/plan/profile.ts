// The profiler (OBT_PROFILE=1, `obtc … --profile`): the Wasm and WebGPU programs record the time of
// every kernel launch, host, update and copy step of their plans, and drivers time their own host
// work as phases; entries are grouped by what ran (kernel hash, kind and extents, the fused Core
// primitives and the `.obt` source locations they came from) and printed as a table of the top
// entries by total time, or written as JSON for tools. No Node modules: the browser page uses it too.
import type { Plan, PlanStep } from './plan.ts';

export type ProfileKind = 'kernel' | 'host' | 'update' | 'copy' | 'phase';

export interface ProfileEntry {
  backend: string;
  kind: ProfileKind;
  /** kind and extents (`dot 2048×512 · K 64`), a host step's primitive or a phase's name */
  desc: string;
  /** Core primitives fused into the kernel, in the order fusion met them */
  ops: string[];
  /** their `.obt` source locations (`file:line:col`; `∇ ` marks a gradient's equations) */
  src: string[];
  calls: number;
  ms: number;
  /** how the time was taken: the host's clock, or GPU timestamp queries */
  clock: 'host' | 'gpu-timestamp';
}

export interface ProfileReport {
  /** milliseconds from the profiler's start to the report */
  wallMs: number;
  /** milliseconds recorded in program steps (kernels, host, update, copy steps) */
  stepMs: number;
  /** training/decoding steps the driver counted (0: none) */
  steps: number;
  entries: ProfileEntry[];
}

/** The label of a plan step (kernels: the plan kernel's description, ops and sources). */
export function stepEntry(
  plan: Plan,
  st: PlanStep,
  backend: string,
): Omit<ProfileEntry, 'calls' | 'ms' | 'clock'> & { key: string } {
  switch (st.op) {
    case 'run': {
      const k = plan.kernels[st.kernel]!;
      const src = st.src ?? [];
      return {
        key: `${backend}|k|${k.hash}|${src.join(',')}`,
        backend,
        kind: 'kernel',
        desc: k.desc ?? `kernel ${k.hash}`,
        ops: st.ops ?? [],
        src,
      };
    }
    case 'host': {
      const e = plan.hostEqns[st.eqn]!;
      const src = e.src === undefined ? [] : [e.src];
      return {
        key: `${backend}|h|${e.prim}|${src.join(',')}`,
        backend,
        kind: 'host',
        desc: `host ${e.prim}`,
        ops: [e.prim],
        src,
      };
    }
    case 'update': {
      const b = plan.buffers[st.out]!;
      return {
        key: `${backend}|u|${b.shape.join('x')}`,
        backend,
        kind: 'update',
        desc: `update ${b.shape.join('×')}`,
        ops: ['dynamic_update_slice'],
        src: [],
      };
    }
    case 'copy': {
      const b = plan.buffers[st.to]!;
      return {
        key: `${backend}|c|${b.shape.join('x')}`,
        backend,
        kind: 'copy',
        desc: `copy ${b.shape.join('×')}`,
        ops: [],
        src: [],
      };
    }
    default:
      throw new Error(`profile: step ${st.op} is not timed`);
  }
}

export class Profiler {
  private readonly entries = new Map<string, ProfileEntry>();
  private readonly start = performance.now();
  /** steps the driver counted (train steps, decoded tokens), for per-step figures */
  steps = 0;

  /** The entry a recurring step adds its time to (create once, then `add`). */
  entry(label: ReturnType<typeof stepEntry>, clock: ProfileEntry['clock'] = 'host'): ProfileEntry {
    const key = `${label.key}|${clock}`;
    let e = this.entries.get(key);
    if (!e) {
      const { key: _key, ...rest } = label;
      e = { ...rest, calls: 0, ms: 0, clock };
      this.entries.set(key, e);
    }
    return e;
  }

  static add(e: ProfileEntry, ms: number): void {
    e.calls++;
    e.ms += ms;
  }

  private phaseEntry(name: string): ProfileEntry {
    return this.entry({ key: `phase|${name}`, backend: 'host', kind: 'phase', desc: name, ops: [], src: [] });
  }

  /** Times the driver's own host work (data, tokenizer, the training loop's bookkeeping). */
  phase<T>(name: string, f: () => T): T {
    const e = this.phaseEntry(name);
    const t = performance.now();
    try {
      return f();
    } finally {
      Profiler.add(e, performance.now() - t);
    }
  }

  async phaseAsync<T>(name: string, f: () => Promise<T>): Promise<T> {
    const e = this.phaseEntry(name);
    const t = performance.now();
    try {
      return await f();
    } finally {
      Profiler.add(e, performance.now() - t);
    }
  }

  report(): ProfileReport {
    const entries = [...this.entries.values()].filter((e) => e.calls > 0).sort((a, b) => b.ms - a.ms);
    const stepMs = entries.filter((e) => e.kind !== 'phase').reduce((s, e) => s + e.ms, 0);
    return { wallMs: performance.now() - this.start, stepMs, steps: this.steps, entries };
  }

  /** The top entries by total time as a text table. */
  table(top = 25): string {
    return formatProfile(this.report(), top);
  }
}

const squeeze = (ops: string[]): string => {
  const parts: string[] = [];
  for (const o of ops) {
    const last = parts[parts.length - 1];
    const m = last?.match(/^(.*?)(?:×(\d+))?$/);
    if (m && m[1] === o) parts[parts.length - 1] = `${o}×${Number(m[2] ?? 1) + 1}`;
    else parts.push(o);
  }
  const s = parts.join(' ');
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/** The report as a table: rank, total ms, share of the program steps' time, calls, per call, what. */
export function formatProfile(r: ProfileReport, top = 25): string {
  const lines: string[] = [];
  const perStep = r.steps ? `, ${(r.stepMs / r.steps).toFixed(1)} ms per step over ${r.steps} steps` : '';
  lines.push(
    `profile: ${r.stepMs.toFixed(1)} ms in program steps of ${r.wallMs.toFixed(1)} ms wall${perStep}; top ${Math.min(top, r.entries.length)} of ${r.entries.length} entries`,
  );
  lines.push(
    `${'#'.padStart(3)} ${'total ms'.padStart(10)} ${'share'.padStart(6)} ${'calls'.padStart(7)} ${'ms/call'.padStart(8)}  what`,
  );
  r.entries.slice(0, top).forEach((e, i) => {
    const share =
      e.kind === 'phase' ? '     –' : `${((100 * e.ms) / Math.max(r.stepMs, 1e-9)).toFixed(1)}%`.padStart(6);
    const where = e.src.length
      ? ` @ ${e.src.slice(0, 3).join(', ')}${e.src.length > 3 ? ` +${e.src.length - 3}` : ''}`
      : '';
    const ops = e.ops.length && e.kind === 'kernel' ? ` [${squeeze(e.ops)}]` : '';
    const clock = e.clock === 'gpu-timestamp' ? ' (gpu)' : '';
    lines.push(
      `${String(i + 1).padStart(3)} ${e.ms.toFixed(1).padStart(10)} ${share} ${String(e.calls).padStart(7)} ${(e.ms / e.calls).toFixed(3).padStart(8)}  ${e.backend} ${e.desc}${clock}${ops}${where}`,
    );
  });
  return lines.join('\n');
}

let active: Profiler | undefined;

/** The profiler programs record into when they are built (undefined: not profiling). */
export function activeProfiler(): Profiler | undefined {
  return active;
}

export function setProfiler(p: Profiler | undefined): void {
  active = p;
}
