// The compiler's one pipeline from a lowered entry to something that runs:
//   core (CSE, transposes into dot_general, DCE, verify) → kir (prepare + fusion into Kernel IR)
//   → plan (buffers, liveness, donation) → wat | wgsl (the target's code) → a program or artifact.
// This is the only caller of fuse() and makePlan(); each pass can print what it made with
// OBT_DEBUG=core,kir,plan,wgsl,wat (comma-separated) on stderr.
import type { Func } from '../runtime/core/ir.ts';
import type { Stored } from '../runtime/core/tensor.ts';
import { InternalError } from './syntax/diag.ts';
import type { WasmProgram, ProgramOptions } from '../runtime/wasm/program.ts';
import type { GpuProgram, PlanWgsl } from '../runtime/webgpu/program.ts';
import type { GpuDevice } from '../runtime/webgpu/device.ts';
import type { Manifest } from '../runtime/wasm/artifact.ts';
import type { GpuManifest } from '../runtime/webgpu/artifact.ts';
import { cse, dce, foldTransposes } from './core/opt.ts';
import { verifyFunc } from './core/verify.ts';
import { hashFunc } from './core/hash.ts';
import { printFunc } from './core/print.ts';
import { fuse, type Schedule } from './fuse/fuse.ts';
import { printKernel } from './kir/print.ts';
import { makePlan, printPlan, type KPlan } from './plan/plan.ts';
import type { ArtifactMeta, ParamLeaf, TargetPlanOptions } from './backends/artifact.ts';
import { WASM_PLAN, wasmProgram, wasmText, writeWasmArtifact } from './backends/wasm/artifact/target.ts';
import {
  gpuProgram,
  planWgsl,
  webgpuPlan,
  WEBGPU_ARTIFACT_PLAN,
  writeGpuArtifact,
} from './backends/webgpu/artifact/target.ts';

/** The passes whose results OBT_DEBUG can print. */
export type Pass = 'core' | 'kir' | 'plan' | 'wgsl' | 'wat';

function debugging(pass: Pass): boolean {
  return typeof process !== 'undefined' && (process.env.OBT_DEBUG ?? '').split(',').includes(pass);
}

/** Prints a pass's result on stderr when OBT_DEBUG names it (the text is made only then). */
function dump(pass: Pass, title: string, text: () => string): void {
  if (debugging(pass)) process.stderr.write(`// OBT_DEBUG ${pass}: ${title}\n${text()}\n`);
}

/** core: the clean-up every lowered entry goes through, then the verifier. */
export function optimizeCore(func: Func, name: string): Func {
  const out = dce(foldTransposes(cse(func)));
  verifyFunc(out);
  dump('core', `${name}, ${out.eqns.length} equations, hash ${hashFunc(out)}`, () => printFunc(out));
  return out;
}

export interface PlanRequest {
  /** one kernel per equation (the unfused schedule, for testing fused ≡ unfused) */
  noFusion?: boolean;
  /** parameters whose buffers the plan may overwrite (buffer donation) */
  donate?: readonly number[];
  /** at most this many input buffers per kernel, below the target's own limit (tests) */
  maxInputs?: number;
  /** parameters that are the same tensor as an earlier one (by index: that one's); they share a buffer */
  alias?: readonly (number | undefined)[];
  /** the 16-bit stored precision of each f32 parameter held at one (by parameter index) */
  stored?: readonly (Stored | undefined)[];
}

/** The stored parameters by variable id. */
function storedVars(func: Func, stored: readonly (Stored | undefined)[] = []): Map<number, Stored> {
  const out = new Map<number, Stored>();
  stored.forEach((s, i) => {
    const p = func.params[i];
    if (!s) return;
    if (!p || p.type.dtype !== 'f32') throw new InternalError(`stored precision ${s} for parameter ${i}, not f32`);
    out.set(p.id, s);
  });
  return out;
}

