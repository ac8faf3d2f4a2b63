// The KD program (models/kd.obt) bound to a teacher and a method: compiled against the method
// (`import method`) and the teacher's architecture (`model`), its entries called by name with the
// model type M and what is trained P as type parameters — the method's init of every layer, the
// student for inference, the state before the first step, one distillation step. The training
// loop around it (checkpoints, signals, validation) is llm/train.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, type HostValue, type Program } from '../compiler/api.ts';
import type { BoundEntry } from '../compiler/entry.ts';
import { CompileError, UserError } from '../compiler/syntax/diag.ts';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import type { Tensor } from '../runtime/core/tensor.ts';
import type { LoadedModel } from './load.ts';
import { archCompileOptions, archDims, modelLeaves, modelType } from './io/arch.ts';
import { ropeArg } from './io/model.ts';
import { methodCompileOptions, resolveMethod, type Method } from './method.ts';
import type { QuantizeOptions } from './options.ts';

export const KD_PROGRAM = join(PROJECT_ROOT, 'models/kd.obt');

/** What kd.obt's train_step returns (its Stepped). */
interface Stepped {
  state: { params: HostValue; opt: HostValue };
  loss: Tensor;
  gnorm: Tensor;
  lr: Tensor;
}

/** What is trained and its optimiser state. */
export interface Params {
  /** what is trained: kd.obt's LayersOnly { layers }, or WithEmbedding { layers, emb, head } */
  ps: HostValue;
  opt: HostValue;
}

export class KdProgram {
  readonly prog: Program;
  readonly method: Method;
  private readonly dims: Record<string, number>;

  constructor(
    readonly teacher: LoadedModel,
    readonly o: QuantizeOptions,
    protected readonly log: (s: string) => void,
  ) {
    this.method = resolveMethod(o.method);
    // kd.obt against the method (`import method`) and the teacher's architecture (`model`)
    const mo = methodCompileOptions(this.method);
    const prog = compile(readFileSync(KD_PROGRAM, 'utf8'), {
      path: KD_PROGRAM,
      ...archCompileOptions(teacher.arch, mo),
    });
    if (!prog.ok) throw new CompileError(prog.diagnostics);
    this.prog = prog;
    this.dims = archDims(teacher.arch, teacher.config);
  }

  /** kd.obt's type parameters by name: the teacher's model type M and what is trained P, the
   *  student's layers in the method's training form (the struct names are visible in kd.obt's
   *  scope: the architecture's module is bound as `model`, the method's as `method`). */
  private get types(): Record<string, string> {
    const a = this.teacher.arch;
    const studentType = modelType(a, this.method.train);
    let trained = `LayersOnly[${studentType}]`;
    if (this.o.embedding === 'trained') {
      // the embedding's shape from the struct (WithEmbedding[M, V, D]'s emb: f32[V, D])
      const leaves = modelLeaves(a, this.teacher.config).leaves;
      const emb = leaves.find((l) => l.path === 'emb');
      if (!emb) throw new UserError(`--embedding trained: the ${a.name} model has no emb field to train`);
      trained = `${this.trainable}[${studentType}, ${emb.shape.join(', ')}]`;
    }
    return { M: modelType(a, 'Dense'), P: trained };
  }

  /** Runs a kd.obt entry once, by name. */
  private async call(
    entry: string,
    args: Record<string, HostValue>,
    typed: { M?: boolean; P?: boolean },
  ): Promise<Record<string, unknown>> {
    const all = this.types;
    const types = Object.fromEntries(Object.entries(all).filter(([k]) => typed[k as 'M' | 'P']));
    return this.prog
      .bind(entry, args, {
        dims: this.dims,
        types,
        device: this.o.device,
      })
      .run();
  }

  /** The student's layers after the method's init (its training form). */
  async initial(): Promise<HostValue> {
    // a layer tree comes back by its named parts: the tree itself
    return (await this.call(
      'init_layers',
      { t: this.teacher.value as HostValue, seed: this.o.seed },
      { M: true },
    )) as HostValue;
  }

  /** What is trained (a kd.obt struct, by name): the layers, or the layers with the embedding and
   *  head (--embedding trained; the embedding alone where it is the head by construction). */
  private get trainable(): string {
    if (this.o.embedding !== 'trained') return 'LayersOnly';
    // a model without a head field (its classifier is its embedding by construction)
    const head = modelLeaves(this.teacher.arch, this.teacher.config).leaves.some((l) => l.path === 'head');
    return head ? 'WithEmbedding' : 'WithTiedEmbedding';
  }

  /** Whether the teacher's head is its embedding (tied). */
  protected get tied(): boolean {
    return this.teacher.checkpoint?.sharedHead ?? false;
  }

  /** The student for inference: the method's export of every layer, the teacher's frozen parts
   *  (or, with --embedding trained, the trained embedding and head). */
  async export(ps: HostValue): Promise<Record<string, unknown>> {
    const t = this.teacher.value as HostValue;
    // a struct result comes back by field: the model value itself
    return this.call('export_student', { t, p: ps, tied: this.tied }, { M: true, P: true });
  }

  /** What is trained after init: the struct's `layers` field is the method's init of the
   *  teacher's layers; every other field (WithEmbedding's emb, head) starts from the teacher's field
   *  of the same name (the fields are the compiler's: kd.obt's struct is their one description). */
  async initialTrainable(): Promise<HostValue> {
    const layers = await this.initial();
    const teacher = this.teacher.value as Record<string, HostValue>;
    return Object.fromEntries(
      this.prog.structFields(this.trainable).map((f) => [f, f === 'layers' ? layers : teacher[f]!]),
    ) as HostValue;
  }

  /** What is trained before the first step (the method's init of every layer, fresh AdamW moments). */
  async startParams(): Promise<Params> {
    const state = (await this.call('start', { p: await this.initialTrainable() }, { P: true })) as {
      params: HostValue;
      opt: HostValue;
    };
    return { ps: state.params, opt: state.opt };
  }

  private stepEntry?: BoundEntry;
  private lastState?: { params: HostValue; opt: HostValue };

  /** One KD step (forward, backward, clipping, AdamW) on a batch of token blocks: updates st.ps and
   *  st.opt. The entry is bound once (the teacher flattened once); the state is donated: updated in
   *  place, resident across steps. */
  async step(st: Params & { step: number }, batch: Tensor[]): Promise<{ loss: number; gnorm: number; lr: number }> {
    const o = this.o;
    // the state the last step returned, passed back as it is (the entry knows its leaves already)
    const last = this.lastState;
    const state = last && last.params === st.ps && last.opt === st.opt ? last : { params: st.ps, opt: st.opt };
    const hp = {
      lr: o.lr,
      warmup: o.warmup,
      steps: o.steps,
      alpha: o.alpha,
      temperature: o.temperature,
      reference: o.reference,
      clip: o.clip,
      wd: o.wd,
      tied: this.tied,
      eps: this.teacher.config.eps,
      rope: ropeArg(this.teacher.config),
    };
    this.stepEntry ??= this.prog.bind(
      'train_step',
      { teacher: this.teacher.value as HostValue, state, batch, step: st.step, hp },
      {
        dims: this.dims,
        types: this.types,
        device: o.device,
        donate: ['state'],
      },
    );
    const r = (await this.stepEntry.run({ state, batch, step: st.step })) as unknown as Stepped;
    st.ps = r.state.params;
    st.opt = r.state.opt;
    this.lastState = r.state;
    return { loss: r.loss.data[0]!, gnorm: r.gnorm.data[0]!, lr: r.lr.data[0]! };
  }
}
