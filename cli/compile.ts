// obtc compile FILE: --emit ast|core|kir|plan|wat prints a compiler stage; --target wasm|webgpu -o DIR
// writes an artifact that runs without the compiler (obtc exec).
import { compile, type HostValue } from '../compiler/api.ts';
import { CompileError } from '../compiler/syntax/diag.ts';
import { printFunc } from '../compiler/core/print.ts';
import { hashFunc } from '../compiler/core/hash.ts';
import { printModule } from '../compiler/syntax/print.ts';
import { printPlan } from '../compiler/plan/plan.ts';
import { printKernel } from '../compiler/kir/print.ts';
import { wasmArtifact, wasmPlan, wasmText, webgpuArtifact } from '../compiler/pipeline.ts';
import { load, parseJsonArg, readSource, shapeArgs, sourcePath, Usage, type Command } from './args.ts';

export const compileCmd: Command = async (pos, flags, io) => {
  const file = pos.shift();
  if (!file) throw new Usage('compile needs FILE');
  const emit = flags.get('emit') ?? 'core';
  if (emit === 'ast') {
    const prog = compile(readSource(file), { path: sourcePath(file) });
    if (!prog.ok) throw new CompileError(prog.diagnostics);
    io.out(printModule(prog.loaded.root.ast) + '\n');
    return 0;
  }
  if (!['core', 'kir', 'plan', 'wat'].includes(emit as string))
    throw new Usage(`--emit ${String(emit)}: expected ast, core, kir, plan or wat`);
  const entry = flags.get('entry');
  if (typeof entry !== 'string') throw new Usage('compile --emit core needs --entry NAME');
  const prog = load(file, flags);
  const f = prog.entry(entry);
  let args: HostValue[] = pos.map(parseJsonArg);
  const shapes = flags.get('shape');
  if (typeof shapes === 'string')
    args = shapeArgs(
      f.decl.params.map((p) => p.name),
      shapes,
    );
  const { types } = prog.argTypes(f, args);
  const low = prog.lower(entry, types);
  if (flags.has('target')) {
    const target = flags.get('target');
    if (target !== 'wasm' && target !== 'webgpu')
      throw new Usage(`--target ${String(target)}: expected wasm or webgpu`);
    const dir = flags.get('o');
    if (typeof dir !== 'string') throw new Usage(`compile --target ${target} needs -o DIR`);
    if (target === 'webgpu') {
      const man = webgpuArtifact(dir, low, { source: file, entry });
      io.out(
        `${dir}: ${man.kernels.length} WGSL kernels, ${man.updates.length} update steps, ${man.inputs.length} inputs, ${man.outputs.length} outputs (at most ${man.maxStorageBuffers} storage buffers per kernel)\n`,
      );
      return 0;
    }
    const man = wasmArtifact(dir, low, { source: file, entry });
    io.out(
      `${dir}: ${man.kernels.length} kernels, ${man.inputs.length} inputs, ${man.outputs.length} outputs, memory ${man.memoryBytes} B (peak ${man.peakBytes} B)\n`,
    );
    return 0;
  }
  if (emit !== 'core') {
    const plan = wasmPlan(low.func);
    if (emit === 'plan') io.out(printPlan(plan) + '\n');
    else if (emit === 'kir') for (const k of plan.kernels) io.out(`// kernel ${k.hash}\n${printKernel(k.kernel!)}\n`);
    else io.out(wasmText(plan));
    return 0;
  }
  io.out(`// ${entry}: ${low.func.eqns.length} equations, hash ${hashFunc(low.func)}\n`);
  io.out(`// params: ${low.params.map((p) => `${p.path}: ${p.dtype}[${p.shape.join(', ')}]`).join(', ')}\n`);
  io.out(printFunc(low.func) + '\n');
  return 0;
};
