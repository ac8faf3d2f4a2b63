// obtc quantize: the quantisation pipeline for any method (--method NAME|FILE; OneBit by default):
// init, knowledge distillation, export, then teacher / init-only / trained perplexity, through
// llm/quantize.ts. --steps 0 is post-training quantisation.
import { quantize } from '../llm/quantize.ts';
import { OptionError, readQuantizeOptions, type QuantizeOptions } from '../llm/options.ts';
import { UserError } from '../compiler/syntax/diag.ts';
import { nodeGpuDevice } from '../runtime/env/node_gpu.ts';
import { backendOf, deviceOf, type Command, type Flags } from './args.ts';
import type { GpuDevice } from '../runtime/webgpu/device.ts';

/** The quantize flags as options (llm/options.ts's table; obtc ablate reads the same ones). */
export function quantizeOptions(flags: Flags, gpu?: GpuDevice): QuantizeOptions {
  try {
    return readQuantizeOptions((k) => flags.get(k), deviceOf(flags, gpu));
  } catch (e) {
    if (e instanceof OptionError) throw new UserError(e.message);
    throw e;
  }
}

export const quantizeCmd: Command = async (_pos, flags, io) => {
  const o = quantizeOptions(flags, backendOf(flags) === 'webgpu' ? await nodeGpuDevice() : undefined);
  const json = flags.has('json');
  const r = await quantize(
    o,
    (s) => io.err(s),
    // --json: stdout carries only the summary object
    (s) => (json ? io.err(s) : io.out(s)),
  );
  if (json) {
    io.out(
      JSON.stringify({
        method: r.method,
        out: o.out,
        teacherPpl: r.ppl?.teacher.ppl,
        initPpl: r.ppl?.init?.ppl,
        trainedPpl: r.ppl?.trained.ppl,
        teacherBytes: r.teacherBytes,
        studentBytes: r.studentBytes,
        compression: r.teacherBytes / r.studentBytes,
        bitsPerLinearWeight: r.bits.linear,
        bitsPerParameter: r.bits.model,
        seconds: r.seconds,
      }) + '\n',
    );
    return 0;
  }
  if (r.ppl) {
    const { teacher, init, trained } = r.ppl;
    const parts = [`teacher ppl ${teacher.ppl.toFixed(4)}`];
    if (init) parts.push(`${r.method} init-only ppl ${init.ppl.toFixed(4)}`);
    parts.push(`${init ? 'trained ' : ''}${r.method} ppl ${trained.ppl.toFixed(4)}`);
    io.out(`\n${parts.join(' | ')}\n`);
  }
  io.out(
    `compression: ${(r.teacherBytes / r.studentBytes).toFixed(2)}x smaller file (${r.teacherBytes} -> ${r.studentBytes} bytes), ${r.bits.linear.toFixed(3)} bits per linear weight, ${r.bits.model.toFixed(3)} per model parameter; ${r.seconds.toFixed(0)} s\n`,
  );
  return 0;
};
