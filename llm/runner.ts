// Runs a model's architecture program (models/llama.obt, or another architecture's file) on a
// loaded model of any layer type (Dense, or a method's inference form, the
// method's module compiled in) with the reference interpreter, Wasm or WebGPU: a window's per-token
// negative log-likelihoods (for perplexity), full-sequence logits, and a one-token decode step with
// its KV cache (for generation). The entries are llama.obt's generic `nll`, `forward` and `decode`,
// called by name with the layer type by name; each is bound once per shape (its Core IR, program
// and flattened weights reused).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, INTERP, type Device, type HostValue, type Program } from '../compiler/api.ts';
import type { BoundEntry } from '../compiler/entry.ts';
import { CompileError } from '../compiler/syntax/diag.ts';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { alloc, fromNested, type Tensor } from '../runtime/core/tensor.ts';
import { ropeArg, type LlamaConfig } from './io/model.ts';
import { archDims, archFile, archReading, archSource } from './io/arch.ts';
import type { Arch } from './io/names.ts';
import { treeFromPaths } from '../runtime/core/contract.ts';
import { methodCompileOptions, modelFileError, type Method } from './method.ts';
import { formatBytes, MemoryLimitError, UserError } from '../runtime/core/errors.ts';
import { treeLeaves } from '../runtime/core/tree.ts';

export const DEFAULT_MODEL = join(PROJECT_ROOT, 'models/llama.obt');

const scalar = (v: number, dtype: 'f32' | 'i32'): Tensor => fromNested(v, dtype);

/** What the runner needs of a loaded model. */
export interface RunnableModel {
  /** its architecture: which `.obt` file runs it, its dims' config fields */
  arch: Arch;
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

/** The model's architecture program (or another model program) compiled against a model's method,
 *  once per method (a user architecture's text, as its model file carries it, once per text). */
function modelProgram(m: { arch: Arch; method?: Method; file?: string }, modelFile = archFile(m.arch)): Program {
  const own = modelFile === archFile(m.arch);
  const key = own && m.arch.source !== undefined ? `${modelFile}\u0000${m.arch.source}` : modelFile;
  let byMethod = programs.get(key);
  if (!byMethod) programs.set(key, (byMethod = new WeakMap()));
  const methodKey = m.method ?? DENSE;
  let prog = byMethod.get(methodKey);
  if (!prog) {
    const mo = m.method ? methodCompileOptions(m.method) : {};
    // the architecture is the root: its own text and reader
    prog = compile(own ? archSource(m.arch) : readFileSync(modelFile, 'utf8'), {
      path: modelFile,
      ...(own ? archReading(m.arch, mo) : mo),
    });
    if (!prog.ok) {
      const err = new CompileError(prog.diagnostics);
      // errors in what a model file carries (its method, its architecture) name the file
      if (m.file && m.method?.sealed) throw modelFileError(m.file, 'method', err);
      if (m.file && m.arch.sealed) throw modelFileError(m.file, 'architecture', err);
      throw err;
    }
    byMethod.set(methodKey, prog);
  }
  return prog;
}

/** The config's dims that an entry of the program is generic over (by the name map's dims). */
function entryDims(prog: Program, entry: string, arch: Arch, c: LlamaConfig): Record<string, number> {
  const kinds = prog.entry(entry).kinds;
  return Object.fromEntries(Object.entries(archDims(arch, c)).filter(([k]) => kinds.get(k)?.k === 'dim'));
}

/** Checks a loaded model's value tree against the struct it claims to be (its architecture's type
 *  with its layer type, at its config's sizes: vocabulary against the embedding's and head's rows,
 *  heads and hidden sizes against every layer's shapes, each leaf's dtype), before anything runs:
 *  a mismatch is one line naming the file and the leaf. */
export function checkModelTypes(m: RunnableModel & { file: string }, modelFile = archFile(m.arch)): void {
  const c = m.config;
  try {
    const prog = modelProgram(m, modelFile);
    prog.argTypes(
      prog.entry('forward'),
      [m.value as HostValue, fromNested([0], 'i32'), scalar(c.eps, 'f32'), ropeArg(c) as HostValue],
      entryDims(prog, 'forward', m.arch, c),
      false,
      { Lin: m.layer },
    );
  } catch (e) {
    throw modelFileError(m.file, 'model', e);
  }
}

/** What decode returns (models/llama.obt's Decoded). */
interface Decoded {
  logits: Tensor;
  cache: unknown;
}

export class ModelRunner {
  private readonly bound = new Map<string, BoundEntry>();

  constructor(
    readonly prog: Program,
    readonly arch: Arch,
    readonly config: LlamaConfig,
    readonly weights: Record<string, unknown>,
    /** the layer type by name: `Dense`, or `method.<inference form>` */
    readonly layer: string = 'Dense',
    /** where it runs */
    readonly device: Device = INTERP,
    /** the model file whose sealed method this runs: a user error while lowering names it */
    readonly file?: string,
  ) {}

  /** A runner of a loaded model on a device (its architecture's `.obt` file, or modelFile). */
  static fromFile(m: RunnableModel, device: Device = INTERP, modelFile = archFile(m.arch)): ModelRunner {
    // errors of a model file's own method are the file's: they name it (one line)
    const own = m.method?.sealed || m.arch.sealed ? m.file : undefined;
    return new ModelRunner(modelProgram(m, modelFile), m.arch, m.config, m.value, m.layer, device, own);
  }

