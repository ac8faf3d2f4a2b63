// The Wasm target: how a plan is made for it (elementwise kernels may write in place), its kernels
// as binaryen modules (compiled and cached by compiler/backends/wasm/codegen.ts), the runnable
// WasmProgram and the artifact directory (format in runtime/wasm/artifact.ts). The plan itself
// comes from compiler/pipeline.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KPlan } from '../../../plan/plan.ts';
import type { TargetPlanOptions } from '../../artifact.ts';
import { compileKernel, kernelModule, relaxedSimd, CODEGEN_VERSION } from '../codegen.ts';
import { signMethod } from '../../../templates/signlinear/wasm.ts';
import { ARTIFACT_FORMAT, ARTIFACT_VERSION, encodePlan, type Manifest } from '../../../../runtime/wasm/artifact.ts';
import { WasmProgram, type ProgramOptions } from '../../../../runtime/wasm/program.ts';
import type { ArtifactMeta, ParamLeaf } from '../../artifact.ts';

/** Plan options of the Wasm target: one memory, so an elementwise kernel may write into an input. */
export const WASM_PLAN: TargetPlanOptions = { inPlaceKernels: true };

/** The kernel binaries of a plan (shared-memory variants for a thread pool), with relaxed SIMD
 *  where this host runs it (artifacts, which may run elsewhere, are always plain SIMD128). */
function wasmKernels(plan: KPlan, shared: boolean): WebAssembly.Module[] {
  const relaxed = relaxedSimd();
  return plan.kernels.map(
    (k) =>
      new WebAssembly.Module(compileKernel(k.kernel!, k.hash, { shared, relaxed }).bytes as Uint8Array<ArrayBuffer>),
  );
}

/** A runnable program of a plan. */
export function wasmProgram(plan: KPlan, opts: ProgramOptions): WasmProgram {
  const shared = !!opts.pool && opts.pool.threads > 1;
  return new WasmProgram(plan, wasmKernels(plan, shared), opts);
}

/** The WebAssembly text of every kernel of a plan (OBT_DEBUG=wat, `obtc compile --emit wat`). */
export function wasmText(plan: KPlan): string {
  return plan.kernels
    .map((k) => {
      const { m } = kernelModule(k.kernel!, false, relaxedSimd());
      const text = m.emitText();
      m.dispose();
      return `// kernel ${k.hash}\n${text}`;
    })
    .join('');
}

/** Writes a Wasm artifact: both memory variants of every kernel, the plan, then the manifest (last,
 *  so that a directory with a manifest is complete). */
export function writeWasmArtifact(dir: string, plan: KPlan, params: ParamLeaf[], meta: ArtifactMeta): Manifest {
  mkdirSync(join(dir, 'kernels'), { recursive: true });
  const kernels = plan.kernels.map((k) => {
    const file = `kernels/${k.hash}.wasm`;
    const shared = `kernels/${k.hash}.shared.wasm`;
    writeFileSync(join(dir, file), compileKernel(k.kernel!, k.hash).bytes);
    writeFileSync(join(dir, shared), compileKernel(k.kernel!, k.hash, { shared: true }).bytes);
    return { hash: k.hash, file, shared };
  });
  writeFileSync(join(dir, 'plan.json'), encodePlan(plan));
  const manifest: Manifest = {
    format: ARTIFACT_FORMAT,
    version: ARTIFACT_VERSION,
    codegen: CODEGEN_VERSION,
    signlinear: signMethod(),
    source: meta.source,
    entry: meta.entry,
    inputs: params.map((p) => ({ path: p.path, dtype: p.dtype, shape: p.shape })),
    outputs: planOutputs(plan),
    kernels,
    memoryBytes: plan.memoryBytes,
    peakBytes: plan.peakBytes,
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/** The manifest's description of a plan's results. */
export function planOutputs(plan: KPlan): { path: string; dtype: string; shape: number[] }[] {
  return plan.outputs.map((o, i) =>
    typeof o === 'number'
      ? { path: `out${i}`, dtype: plan.buffers[o]!.dtype, shape: plan.buffers[o]!.shape }
      : { path: `out${i}`, dtype: o.dtype, shape: [] },
  );
}
