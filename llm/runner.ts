// Runs models/llama.obt on a loaded model of any layer type (Dense, or a method's inference form, the
// method's module compiled in) with the reference interpreter, Wasm or WebGPU: full-sequence logits
// (for perplexity) and a one-token decode step with its KV cache (for generation). The entries are
// llama.obt's generic `forward` and `decode`, given the layer type by name. Each entry is lowered
// once per shape and its Core IR reused.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KernelPool } from '../runtime/wasm/pool.ts';
import type { GpuDevice } from '../runtime/webgpu/device.ts';
import { compile, type Backend, type HostValue, type Lowered, type Program } from '../compiler/api.ts';
import { CompileError, UserError } from '../compiler/syntax/diag.ts';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { interpret } from '../runtime/ref/interp.ts';
import { alloc, fromNested, type Tensor } from '../runtime/core/tensor.ts';
import { headDim, type LlamaConfig } from './io/model.ts';
import { methodCompileOptions, modelFileError, type Method } from './method.ts';

export const DEFAULT_MODEL = join(PROJECT_ROOT, 'models/llama.obt');

function scalar(v: number, dtype: 'f32' | 'i32'): Tensor {
  return fromNested(v, dtype);
}

/** What the runner needs of a loaded model. */
export interface RunnableModel {
  config: LlamaConfig;
  value: Record<string, unknown>;
  /** `Dense`, or `method.<inference form>` with the method */
  layer: string;
  method?: Method;
  /** the file it came from: errors its content causes name it */
  file?: string;
}

const programs = new Map<string, WeakMap<Method | typeof DENSE, Program>>();
const DENSE = {};

/** models/llama.obt (or another model program) compiled against a model's method, once per method. */
export function modelProgram(m: { method?: Method; file?: string }, modelFile = DEFAULT_MODEL): Program {
  let byMethod = programs.get(modelFile);
  if (!byMethod) programs.set(modelFile, (byMethod = new WeakMap()));
  const key = m.method ?? DENSE;
  let prog = byMethod.get(key);
  if (!prog) {
    prog = compile(readFileSync(modelFile, 'utf8'), {
      path: modelFile,
      ...(m.method ? methodCompileOptions(m.method) : {}),
    });
    if (!prog.ok)
      throw m.method?.sealed && m.file
        ? modelFileError(m.file, 'method', new CompileError(prog.diagnostics))
        : new CompileError(prog.diagnostics);
    byMethod.set(key, prog);
  }
  return prog;
}

/** Checks a loaded model's value tree against the struct it claims to be, Llama[layer, V, D, F, H,
 *  KV, L] at its config's sizes (vocabulary against the embedding's and head's rows, heads and
 *  hidden sizes against every layer's shapes, each leaf's dtype), before anything runs: a mismatch
 *  is one line naming the file and the leaf. */
export function checkModelTypes(m: RunnableModel & { file: string }, modelFile = DEFAULT_MODEL): void {
  const c = m.config;
  try {
    const prog = modelProgram(m, modelFile);
    prog.argTypes(
      prog.entry('forward'),
      [m.value as HostValue, fromNested([0], 'i32'), scalar(c.eps, 'f32'), scalar(c.ropeTheta, 'f32')],
      { V: c.vocab, D: c.dim, F: c.hidden, H: c.heads, KV: c.kvHeads, L: c.layers },
      false,
      { Lin: m.layer },
    );
  } catch (e) {
    throw modelFileError(m.file, 'model', e);
  }
}

interface Prepared {
  low: Lowered;
  inputs: Tensor[];
}

export class LlamaRunner {
  private readonly prepared = new Map<string, Prepared>();

  constructor(
    readonly prog: Program,
    readonly config: LlamaConfig,
    readonly weights: Record<string, unknown>,
    /** the layer type by name: `Dense`, or `method.<inference form>` */
    readonly layer: string = 'Dense',
    readonly backend: Backend = 'interp',
    readonly pool?: KernelPool,
    readonly gpu?: GpuDevice,
    /** the model file whose sealed method this runs: a user error while lowering names it */
    readonly file?: string,
  ) {}

  static fromFile(
    m: RunnableModel,
    modelFile = DEFAULT_MODEL,
    backend: Backend = 'interp',
    pool?: KernelPool,
    gpu?: GpuDevice,
  ): LlamaRunner {
    // errors of a model file's own method are the file's: they name it (one line)
    const own = m.method?.sealed ? m.file : undefined;
    return new LlamaRunner(modelProgram(m, modelFile), m.config, m.value, m.layer, backend, pool, gpu, own);
  }

  private exec(low: Lowered, inputs: Tensor[], donate?: number[]): Tensor[] {
    if (this.backend === 'webgpu')
      throw new UserError('the webgpu backend is asynchronous: use logitsAsync / decoderAsync');
    return this.backend === 'wasm'
      ? this.prog.wasm(low, { pool: this.pool, donate }).run(inputs)
      : interpret(low.func, inputs);
  }

