// obtc quantize: the quantisation pipeline for any method (--method NAME|FILE; OneBit by default):
// init, knowledge distillation, export, then teacher / init-only / trained perplexity, through
// llm/quantize.ts. --steps 0 is post-training quantisation.
import { quantize, type QuantizeOptions } from '../llm/quantize.ts';
import { nodeGpuDevice } from '../runtime/env/node_gpu.ts';
import { backendOf, num, poolOf, str, type Command, type Flags } from './args.ts';
import { DEFAULT_EVAL, DEFAULT_KD_DATA, DEFAULT_WEIGHTS } from '../llm/defaults.ts';
import { DEFAULT_METHOD } from '../llm/method.ts';

/** The quantize flags as options (obtc ablate reads the same ones). */
export function quantizeOptions(flags: Flags): QuantizeOptions {
  const pos = (k: string, d: number) => num(flags, k, d, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  const nonneg = (k: string, d: number) => num(flags, k, d, (x) => x >= 0, 'a number >= 0');
  const steps = num(flags, 'steps', 300, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0 (0: no distillation)');
  return {
    weights: str(flags, 'weights') ?? DEFAULT_WEIGHTS,
    tokenizer: str(flags, 'tokenizer'),
    data: str(flags, 'data') ?? DEFAULT_KD_DATA,
    out: str(flags, 'out') ?? 'student.obtm',
    method: str(flags, 'method') ?? DEFAULT_METHOD,
    steps,
    batch: pos('batch', 4),
    seq: pos('seq', 128),
    lr: num(flags, 'lr', 1e-3, (x) => x > 0, 'a positive learning rate'),
    warmup: nonneg('warmup', Math.min(30, Math.floor(steps / 10))),
    alpha: nonneg('alpha', 1.0),
    clip: num(flags, 'clip', 1.0, (x) => x > 0, 'a positive norm'),
    wd: nonneg('wd', 0.01),
    reference: flags.has('reference-scaling'),
    seed: num(flags, 'seed', 1234, Number.isInteger, 'an integer'),
    checkpointEvery: num(flags, 'checkpoint-every', 25, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0'),
    resume: flags.has('resume'),
    evalText: flags.has('no-eval') ? undefined : (str(flags, 'eval-text') ?? DEFAULT_EVAL),
    evalSeq: pos('eval-seq', 256),
    evalWindows: flags.has('eval-windows') ? pos('eval-windows', 1) : undefined,
    fp16: flags.has('fp16'),
    sampleSteps: num(flags, 'sample-steps', 100, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0'),
    backend: backendOf(flags),
    pool: poolOf(flags),
  };
}

export const quantizeCmd: Command = async (_pos, flags, io) => {
  const o = quantizeOptions(flags);
  if (o.backend === 'webgpu') o.gpu = await nodeGpuDevice();
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
