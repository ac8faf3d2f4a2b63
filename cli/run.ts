// obtc run FILE --entry NAME [ARG...]: runs an entry (Wasm backend by default, --backend webgpu|interp,
// --f64 on the interpreter); ARGs are JSON literals read against the parameter types.
import { nodeGpuDevice } from '../runtime/env/node_gpu.ts';
import { jsonOf, load, parseJsonArg, poolOf, Usage, type Command } from './args.ts';

export const runCmd: Command = async (pos, flags, io) => {
  const file = pos.shift();
  const entry = flags.get('entry');
  if (!file || typeof entry !== 'string') throw new Usage('run needs FILE and --entry NAME');
  const prog = load(file, flags);
  const args = pos.map(parseJsonArg);
  // the Wasm backend by default; --f64 runs the interpreter (the Wasm kernels compute in f32)
  const backend = flags.get('backend') ?? (flags.has('f64') ? 'interp' : 'wasm');
  if (backend !== 'interp' && backend !== 'wasm' && backend !== 'webgpu')
    throw new Usage(`--backend ${String(backend)}: expected wasm, webgpu or interp`);
  const gpu = backend === 'webgpu' ? await nodeGpuDevice() : undefined;
  const r = await prog.runAsync(entry, args, { f64: flags.has('f64'), backend, pool: poolOf(flags), gpu });
  io.out(JSON.stringify(jsonOf(r.value)) + '\n');
  return 0;
};
