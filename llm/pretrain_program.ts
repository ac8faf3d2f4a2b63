// The training program (models/train.obt) bound to an architecture and a method: compiled against
// the method (`import method`; models/dense.obt for a full-precision run) and the architecture
// (`model`), its entries called by name with the model type M and what is trained P as type
// parameters — the architecture's init, the method's init of every layer, the state before the
// first step, one step, a batch's loss, the model for inference. The loop around it (batches,
// checkpoints, validation, the report) is llm/pretrain.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, type HostValue, type Program } from '../compiler/api.ts';
import type { BoundEntry } from '../compiler/entry.ts';
import { CompileError, UserError } from '../compiler/syntax/diag.ts';
import { MODELS_DIR, PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { treeFromPaths } from '../runtime/core/contract.ts';
import { alloc, type Tensor } from '../runtime/core/tensor.ts';
import type { Device } from '../compiler/api.ts';
import { archCompileOptions, archDims, archFile, modelLeaves, modelType } from './io/arch.ts';
import { ropeArg, type LlamaConfig } from './io/model.ts';
import type { Arch } from './io/names.ts';
import { methodCompileOptions, methodFromSource, type Method } from './method.ts';

export const TRAIN_PROGRAM = join(PROJECT_ROOT, 'models/train.obt');
/** The identity method: layers stay Dense (a full-precision run). */
const DENSE_METHOD = join(MODELS_DIR, 'dense.obt');

/** train.obt's Hyper: nanoGPT's names. */
export interface Hyper {
  learning_rate: number;
  min_lr: number;
  warmup_iters: number;
  lr_decay_iters: number;
  beta1: number;
  beta2: number;
  weight_decay: number;
  grad_clip: number;
}

/** The training state train.obt's entries pass around (its TrainState). */
export interface State {
  params: HostValue;
  opt: HostValue;
}

export class TrainProgram {
  readonly prog: Program;
  /** the method the layers are trained in (undefined: full precision) */
  readonly method?: Method;
  private readonly dims: Record<string, number>;
  private stepEntry?: { quantized: boolean; e: BoundEntry };
  private evalEntry?: { quantized: boolean; e: BoundEntry };
  private lastState?: State;

  constructor(
    readonly arch: Arch,
    readonly config: LlamaConfig,
    method: Method | undefined,
    readonly device: Device,
  ) {
    this.method = method;
    const m = method ?? methodFromSource('dense', DENSE_METHOD, readFileSync(DENSE_METHOD, 'utf8'));
    const mo = methodCompileOptions(m);
    const prog = compile(readFileSync(TRAIN_PROGRAM, 'utf8'), {
      path: TRAIN_PROGRAM,
      ...archCompileOptions(arch, mo),
    });
    if (!prog.ok) throw new CompileError(prog.diagnostics);
    this.prog = prog;
    this.dims = archDims(arch, config);
    // the architecture's module as the compiler loaded it: does it define a public init?
    const archModule = [...prog.loaded.modules.values()].find((m) => m.id === archFile(arch));
    if (!archModule?.fns.get('init')?.some((f) => f.decl.pub))
      throw new UserError(
        `${arch.model} defines no init (pub fn init[…](like: …, seed: i32)), so it cannot be trained from scratch`,
        undefined,
        'models/gpt.obt and models/llama.obt have one',
      );
  }

  /** The model type with a layer type: the dense model (M), or what is trained (P). */
  private type(quantized: boolean): string {
    return modelType(this.arch, quantized && this.method ? this.method.train : 'Dense');
  }

  private call(entry: string, args: Record<string, HostValue>, types: Record<string, string>) {
    return this.prog.bind(entry, args, { dims: this.dims, types, device: this.device }).run();
  }

  /** The architecture's init (its `.obt` file's `init`, reached through the model's struct). */
  async init(seed: number): Promise<HostValue> {
    // a zero model of the struct's shape: init reads only its shape (its arrays' lengths)
    const { leaves } = modelLeaves(this.arch, this.config);
    const like = treeFromPaths(leaves.map((l) => ({ path: l.path, value: alloc(l.dtype, l.shape) }))) as HostValue;
    return (await this.call('init_model', { like, seed }, { M: this.type(false) })) as HostValue;
  }

  /** The model with its layers in the method's training form (method.init of each, seeded). */
  async quantized(p: HostValue, seed: number): Promise<HostValue> {
    return (await this.call('quantized', { p, seed }, { M: this.type(false) })) as HostValue;
  }

  /** The state before the first step (or the first step after --quantize-from): fresh moments. */
  async start(p: HostValue, quantized: boolean): Promise<State> {
    return (await this.call('start', { p }, { P: this.type(quantized) })) as unknown as State;
  }

  private hyper(h: Hyper): HostValue {
    return { ...h, eps: this.config.eps, rope: ropeArg(this.config) } as unknown as HostValue;
  }

  /** One step: the state is donated (updated in place, resident across steps). */
  async step(
    st: State,
    quantized: boolean,
    x: Tensor,
    y: Tensor,
    it: number,
    h: Hyper,
  ): Promise<{ state: State; loss: number; gnorm: number; lr: number }> {
    // the state the last step returned, passed back as it is (the entry knows its leaves already)
    const last = this.lastState;
    const state = last && last.params === st.params && last.opt === st.opt ? last : { params: st.params, opt: st.opt };
    if (!this.stepEntry || this.stepEntry.quantized !== quantized)
      this.stepEntry = {
        quantized,
        e: this.prog.bind(
          'train_step',
          { state: state as unknown as HostValue, x, y, it, h: this.hyper(h) },
          { dims: this.dims, types: { P: this.type(quantized) }, device: this.device, donate: ['state'] },
        ),
      };
    const r = (await this.stepEntry.e.run({ state: state as unknown as HostValue, x, y, it })) as unknown as {
      state: State;
      loss: Tensor;
      gnorm: Tensor;
      lr: Tensor;
    };
    this.lastState = r.state;
    return { state: r.state, loss: r.loss.data[0]!, gnorm: r.gnorm.data[0]!, lr: r.lr.data[0]! };
  }

  /** The mean next-token loss of a batch (no gradient). */
  async loss(p: HostValue, quantized: boolean, x: Tensor, y: Tensor, h: Hyper): Promise<number> {
    if (!this.evalEntry || this.evalEntry.quantized !== quantized)
      this.evalEntry = {
        quantized,
        e: this.prog.bind(
          'eval_loss',
          { p, x, y, h: this.hyper(h) },
          { dims: this.dims, types: { P: this.type(quantized) }, device: this.device },
        ),
      };
    const r = (await this.evalEntry.e.run({ p, x, y })) as unknown as { result: Tensor };
    return r.result.data[0]!;
  }

  /** The model for inference: the method's export of every layer (the model itself when dense). */
  async exported(p: HostValue, quantized: boolean): Promise<Record<string, unknown>> {
    if (!quantized || !this.method) return p as Record<string, unknown>;
    return this.call('export_model', { p }, { P: this.type(true) });
  }
}
