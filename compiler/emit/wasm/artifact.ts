// Writes a compiled Wasm artifact (the format is described in runtime/wasm/artifact.ts): the plan,
// both memory variants of every kernel, and the manifest — written last, so that a directory with
// a manifest is complete.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Func } from '../../core/ir.ts';
import type { Lowered } from '../../api.ts';
import { fuse } from '../../fuse/fuse.ts';
import { makePlan } from '../../plan/plan.ts';
import { compileKernel, CODEGEN_VERSION } from './module.ts';
import { signMethod } from './abi.ts';
import { ARTIFACT_FORMAT, ARTIFACT_VERSION, encodePlan, type Manifest } from '../../../runtime/wasm/artifact.ts';

export function writeArtifact(dir: string, low: Lowered, meta: { source: string; entry: string; donate?: number[] }): Manifest {
  const f: Func = low.func;
  const plan = makePlan(fuse(f), { donate: meta.donate });
  mkdirSync(join(dir, 'kernels'), { recursive: true });
  const kernels = plan.kernels.map((k) => {
    const file = `kernels/${k.hash}.wasm`;
    const shared = `kernels/${k.hash}.shared.wasm`;
    writeFileSync(join(dir, file), compileKernel(k.kernel!, k.hash).bytes);
    writeFileSync(join(dir, shared), compileKernel(k.kernel!, k.hash, { shared: true }).bytes);
    return { hash: k.hash, file, shared };
  });
  writeFileSync(join(dir, 'plan.json'), encodePlan(plan));
  const outputs = plan.outputs.map((o, i) => (typeof o === 'number' ? { path: `out${i}`, dtype: plan.buffers[o]!.dtype, shape: plan.buffers[o]!.shape } : { path: `out${i}`, dtype: o.dtype, shape: [] }));
  const manifest: Manifest = {
    format: ARTIFACT_FORMAT,
    version: ARTIFACT_VERSION,
    codegen: CODEGEN_VERSION,
    signlinear: signMethod(),
    source: meta.source,
    entry: meta.entry,
    inputs: low.params.map((p) => ({ path: p.path, dtype: p.dtype, shape: p.shape })),
    outputs,
    kernels,
    memoryBytes: plan.memoryBytes,
    peakBytes: plan.peakBytes,
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
