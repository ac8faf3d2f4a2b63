// The execution plan: a serialisable program of steps over buffers at static offsets in one linear
// memory. Steps are `alloc | run | host | update | free`; liveness decides when a temporary's bytes are free
// for the next one (offsets are assigned greedily, largest first, among buffers whose lifetimes
// overlap). Parameters and results live for the whole run. Peak bytes are reported.
// `update` steps (dynamic_update_slice) write the update into their operand's buffer in place when
// the operand is read by nothing later and is a temporary or a donated parameter (its buffer then
// becomes the result's: buffer donation); otherwise the operand is copied first. Elementwise
// kernels write in place the same way into an input they read only at their own index (an AdamW
// step over donated parameters and moments updates them where they are).
import type { Atom, Eqn, Func } from '../../runtime/core/ir.ts';
import type { DType } from '../types/types.ts';
import type { Kernel } from '../kir/ir.ts';
import { describeKernel } from '../kir/print.ts';
import type { Schedule } from '../fuse/fuse.ts';
import { storageSize } from '../../runtime/core/tensor.ts';
import { storedBytes } from '../../runtime/core/stored.ts';
import { parallelism, scratchOf } from '../backends/wasm/codegen.ts';
import type { Plan, PlanBuffer, PlanStep, Lit } from '../../runtime/plan/plan.ts';

export type { Plan, PlanBuffer, PlanStep, Lit, PlanKernel } from '../../runtime/plan/plan.ts';
import { InternalError } from '../syntax/diag.ts';

/** A plan made by the compiler: its kernels carry their Kernel IR. */
export type KPlan = Plan<Kernel>;

const BYTES: Record<DType, number> = { f32: 4, f16: 4, i32: 4, u32: 4, sign: 4, bool: 1 };
const align16 = (n: number) => Math.ceil(n / 16) * 16;
const BASE = 64;

export interface PlanOptions {
  /** parameters whose buffers the plan may overwrite (their values are dead after the run) */
  donate?: readonly number[];
  /** elementwise kernels may write into an input's buffer (false for WebGPU: a buffer is never
   *  bound read-only and read-write in one dispatch) */
  inPlaceKernels?: boolean;
  /** parameters given the same tensor as an earlier one (by index: that one's), which share its
   *  buffer (a tied model's embedding and head are one tensor, held once) */
  alias?: readonly (number | undefined)[];
}

