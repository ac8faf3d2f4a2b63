// obtc quantize: the quantisation pipeline for any method (--method NAME|FILE; OneBit by default):
// init, knowledge distillation, export, then teacher / init-only / trained perplexity, through
// llm/quantize.ts. --steps 0 is post-training quantisation.
import { defaultQuantizeOptions, quantize, type QuantizeOptions } from '../llm/quantize.ts';
import { nodeGpuDevice } from '../runtime/env/node_gpu.ts';
import { backendOf, choice, num, poolOf, str, Usage, type Command, type Flags } from './args.ts';

/** The quantize flags as options (obtc ablate reads the same ones). */
/** --fp16 / --fp32: how the model file stores f32 tensors (f16 by default). */
function f16(flags: Flags, dflt: boolean): boolean {
  if (flags.has('fp16') && flags.has('fp32')) throw new Usage('--fp16 and --fp32 exclude each other');
  return flags.has('fp32') ? false : flags.has('fp16') || dflt;
}

export function quantizeOptions(flags: Flags): QuantizeOptions {
  const pos = (k: string, d: number) => num(flags, k, d, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  const nonneg = (k: string, d: number) => num(flags, k, d, (x) => x >= 0, 'a number >= 0');
  const int0 = (k: string, d: number) => num(flags, k, d, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0');
  const steps = num(
    flags,
    'steps',
    defaultQuantizeOptions().steps,
    (x) => Number.isInteger(x) && x >= 0,
    'an integer >= 0 (0: no distillation)',
  );
  const d = defaultQuantizeOptions(steps);
  return {
    weights: str(flags, 'weights') ?? d.weights,
    tokenizer: str(flags, 'tokenizer'),
    data: str(flags, 'data') ?? d.data,
    out: str(flags, 'out') ?? d.out,
    method: str(flags, 'method') ?? d.method,
    steps,
    batch: pos('batch', d.batch),
    seq: pos('seq', d.seq),
    lr: num(flags, 'lr', d.lr, (x) => x > 0, 'a positive learning rate'),
    warmup: nonneg('warmup', d.warmup),
    alpha: nonneg('alpha', d.alpha),
    temperature: num(flags, 'temperature', d.temperature, (x) => x > 0, 'a positive temperature'),
    embedding: choice(flags, 'embedding', d.embedding, ['frozen', 'trained'] as const),
    clip: num(flags, 'clip', d.clip, (x) => x > 0, 'a positive norm'),
    wd: nonneg('wd', d.wd),
    reference: flags.has('reference-scaling'),
    seed: num(flags, 'seed', d.seed, Number.isInteger, 'an integer'),
    checkpointEvery: int0('checkpoint-every', d.checkpointEvery),
    resume: flags.has('resume'),
    force: flags.has('force'),
    evalText: flags.has('no-eval') ? undefined : (str(flags, 'eval-text') ?? d.evalText),
    evalSeq: pos('eval-seq', d.evalSeq),
    evalWindows: flags.has('eval-windows') ? pos('eval-windows', 1) : undefined,
    fp16: f16(flags, d.fp16),
    sampleSteps: int0('sample-steps', d.sampleSteps),
    valEvery: int0('val-every', d.valEvery),
    valWindows: pos('val-windows', d.valWindows),
    earlyStop: int0('early-stop', d.earlyStop),
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
