// Compiling for the Wasm backend: fuse → plan → one binaryen module per kernel (cached), then a
// WasmProgram (runtime/wasm/program.ts) runs it. Nested functions of host steps (iterate bodies)
// are compiled the same way on first use.
import type { Func } from '../../compiler/core/ir.ts';
import { fuse, type FuseOptions } from '../../compiler/fuse/fuse.ts';
import { makePlan, type Plan } from '../../compiler/plan/plan.ts';
import { compileKernel, type CompiledKernel } from '../../compiler/emit/wasm/module.ts';
import { WasmProgram, type ProgramOptions } from './program.ts';

export { WasmProgram, MIN_PARALLEL_WORK } from './program.ts';

export interface WasmOptions extends FuseOptions, Omit<ProgramOptions, 'nested'> {}

/** The plan and kernel binaries of a Core function (shared-memory kernels for a thread pool). */
export function compilePlan(f: Func, opts: WasmOptions = {}): { plan: Plan; compiled: CompiledKernel[]; shared: boolean } {
  const plan = makePlan(fuse(f, opts), { donate: opts.donate });
  const shared = !!opts.pool && opts.pool.threads > 1;
  const compiled = plan.kernels.map((k) => compileKernel(k.kernel!, k.hash, { shared }));
  return { plan, compiled, shared };
}

/** Fuses, plans and compiles a Core function for the Wasm backend. */
export function compileWasm(f: Func, opts: WasmOptions = {}): WasmProgram {
  const { plan, compiled } = compilePlan(f, opts);
  const modules = compiled.map((c) => new WebAssembly.Module(c.bytes as Uint8Array<ArrayBuffer>));
  return new WasmProgram(plan, modules, { ...opts, nested: (g) => compileWasm(g, { noFusion: opts.noFusion, pool: opts.pool }) });
}