  private async execAsync(low: Lowered, inputs: Tensor[], donate?: number[]): Promise<Tensor[]> {
    if (this.backend !== 'webgpu') return this.exec(low, inputs, donate);
    if (!this.gpu) throw new UserError('--backend webgpu needs a device');
    return (await this.prog.webgpu(low, this.gpu, { donate })).run(inputs);
  }

  /** logits() on any backend, the asynchronous WebGPU one included. */
  async logitsAsync(tokens: number[]): Promise<Float32Array> {
    const { low, inputs } = this.forwardInputs(tokens);
    return (await this.execAsync(low, inputs))[0]!.data as Float32Array;
  }

  /** decoder() on any backend, the asynchronous WebGPU one included. */
  decoderAsync(maxSeq = this.config.seqLen): { step(token: number, pos: number): Promise<Float32Array> } {
    const d = this.decoderParts(maxSeq);
    return {
      step: async (token, pos) => {
        const outs = await this.execAsync(d.low, d.inputs(token, pos), d.donate);
        return d.take(outs);
      },
    };
  }

  /** The forward entry for a sequence length and its inputs with these tokens. */
  private forwardInputs(tokens: number[]): { low: Lowered; inputs: Tensor[] } {
    const c = this.config;
    const tok = fromNested(tokens, 'i32');
    const p = this.prepare(`fwd${tokens.length}`, 'forward', [
      this.weights as HostValue,
      tok,
      scalar(c.eps, 'f32'),
      scalar(c.ropeTheta, 'f32'),
    ]);
    const inputs = p.inputs.slice();
    inputs[inputs.length - 3] = tok;
    return { low: p.low, inputs };
  }

  private prepare(key: string, entry: string, args: HostValue[]): Prepared {
    let p = this.prepared.get(key);
    if (!p) {
      const f = this.prog.entry(entry);
      const c = this.config;
      try {
        const { types, tensors } = this.prog.argTypes(f, args, { H: c.heads, KV: c.kvHeads }, false, {
          Lin: this.layer,
        });
        p = { low: this.prog.lower(entry, types), inputs: tensors };
      } catch (e) {
        // what a model file carries (its method, its tree) is the cause of an error here
        throw this.file ? modelFileError(this.file, entry, e) : e;
      }
      this.prepared.set(key, p);
    }
    return p;
  }

  /** Logits [T, V] (row-major) for a token sequence, positions 0..T-1. */
  logits(tokens: number[]): Float32Array {
    const { low, inputs } = this.forwardInputs(tokens);
    return this.exec(low, inputs)[0]!.data as Float32Array;
  }

  /** A decoder holding its KV cache; step(token, pos) returns the next-token logits. */
  decoder(maxSeq = this.config.seqLen): { step(token: number, pos: number): Float32Array } {
    const d = this.decoderParts(maxSeq);
    return { step: (token, pos) => d.take(this.exec(d.low, d.inputs(token, pos), d.donate)) };
  }

  /** The decode entry for a cache of maxSeq positions, lowered, with its inputs and their roles
   *  (weights 0..weights-1, then token, pos, the 2·L cache tensors, eps, theta). */
  decodeEntry(maxSeq: number): { low: Lowered; inputs: Tensor[]; weights: number; cache: number } {
    const d = this.decoderParts(maxSeq);
    const inputs = d.inputs(0, 0);
    return { low: d.low, inputs, weights: d.donate[0]! - 2, cache: d.donate.length };
  }

  private decoderParts(maxSeq: number) {
    const c = this.config;
    const shape = [maxSeq, c.kvHeads, headDim(c)];
    let cache: Tensor[] = Array.from({ length: 2 * c.layers }, () => alloc('f32', shape));
    const cacheValue = () => Array.from({ length: c.layers }, (_, l) => ({ k: cache[2 * l]!, v: cache[2 * l + 1]! }));
    const p = this.prepare(`dec${maxSeq}`, 'decode', [
      this.weights as HostValue,
      scalar(0, 'i32'),
      scalar(0, 'i32'),
      cacheValue() as HostValue,
      scalar(c.eps, 'f32'),
      scalar(c.ropeTheta, 'f32'),
    ]);
    const nW = p.inputs.length - 2 - cache.length - 2;
    return {
      low: p.low,
      // the cache is donated: updated in place in the backend's memory and never copied in or out
      donate: cache.map((_, i) => nW + 2 + i),
      inputs: (token: number, pos: number) => {
        if (pos >= maxSeq) throw new RangeError(`position ${pos} is past the cache length ${maxSeq}`);
        return [
          ...p.inputs.slice(0, nW),
          scalar(token, 'i32'),
          scalar(pos, 'i32'),
          ...cache,
          ...p.inputs.slice(p.inputs.length - 2),
        ];
      },
      take: (outs: Tensor[]) => {
        cache = outs.slice(1);
        return outs[0]!.data as Float32Array;
      },
    };
  }
}
