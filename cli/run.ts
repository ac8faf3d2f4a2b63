// obtc run FILE --entry NAME [ARG...]: runs an entry (Wasm backend by default, --backend webgpu|interp,
// --f64 on the interpreter); ARGs are JSON literals read against the parameter types.
import { INTERP } from '../compiler/api.ts';
import { jsonOf, load, openDevice, parseJsonArg, Usage, type Command } from './args.ts';

export const runCmd: Command = async (pos, flags, io) => {
  const file = pos.shift();
  const entry = flags.get('entry');
  if (!file || typeof entry !== 'string') throw new Usage('run needs FILE and --entry NAME');
  const prog = load(file, flags);
  const args = pos.map(parseJsonArg);
  // the Wasm backend by default; --f64 alone runs the interpreter (the Wasm kernels compute in f32)
  const device = flags.has('f64') && !flags.has('backend') ? INTERP : await openDevice(flags);
  const r = await prog.run(entry, args, { f64: flags.has('f64'), device });
  io.out(JSON.stringify(jsonOf(r.value)) + '\n');
  return 0;
};