/** kir: the kernels and host steps of a function (prepare + fusion). */
export function schedule(func: Func, target: TargetPlanOptions, req: PlanRequest = {}): Schedule {
  const maxInputs = Math.min(target.maxInputs ?? Infinity, req.maxInputs ?? Infinity);
  const s = fuse(func, {
    noFusion: req.noFusion,
    maxInputs: Number.isFinite(maxInputs) ? maxInputs : undefined,
    stored: storedVars(func, req.stored),
  });
  dump('kir', `${s.steps.filter((x) => x.kind === 'kernel').length} kernels`, () =>
    s.steps
      .map((x) =>
        x.kind === 'kernel' ? `// kernel ${x.hash}\n${printKernel(x.kernel)}` : `// ${x.kind} ${x.eqn.prim}`,
      )
      .join('\n'),
  );
  return s;
}

/** plan: buffers, steps and donation for a target. */
export function plan(func: Func, target: TargetPlanOptions, req: PlanRequest = {}): KPlan {
  const p = makePlan(schedule(func, target, req), {
    donate: req.donate,
    inPlaceKernels: target.inPlaceKernels,
    alias: req.alias,
  });
  dump('plan', `${p.kernels.length} kernels, peak ${p.peakBytes} B`, () => printPlan(p));
  return p;
}

/** The Wasm plan of a function. */
export function wasmPlan(func: Func, req: PlanRequest = {}): KPlan {
  const p = plan(func, WASM_PLAN, req);
  dump('wat', `${p.kernels.length} kernels`, () => wasmText(p));
  return p;
}

export interface WasmCompileOptions extends PlanRequest, Omit<ProgramOptions, 'nested' | 'donate'> {}

/** A Wasm program of a function; nested functions of its host steps (iterate bodies) are compiled
 *  the same way on first use. */
export function compileWasm(func: Func, opts: WasmCompileOptions = {}): WasmProgram {
  const donate = opts.donate ? [...opts.donate] : undefined;
  return wasmProgram(wasmPlan(func, opts), {
    ...opts,
    donate,
    nested: (g) => compileWasm(g, { noFusion: opts.noFusion, pool: opts.pool }),
  });
}

/** A WebGPU program of a function for a device (its binding budget decides the kernels). */
export async function compileWebGpu(
  func: Func,
  gpu: GpuDevice,
  req: PlanRequest & { readDonated?: boolean } = {},
): Promise<GpuProgram> {
  const p = plan(func, webgpuPlan(gpu.maxStorageBuffers), req);
  const wgsl = wgslOf(p);
  dump('wgsl', `${p.kernels.length} kernels`, () =>
    wgsl.kernels.map((k, i) => `// kernel ${p.kernels[i]!.hash}\n${k}`).join('\n'),
  );
  return gpuProgram(p, wgsl, gpu, { donate: req.donate ? [...req.donate] : undefined, readDonated: req.readDonated });
}

/** wgsl: the WGSL of a plan's kernels and update steps. */
function wgslOf(p: KPlan): PlanWgsl {
  const wgsl = planWgsl(p);
  dump('wgsl', `${p.kernels.length} kernels`, () =>
    wgsl.kernels.map((k, i) => `// kernel ${p.kernels[i]!.hash}\n${k}`).join('\n'),
  );
  return wgsl;
}

/** A lowered entry as the artifact writers need it. */
export interface LoweredEntry {
  func: Func;
  params: ParamLeaf[];
}

/** `obtc compile --target wasm -o DIR`. */
export function wasmArtifact(dir: string, low: LoweredEntry, meta: ArtifactMeta & { donate?: number[] }): Manifest {
  return writeWasmArtifact(dir, wasmPlan(low.func, { donate: meta.donate }), low.params, meta);
}

/** `obtc compile --target webgpu -o DIR`. */
export function webgpuArtifact(
  dir: string,
  low: LoweredEntry,
  meta: ArtifactMeta & { donate?: number[] },
): GpuManifest {
  const p = plan(low.func, WEBGPU_ARTIFACT_PLAN, { donate: meta.donate });
  const wgsl = wgslOf(p);
  return writeGpuArtifact(dir, p, wgsl, low.params, meta);
}

export { wasmText } from './backends/wasm/artifact/target.ts';
