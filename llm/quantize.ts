// The quantisation pipeline for any method (docs/methods.md; by default onebit_noln_latw10, the
// best found in docs/ablation/), on any backend: load the fp teacher, initialise every linear layer
// of a student with the method's `init` (models/kd.obt), distil on the teacher's own samples in
// fixed-length blocks with AdamW and a cosine schedule, checkpoint atomically (resumable), `export`
// the layers to their inference form and save the model file (method source embedded), then compare
// perplexities (teacher, init only, trained). --steps 0 is post-training quantisation: init and
// export only. This file is the pipeline and its report; the options are llm/options.ts, the KD
// program llm/kd_program.ts, the training loop with its checkpoints llm/train.ts.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../compiler/syntax/diag.ts';
import { deviceName } from '../compiler/api.ts';
import { terminalText } from '../runtime/core/errors.ts';
import { treeLeaves } from '../runtime/core/tree.ts';
import { numel } from '../runtime/core/tensor.ts';
import { loadModel } from './load.ts';
import { writeModelFile, type Bits } from './io/modelfile.ts';
import { linearLayers, paramCount } from './io/arch.ts';
import type { QuantizeOptions } from './options.ts';
import { ModelRunner } from './runner.ts';
import { Progress } from './progress.ts';
import {
  checkFinitePpl,
  firstWindows,
  formatPpl,
  greedy,
  perplexity,
  tokenStream,
  windowCount,
  type PplResult,
} from './eval.ts';
import { lineChartSvg } from './plot.ts';
import { Quantizer } from './train.ts';
import { Validator, type ValPoint } from './validate.ts';

export { DEFAULT_STEPS, defaultQuantizeOptions, type QuantizeOptions } from './options.ts';
export { KD_PROGRAM } from './kd_program.ts';
export { Quantizer, trainingBlocks, type TrainState } from './train.ts';

export interface QuantizeReport {
  method: string;
  losses: number[];
  /** init: the student right after init (absent for --steps 0, where it is the student) */
  ppl?: { teacher: PplResult; init?: PplResult; trained: PplResult };
  studentBytes: number;
  teacherBytes: number;
  bits: Bits;
  /** trainable parameters (the layers' leaves) */
  trainable: number;
  /** tokens the student was trained on */
  trainTokens: number;
  /** the held-back evaluations during training (--val-every) */
  val: ValPoint[];
  seconds: number;
}

/** Element count of every tensor in a host tree. */
function leafCount(v: unknown): number {
  return treeLeaves(v).reduce((n, l) => n + numel(l.leaf.shape), 0);
}

