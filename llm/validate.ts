// Evaluation during distillation (obtc quantize --val-every N): the student's perplexity on a
// held-back slice of the evaluation text — its last --val-windows windows, which the final
// evaluation with --eval-windows (its first windows) does not reach — every N steps, with the
// best student kept for --early-stop. The student is exported (its inference form: what the
// model file will hold) and run by one compiled ModelRunner whose weights are swapped per call.
import type { LoadedModel } from './load.ts';
import type { Method } from './method.ts';
import { ModelRunner } from './runner.ts';
import { perplexity, tokenStream, type PplResult } from './eval.ts';
import { UserError } from '../compiler/syntax/diag.ts';
import type { Device } from '../compiler/api.ts';
import { isTensor, mapTree } from '../runtime/core/tree.ts';
import type { Tensor } from '../runtime/core/tensor.ts';

export interface ValPoint {
  step: number;
  ppl: number;
  ce: number;
}

export class Validator {
  readonly stream: number[];
  private runner?: ModelRunner;
  readonly points: ValPoint[] = [];
  /** the exported student with the lowest held-back perplexity so far, and its step */
  best?: { step: number; ppl: number; student: Record<string, unknown> };

  constructor(
    text: string,
    private readonly teacher: LoadedModel,
    private readonly method: Method,
    readonly seq: number,
    readonly windows: number,
    private readonly device: Device,
  ) {
    const all = tokenStream(text, teacher.tokenizer);
    const need = windows * seq + 1;
    if (all.length < need)
      throw new UserError(
        `--val-windows ${windows}: the evaluation text has ${all.length} tokens, fewer than ${windows} windows of ${seq} (${need})`,
      );
    this.stream = all.slice(all.length - need);
  }

  /** The held-back perplexity of an exported student at a step; keeps it if it is the best so far. */
  async evaluate(step: number, student: Record<string, unknown>): Promise<ValPoint> {
    const c = this.teacher.config;
    const file = {
      arch: this.teacher.arch,
      config: c,
      value: student,
      layer: `method.${this.method.infer}`,
      method: this.method,
    };
    // one compiled program for every evaluation: only the weights change
    this.runner = this.runner
      ? new ModelRunner(this.runner.prog, file.arch, c, student, file.layer, this.device)
      : ModelRunner.fromFile(file, this.device);
    const r = this.runner;
    const res: PplResult = await perplexity(this.stream, this.seq, (ids, targets) => r.nll(ids, targets));
    const p = { step, ppl: res.ppl, ce: res.ce };
    this.points.push(p);
    // a copy: an export may pass the training state's tensors through, and those are updated in place
    const copy = () =>
      mapTree(student, isTensor, (t: Tensor) => ({ ...t, shape: [...t.shape], data: t.data.slice() })) as Record<
        string,
        unknown
      >;
    if (Number.isFinite(res.ppl) && (!this.best || res.ppl < this.best.ppl))
      this.best = { step, ppl: res.ppl, student: copy() };
    return p;
  }

  /** Whether the last `patience` evaluations all failed to improve on the best. */
  stalled(patience: number): boolean {
    if (!this.best || patience <= 0) return false;
    const since = this.points.filter((p) => p.step > this.best!.step).length;
    return since >= patience;
  }
}