export function makePlan(s: Schedule, opts: PlanOptions = {}): KPlan {
  const f: Func = s.func;
  // the last schedule step reading each variable (results: never dead)
  const lastRead = new Map<number, number>();
  s.steps.forEach((st, i) => {
    const args = st.kind === 'kernel' ? st.ins : st.eqn.args;
    for (const a of args) if (a.kind === 'var') lastRead.set(a.id, i);
  });
  for (const r of f.results) if (r.kind === 'var') lastRead.set(r.id, Infinity);
  const resultIds = new Set(f.results.flatMap((r) => (r.kind === 'var' ? [r.id] : [])));
  const donated = new Set((opts.donate ?? []).map((i) => f.params[i]!.id));
  const bufOf = new Map<number, number>();
  const buffers: PlanBuffer[] = [];
  const bufFor = (id: number, t: { dtype: DType; shape: number[] }, role: PlanBuffer['role']): number => {
    let b = bufOf.get(id);
    if (b === undefined) {
      const stored = role === 'input' ? s.stored.get(id) : undefined;
      if (stored && donated.has(id)) throw new InternalError(`plan: donated parameter %${id} is stored as ${stored}`);
      b =
        buffers.push({
          dtype: t.dtype,
          shape: t.shape,
          bytes: align16(
            Math.max(
              1,
              stored
                ? storedBytes(stored, storageSize(t.dtype, t.shape))
                : storageSize(t.dtype, t.shape) * BYTES[t.dtype],
            ),
          ),
          offset: -1,
          role,
          ...(stored ? { stored } : {}),
        }) - 1;
      bufOf.set(id, b);
    }
    return b;
  };
  const inputs: number[] = [];
  f.params.forEach((p, i) => {
    const a = opts.alias?.[i];
    if (a === undefined || a >= i || donated.has(p.id) || donated.has(f.params[a]!.id))
      inputs.push(bufFor(p.id, p.type, 'input'));
    else {
      const b = inputs[a]!;
      const at = buffers[b]!;
      if (at.dtype !== p.type.dtype || at.shape.join() !== p.type.shape.join())
        throw new InternalError(`plan: parameter ${i} aliases parameter ${a} of another type`);
      bufOf.set(p.id, b);
      inputs.push(b);
    }
  });
  const kernels: KPlan['kernels'] = [];
  const kIndex = new Map<string, number>();
  const hostEqns: Eqn[] = [];
  const steps: PlanStep[] = [];
  const argOf = (a: Atom): number | Lit => {
    if (a.kind === 'lit') return { lit: a.value, dtype: a.type.dtype };
    const b = bufOf.get(a.id);
    if (b === undefined) throw new InternalError(`plan: %${a.id} is read before it is computed`);
    return b;
  };
  s.steps.forEach((st, i) => {
    if (st.kind === 'update') {
      const [x, u, ...starts] = st.eqn.args as [Atom, Atom, ...Atom[]];
      const out = st.eqn.outs[0]!;
      const xb = x.kind === 'var' ? bufOf.get(x.id) : undefined;
      const dies =
        x.kind === 'var' && lastRead.get(x.id) === i && [u, ...starts].every((a) => a.kind !== 'var' || a.id !== x.id);
      if (xb !== undefined && dies && (buffers[xb]!.role === 'temp' || donated.has(x.id))) {
        bufOf.set(out.id, xb);
        steps.push({ op: 'update', out: xb, operand: xb, upd: argOf(u), starts: starts.map(argOf), inPlace: true });
      } else {
        const ob = bufFor(out.id, out.type, 'temp');
        steps.push(
          { op: 'alloc', buf: ob },
          { op: 'update', out: ob, operand: argOf(x), upd: argOf(u), starts: starts.map(argOf), inPlace: false },
        );
      }
    } else if (st.kind === 'kernel') {
      let ki = kIndex.get(st.hash);
      if (ki === undefined) {
        ki =
          kernels.push({
            hash: st.hash,
            desc: describeKernel(st.kernel),
            kernel: st.kernel,
            scratch: scratchOf(st.kernel),
            par: parallelism(st.kernel),
          }) - 1;
        kIndex.set(st.hash, ki);
      }
      const ins = st.ins.map((v) => argOf(v) as number);
      // elementwise in place: the output takes the buffer of an input read only at its own index
      // that dies here and is a temporary or a donated parameter
      const host =
        opts.inPlaceKernels === false
          ? undefined
          : st.inPlace
              .map((j) => st.ins[j]!)
              .find(
                (v) =>
                  lastRead.get(v.id) === i &&
                  !resultIds.has(v.id) &&
                  (buffers[bufOf.get(v.id)!]!.role === 'temp' || donated.has(v.id)),
              );
      if (host) {
        const out = bufOf.get(host.id)!;
        bufOf.set(st.out.id, out);
        steps.push({ op: 'run', kernel: ki, out, ins, ...st.origin });
      } else {
        const out = bufFor(st.out.id, st.out.type, 'temp');
        steps.push({ op: 'alloc', buf: out }, { op: 'run', kernel: ki, out, ins, ...st.origin });
      }
    } else {
      const ins = st.eqn.args.map(argOf);
      const outs = st.eqn.outs.map((o) => bufFor(o.id, o.type, 'temp'));
      for (const o of outs) steps.push({ op: 'alloc', buf: o });
      steps.push({ op: 'host', eqn: hostEqns.push(st.eqn) - 1, outs, ins });
    }
  });
  let outputs = f.results.map(argOf);
  if (opts.inPlaceKernels === false)
    outputs = copyIntoDonated(
      outputs,
      (opts.donate ?? []).map((i) => inputs[i]!),
      buffers,
      steps,
    );
  for (const o of outputs) if (typeof o === 'number' && buffers[o]!.role === 'temp') buffers[o]!.role = 'output';

  // liveness: last step reading each temporary; free right after it
  const nums = (xs: (number | Lit)[]) => xs.filter((x): x is number => typeof x === 'number');
  const readsOf = (st: PlanStep): number[] =>
    st.op === 'run'
      ? st.ins
      : st.op === 'host'
        ? nums(st.ins)
        : st.op === 'update'
          ? nums([st.operand, st.upd, ...st.starts])
          : st.op === 'copy'
            ? [st.from]
            : [];
  const last = new Map<number, number>();
  steps.forEach((st, i) => {
    for (const b of readsOf(st)) last.set(b, i);
  });
  const withFrees: PlanStep[] = [];
  const start = new Map<number, number>();
  const end = new Map<number, number>();
  steps.forEach((st, i) => {
    withFrees.push(st);
    if (st.op === 'alloc') start.set(st.buf, i);
    for (const b of new Set(readsOf(st)))
      if (last.get(b) === i && buffers[b]!.role === 'temp') {
        withFrees.push({ op: 'free', buf: b });
        end.set(b, i);
      }
  });
  // a temporary nobody reads is freed after its own step
  for (const [b, s0] of start) if (!end.has(b) && buffers[b]!.role === 'temp') end.set(b, s0 + 1);
  const n = steps.length + 1;
  const life = (b: number): [number, number] => {
    const buf = buffers[b]!;
    if (buf.role === 'input') return [-1, n];
    if (buf.role === 'output') return [start.get(b) ?? -1, n];
    return [start.get(b)!, end.get(b)!];
  };

  // static offsets: largest first, lowest offset that no overlapping lifetime occupies
  const scratchBytes = align16(Math.max(0, ...kernels.map((k) => k.scratch)));
  const placed: { off: number; bytes: number; life: [number, number] }[] = [];
  const order = buffers.map((_, i) => i).sort((a, b) => buffers[b]!.bytes - buffers[a]!.bytes || a - b);
  for (const b of order) {
    const lb = life(b);
    const buf = buffers[b]!;
    const clashes = placed.filter((p) => p.life[0] <= lb[1] && lb[0] <= p.life[1]).sort((x, y) => x.off - y.off);
    let off = BASE + scratchBytes;
    for (const c of clashes) {
      if (off + buf.bytes <= c.off) break;
      off = Math.max(off, c.off + c.bytes);
    }
    buf.offset = off;
    placed.push({ off, bytes: buf.bytes, life: lb });
  }
  const memoryBytes = Math.max(BASE + scratchBytes, ...buffers.map((b) => b.offset + b.bytes));
  // peak: sweep over lifetime starts and ends (a buffer is live on [start, end] inclusive)
  const delta = new Map<number, number>();
  buffers.forEach((buf, b) => {
    const [s0, e0] = life(b);
    delta.set(s0, (delta.get(s0) ?? 0) + buf.bytes);
    delta.set(e0 + 1, (delta.get(e0 + 1) ?? 0) - buf.bytes);
  });
  let peak = 0;
  let live = 0;
  for (const t of [...delta.keys()].sort((a, b) => a - b)) peak = Math.max(peak, (live += delta.get(t)!));
  return {
    kernels,
    hostEqns,
    buffers,
    steps: withFrees,
    inputs,
    outputs,
    scratch: { offset: BASE, bytes: scratchBytes },
    memoryBytes,
    peakBytes: peak + scratchBytes,
  };
}