/** The whole pipeline as `obtc quantize` runs it. */
export async function quantize(
  o: QuantizeOptions,
  log: (s: string) => void,
  out: (s: string) => void,
): Promise<QuantizeReport> {
  const t0 = performance.now();
  // a GGUF in llama.cpp's 1-bit or ternary types is a teacher too: its layers' values, dequantised
  const teacher = await loadModel(o.weights, o.tokenizer, { dense: true });
  if (teacher.layer !== 'Dense')
    throw new UserError(`${o.weights} is already a quantised model (${teacher.layer}); quantize needs an fp teacher`);
  // a learned position table has seqLen rows: longer windows are refused here, before any step
  if (teacher.arch.positions === 'learned')
    for (const [flag, n] of [
      ['--seq', o.seq],
      ['--eval-seq', o.evalText !== undefined ? o.evalSeq : 0],
    ] as const)
      if (n > teacher.config.seqLen)
        throw new UserError(
          `${flag} ${n}: the teacher ${o.weights} learns ${teacher.config.seqLen} positions (${teacher.arch.name}), so no longer window runs`,
          undefined,
          `${flag} ${teacher.config.seqLen}`,
        );
  mkdirSync(dirname(o.out) || '.', { recursive: true });
  for (const f of [`${o.out}.loss.csv`, `${o.out}.val.csv`]) if (!o.resume && existsSync(f)) writeFileSync(f, '');
  const q = new Quantizer(teacher, o, log);
  const m = q.method;
  const c = teacher.config;
  const linear = linearLayers(teacher.arch, c);
  const nW = linear.reduce((s, l) => s + l.weights, 0);
  log(
    `teacher ${o.weights}: dim ${c.dim}, ${c.layers} layers, ${nW} linear weights; method ${m.name} (${m.train} → ${m.infer}); ${o.steps ? `${o.steps} distillation steps of ${o.batch} × ${o.seq} tokens (lr ${o.lr}, α ${o.alpha}${o.temperature !== 1 ? `, temperature ${o.temperature}` : ''}, embedding ${o.embedding})` : 'post-training (no distillation)'}; ${deviceName(o.device)}\n`,
  );
  const val =
    o.valEvery > 0 && o.steps > 0
      ? new Validator(readFileSync(o.evalText ?? '', 'utf8'), teacher, m, o.evalSeq, o.valWindows, o.device)
      : undefined;
  const st = await q.train(val);
  // --early-stop: the student with the best held-back perplexity (it may be the last)
  const best = o.earlyStop > 0 ? val?.best : undefined;
  const student = best && best.step < st.step ? best.student : await q.export(st.ps);
  if (best && best.step < st.step)
    out(`early stopping: the student of step ${best.step} (held-back ppl ${best.ppl.toFixed(4)})\n`);
  const sharedHead = teacher.checkpoint?.sharedHead ?? false;
  const saved = writeModelFile(o.out, {
    arch: teacher.arch,
    config: c,
    tokenizer: teacher.tokenizer.data,
    value: student,
    layer: m.infer,
    method: { name: m.name, source: m.source, train: m.train, infer: m.infer },
    linear,
    params: paramCount(teacher.arch, c, sharedHead),
    fp16: o.fp16,
  });
  if (st.losses.length) {
    const svg = lineChartSvg(
      `${m.name} distillation of ${o.weights.replace(/^.*\//, '')}`,
      [
        { name: 'KD loss', color: '#c0392b', points: st.losses.map((l, i) => [i + 1, l]) },
        ...(val?.points.length
          ? [
              {
                name: 'held-back CE (nats)',
                color: '#2471a3',
                points: val.points.map((p): [number, number] => [p.step, p.ce]),
              },
            ]
          : []),
      ],
      'step',
      'loss',
    );
    writeFileSync(`${o.out}.loss.svg`, svg);
    out(
      `kd loss: first ${st.losses[0]!.toFixed(4)}  last ${st.losses[st.losses.length - 1]!.toFixed(4)}  (${st.losses.length} steps; curve in ${o.out}.loss.svg)\n`,
    );
  }
  const b = saved.bits;
  out(
    `student: ${o.out} (${saved.bytes} bytes; teacher ${teacher.bytes} bytes; ${m.infer} layers at ${b.linear.toFixed(3)} bits/weight, whole model ${b.model.toFixed(3)}, file ${b.file.toFixed(3)})\n`,
  );
  const report: QuantizeReport = {
    method: m.name,
    losses: st.losses,
    studentBytes: saved.bytes,
    teacherBytes: teacher.bytes,
    bits: b,
    // a tied model's head entry is the embedding's twin and gets no gradient: not counted
    trainable:
      leafCount(st.ps) - (o.embedding === 'trained' && (teacher.checkpoint?.sharedHead ?? false) ? c.vocab * c.dim : 0),
    trainTokens: st.step * o.batch * o.seq,
    val: val?.points ?? [],
    seconds: 0,
  };
  if (o.evalText) {
    const text = readFileSync(o.evalText, 'utf8');
    const stream = tokenStream(text, teacher.tokenizer);
    const evalStream = firstWindows(stream, o.evalSeq, o.evalWindows);
    const evalOne = async (name: string, r: ModelRunner) => {
      const res = await perplexity(
        evalStream,
        o.evalSeq,
        (ids, targets) => r.nll(ids, targets),
        new Progress(`ppl ${name}`, windowCount(evalStream.length, o.evalSeq), {
          write: log,
          isTTY: process.stderr.isTTY,
        }),
      );
      out(`${name.padEnd(8)} ${formatPpl(checkFinitePpl(res, `the ${name} model`))}\n`);
      return res;
    };
    const runner = (value: Record<string, unknown>) =>
      ModelRunner.fromFile({ arch: teacher.arch, config: c, value, layer: `method.${m.infer}`, method: m }, o.device);
    const teacherR = ModelRunner.fromFile(teacher, o.device);
    const trainedR = runner(student);
    report.ppl = {
      teacher: await evalOne('teacher', teacherR),
      init: o.steps > 0 ? await evalOne('init', runner(await q.export(await q.initialTrainable()))) : undefined,
      trained: await evalOne('student', trainedR),
    };
    if (o.sampleSteps > 0) {
      for (const [name, r] of [
        ['teacher', teacherR],
        ['student', trainedR],
      ] as const) {
        const { bos, eos, pieces } = teacher.tokenizer.data;
        // a character model has no BOS: it starts from a newline, as nanoGPT's sample.py does
        const start = bos >= 0 ? bos : Math.max(0, pieces.indexOf('\n'));
        const steps = Math.min(o.sampleSteps, c.seqLen);
        const { ids } = await greedy(r.decoder(steps), start, steps, (t) => t === bos || t === eos);
        out(`\n${name} (greedy): ${terminalText(teacher.tokenizer.decode(ids))}\n`);
      }
    }
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