  /** An entry of the model program bound by name to these weights (lowered once per key). */
  private bind(key: string, entry: string, args: Record<string, HostValue>, donate: string[] = []): BoundEntry {
    let e = this.bound.get(key);
    if (!e) {
      try {
        e = this.prog.bind(entry, args, {
          dims: entryDims(this.prog, entry, this.arch, this.config),
          types: { Lin: this.layer },
          device: this.device,
          donate,
        });
      } catch (err) {
        // what a model file carries (its method, its tree) is the cause of an error here
        throw this.file ? modelFileError(this.file, entry, err) : err;
      }
      this.bound.set(key, e);
    }
    return e;
  }

  /** A window longer than a learned position table is refused (its positions would be clamped). */
  private fitsContext(n: number): void {
    if (this.arch.positions === 'learned' && n > this.config.seqLen)
      throw new UserError(
        `a window of ${n} tokens does not fit the model's context of ${this.config.seqLen} positions (${this.arch.name} learns one embedding per position)`,
        undefined,
        `use windows of at most ${this.config.seqLen} tokens (obtc ppl --seq ${this.config.seqLen})`,
      );
  }

  /** The forward entry for a sequence length. */
  private forward(tokens: number[]): BoundEntry {
    const c = this.config;
    this.fitsContext(tokens.length);
    return this.bind(`fwd${tokens.length}`, 'forward', {
      p: this.weights as HostValue,
      tokens,
      eps: c.eps,
      rope: ropeArg(c),
    });
  }

  /** Logits [T, V] (row-major) for a token sequence, positions 0..T-1. */
  async logits(tokens: number[]): Promise<Float32Array> {
    return ((await this.fits(() => this.forward(tokens).run({ tokens })))['0'] as Tensor).data as Float32Array;
  }

  /** The nll entry for a window length. */
  private nllEntry(tokens: number[], targets: number[]): BoundEntry {
    const c = this.config;
    this.fitsContext(tokens.length);
    return this.bind(`nll${tokens.length}`, 'nll', {
      p: this.weights as HostValue,
      tokens,
      targets,
      eps: c.eps,
      rope: ropeArg(c),
    });
  }

  /** Per-token negative log-likelihoods of a window (targets[t] follows tokens[t]): only these
   *  numbers come back from the backend. */
  async nll(tokens: number[], targets: number[]): Promise<Float32Array> {
    return ((await this.fits(() => this.nllEntry(tokens, targets).run({ tokens, targets }))).result as Tensor)
      .data as Float32Array;
  }

  /** Bytes of results the backend handed back to the host so far (all entries). */
  get bytesReadBack(): number {
    let n = 0;
    for (const e of this.bound.values()) n += e.bytesReadBack;
    return n;
  }

  /** The decode entry for a cache of maxSeq positions, bound to the weights (`p`), its cache
   *  donated: updated in place in the backend's memory and never copied in or out. */
  decodeEntry(maxSeq: number): BoundEntry {
    const c = this.config;
    this.fitsContext(maxSeq);
    return this.bind(
      `dec${maxSeq}`,
      'decode',
      {
        p: this.weights as HostValue,
        token: 0,
        pos: 0,
        cache: this.emptyCache(maxSeq) as HostValue,
        eps: c.eps,
        rope: ropeArg(c),
      },
      ['cache'],
    );
  }

  /** Runs an entry; a program too large for its backend's memory is reported with the model's
   *  weights' size and what would fit. */
  private async fits<T>(run: () => T | Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      if (!(e instanceof MemoryLimitError)) throw e;
      let bytes = 0;
      let stored = false;
      for (const t of new Set(treeLeaves(this.weights).map((l) => l.leaf))) {
        bytes += t.source?.bytes ?? t.data.byteLength;
        stored ||= !!t.stored;
      }
      const lower = stored
        ? ''
        : `, stored as bf16 or f16 they would take ${formatBytes(bytes / 2)} (a Hugging Face folder in BF16 or F16 loads that way)`;
      throw new UserError(
        `the model's weights take ${formatBytes(bytes)} (${stored ? 'as stored' : 'f32'}); with this run's working memory the ${this.device.kind} backend needs ${formatBytes(e.needed)}, more than the ${formatBytes(e.limit)} a WebAssembly memory may hold here${lower}`,
        undefined,
        'run it on --backend webgpu (its buffers are not in one WebAssembly memory), or a smaller or lower-precision model',
      );
    }
  }

  /** A zero cache of maxSeq positions: the leaves of decode's `cache` parameter at S = maxSeq (the
   *  model's `.obt` says what its cache holds). */
  private emptyCache(maxSeq: number): unknown {
    const dims = { ...entryDims(this.prog, 'decode', this.arch, this.config), S: maxSeq };
    const { leaves } = this.prog.paramLeaves('decode', 'cache', dims);
    return treeFromPaths(leaves.map((l) => ({ path: l.path, value: alloc(l.dtype, l.shape) })));
  }

  /** A decoder holding its KV cache; step(token, pos) gives the next-token logits. */
  decoder(maxSeq = this.config.seqLen): { step(token: number, pos: number): Promise<Float32Array> } {
    const e = this.decodeEntry(maxSeq);
    let cache: unknown = this.emptyCache(maxSeq);
    return {
      step: async (token, pos) => {
        if (pos >= maxSeq) throw new RangeError(`position ${pos} is past the cache length ${maxSeq}`);
        const r = (await this.fits(() => e.run({ token, pos, cache }))) as unknown as Decoded;
        cache = r.cache;
        return r.logits.data as Float32Array;
      },
    };
  }
}