/**
 * Without in-place kernels (WebGPU) a donated parameter's buffer is reused only by update steps;
 * every other result computed into a fresh buffer is copied at the end into the buffer of a
 * donated parameter of its dtype and shape not holding a result yet (in donation order), and
 * returned from there: passed back as that parameter next run, it is already in place (a device
 * copy instead of an upload).
 */
function copyIntoDonated(
  outputs: (number | Lit)[],
  donated: number[],
  buffers: PlanBuffer[],
  steps: PlanStep[],
): (number | Lit)[] {
  const homes = new Set(outputs.filter((o): o is number => typeof o === 'number'));
  const free = donated.filter((b) => !homes.has(b));
  const moved = new Map<number, number>();
  return outputs.map((o) => {
    if (typeof o !== 'number' || buffers[o]!.role === 'input') return o;
    const done = moved.get(o);
    if (done !== undefined) return done;
    const ob = buffers[o]!;
    const j = free.findIndex(
      (b) =>
        buffers[b]!.dtype === ob.dtype &&
        buffers[b]!.shape.length === ob.shape.length &&
        buffers[b]!.shape.every((d, k) => d === ob.shape[k]),
    );
    if (j < 0) return o;
    const to = free.splice(j, 1)[0]!;
    steps.push({ op: 'copy', from: o, to });
    moved.set(o, to);
    return to;
  });
}

export function printPlan(p: KPlan): string {
  const b = (i: number) => `#${i}@${p.buffers[i]!.offset}`;
  const arg = (x: number | Lit) => (typeof x === 'number' ? b(x) : `${x.lit}:${x.dtype}`);
  const lines = [
    `plan: ${p.kernels.length} kernels, ${p.buffers.length} buffers, memory ${p.memoryBytes} B, peak ${p.peakBytes} B`,
  ];
  for (const st of p.steps) {
    if (st.op === 'alloc' || st.op === 'free')
      lines.push(`  ${st.op} ${b(st.buf)} ${p.buffers[st.buf]!.dtype}[${p.buffers[st.buf]!.shape.join(', ')}]`);
    else if (st.op === 'run')
      lines.push(`  run k${st.kernel} (${p.kernels[st.kernel]!.hash}) ${b(st.out)} <- ${st.ins.map(b).join(', ')}`);
    else if (st.op === 'update')
      lines.push(
        `  update ${b(st.out)} <- ${arg(st.operand)}, ${arg(st.upd)} at [${st.starts.map(arg).join(', ')}]${st.inPlace ? ' (in place)' : ' (copy)'}`,
      );
    else if (st.op === 'copy') lines.push(`  copy ${b(st.to)} <- ${b(st.from)} (into a donated parameter)`);
    else lines.push(`  host ${p.hostEqns[st.eqn]!.prim} ${st.outs.map(b).join(', ')} <- ${st.ins.map(arg).join(', ')}`);
  }
  return lines.join('\n');
}
