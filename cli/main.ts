// obtc: the command-line driver (check, run, compile). User errors print diagnostics and exit 1;
// only internal errors print a stack trace.
import { readFileSync } from 'node:fs';
import { CompileError, InternalError, UserError, formatDiagnostic, type Diagnostic } from '../compiler/syntax/diag.ts';
import { compile, type HostValue, type Program } from '../compiler/api.ts';
import { printFunc } from '../compiler/core/print.ts';
import { hashFunc } from '../compiler/core/hash.ts';
import { printModule } from '../compiler/syntax/print.ts';
import { fromNested, toNested } from '../runtime/core/tensor.ts';
import { loadArtifact } from '../runtime/wasm/artifact.ts';
import { wasmArtifact, webgpuArtifact } from '../compiler/pipeline.ts';
import { artifactFormat, GPU_ARTIFACT_FORMAT, loadGpuArtifact } from '../runtime/webgpu/artifact.ts';
import { buildSite, startServer } from './serve.ts';
import { DEFAULT_WEIGHTS } from './llm_commands.ts';
import { nodeGpuDevice } from '../runtime/env/node_gpu.ts';
import type { Tensor } from '../runtime/core/tensor.ts';
import { LoadError } from '../llm/io/model.ts';
import { closePools, generateCmd, poolOf, pplCmd, quantizeCmd } from './llm_commands.ts';
import { printPlan } from '../compiler/plan/plan.ts';
import { printKernel } from '../compiler/kir/print.ts';
import { wasmPlan, wasmText } from '../compiler/pipeline.ts';

const USAGE = `usage: obtc <command> [options]

commands:
  generate [--weights FILE] [--tokenizer FILE] [--model FILE] [--prompt TEXT] [--steps N]
           [--temperature T] [--top-p P] [--seed S] [--ids]
                                        generate text (default: the shipped stories260K;
                                        --temperature 0 is greedy); tokens/s on stderr
  quantize [--weights FILE] [--steps 300] [--batch 4] [--seq 128] [--lr 1e-3] [--warmup N]
           [--alpha 1] [--init nmf|svd|copy] [--ste tanh|clip|identity] [--seed S]
           [--out student.obt1] [--checkpoint-every 25] [--resume] [--reference-scaling]
           [--eval-text FILE | --no-eval] [--eval-windows N] [--fp16] [--backend wasm|webgpu|interp]
                                        OneBit: SVID init, knowledge distillation, pack,
                                        then teacher / SVID-only / trained perplexity
  ppl [--weights FILE] [--tokenizer FILE] --text FILE [--seq 256]
                                        perplexity by the README's protocol; the last line
                                        of stdout is ppl=… ce=… tokens=… windows=…
  serve [--weights FILE] [--port 8080]  the browser page (examples/browser/) on 127.0.0.1: the
                                        model compiled to WGSL and Wasm, generating in the page
  check FILE...                         type-check; diagnostics on stderr, exit 1 on errors
  run FILE --entry NAME [ARG...]        run an entry (Wasm backend, or --backend interp); each ARG
                                        is a JSON literal (number, nested array, or object for
                                        a struct); prints the result as JSON
  compile FILE --entry NAME --target wasm|webgpu -o DIR [ARG... | --shape ...]
                                        write a self-contained artifact (plan.json, Wasm or
                                        WGSL kernels, manifest.json) that runs without the
                                        compiler
  exec DIR [ARG...]                     run an artifact; ARGs are JSON tensors in the
                                        manifest's input order; prints the outputs as JSON
  compile FILE [--entry NAME] --emit ast|core|kir|plan|wat [ARG...]
                                        print a compiler stage (all but ast need the entry's
                                        args or --shape p=2x3 for each tensor parameter):
                                        Core IR, the fused kernels, the execution plan, or
                                        the kernels' Wasm text

options:
  --backend wasm|webgpu|interp   where run/generate/ppl/quantize run: compiled Wasm-SIMD
               kernels (default), WebGPU (Dawn; SwiftShader without a GPU) or the
               reference interpreter (the default with --f64)
  --threads N  wasm: split big kernels across N threads (worker_threads over a shared
               memory; default 1; results are identical for any N)
  --f64        run the interpreter in f64
  -h, --help   this text
`;

class Usage extends Error {}

function readSource(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new UserError(`cannot read ${file}`);
  }
}

function load(file: string): Program {
  const prog = compile(readSource(file), { path: file });
  if (!prog.ok) throw new CompileError(prog.diagnostics);
  return prog;
}

function parseArgs(argv: string[]): { pos: string[]; flags: Map<string, string | true> } {
  const pos: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const [k, v] = a.slice(2).split('=', 2) as [string, string | undefined];
      if (v !== undefined) flags.set(k, v);
      else if (['entry', 'emit', 'shape', 'weights', 'tokenizer', 'model', 'prompt', 'steps', 'temperature', 'top-p', 'seed', 'text', 'seq', 'data', 'out', 'batch', 'lr', 'warmup', 'alpha', 'clip', 'wd', 'init', 'ste', 'checkpoint-every', 'eval-text', 'eval-seq', 'eval-windows', 'sample-steps', 'backend', 'threads', 'target', 'o', 'port'].includes(k)) {
        if (i + 1 >= argv.length) throw new Usage(`--${k} needs a value`);
        const val = argv[++i]!;
        flags.set(k, flags.has(k) && k === 'shape' ? `${flags.get(k)},${val}` : val);
      } else flags.set(k, true);
    } else if (a === '-h') flags.set('help', true);
    else if (a === '-o') {
      if (i + 1 >= argv.length) throw new Usage('-o needs a value');
      flags.set('o', argv[++i]!);
    }
    else pos.push(a);
  }
  return { pos, flags };
}

function parseJsonArg(s: string, i: number): HostValue {
  try {
    return JSON.parse(s.replace(/(?<![\w"])-?inf(?![\w"])/g, (m) => `"${m}"`)) as HostValue;
  } catch {
    throw new UserError(`argument ${i + 1} is not a JSON literal: ${s.length > 60 ? s.slice(0, 60) + '…' : s}`);
  }
}

function jsonOf(v: unknown): unknown {
  if (v && typeof v === 'object' && 'data' in (v as object) && 'dtype' in (v as object)) {
    const t = v as Tensor;
    const n = toNested(t);
    return fixFloats(n);
  }
  if (Array.isArray(v)) return v.map(jsonOf);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonOf(x)]));
  return v;
}

function fixFloats(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fixFloats);
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  return v;
}

export interface CliIO {
  out: (s: string) => unknown;
  err: (s: string) => unknown;
}

export async function main(argv: string[], io: CliIO = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }): Promise<number> {
  const { pos, flags } = (() => {
    try {
      return parseArgs(argv);
    } catch (e) {
      io.err(`obtc: ${(e as Error).message}\n\n${USAGE}`);
      return { pos: [] as string[], flags: new Map<string, string | true>([['bad', true]]) };
    }
  })();
  if (flags.has('bad')) return 2;
  const cmd = pos.shift();
  if (!cmd || flags.has('help') || cmd === 'help') {
    io.out(USAGE);
    return cmd || flags.has('help') ? 0 : 2;
  }
  try {
    switch (cmd) {
      case 'check': {
        if (!pos.length) throw new Usage('check needs at least one file');
        let bad = 0;
        for (const file of pos) {
          const prog = compile(readSource(file), { path: file });
          for (const d of prog.diagnostics) io.err(formatDiagnostic(d) + '\n\n');
          if (!prog.ok) bad++;
        }
        if (bad) {
          io.err(`obtc: ${bad} file(s) with errors\n`);
          return 1;
        }
        return 0;
      }
      case 'run': {
        const file = pos.shift();
        const entry = flags.get('entry');
        if (!file || typeof entry !== 'string') throw new Usage('run needs FILE and --entry NAME');
        const prog = load(file);
        const args = pos.map(parseJsonArg);
        // the Wasm backend by default; --f64 runs the interpreter (the Wasm kernels compute in f32)
        const backend = flags.get('backend') ?? (flags.has('f64') ? 'interp' : 'wasm');
        if (backend !== 'interp' && backend !== 'wasm' && backend !== 'webgpu') throw new Usage(`--backend ${String(backend)}: expected wasm, webgpu or interp`);
        const gpu = backend === 'webgpu' ? await nodeGpuDevice() : undefined;
        const r = await prog.runAsync(entry, args, { f64: flags.has('f64'), backend, pool: poolOf(flags), gpu });
        io.out(JSON.stringify(jsonOf(r.value)) + '\n');
        return 0;
      }
      case 'compile': {
        const file = pos.shift();
        if (!file) throw new Usage('compile needs FILE');
        const emit = flags.get('emit') ?? 'core';
        if (emit === 'ast') {
          const prog = compile(readSource(file), { path: file });
          if (!prog.ok) throw new CompileError(prog.diagnostics);
          io.out(printModule(prog.loaded.root.ast) + '\n');
          return 0;
        }
        if (!['core', 'kir', 'plan', 'wat'].includes(emit as string)) throw new Usage(`--emit ${String(emit)}: expected ast, core, kir, plan or wat`);
        const entry = flags.get('entry');
        if (typeof entry !== 'string') throw new Usage('compile --emit core needs --entry NAME');
        const prog = load(file);
        const f = prog.entry(entry);
        let args: HostValue[] = pos.map(parseJsonArg);
        const shapes = flags.get('shape');
        if (typeof shapes === 'string') args = shapeArgs(f.decl.params.map((p) => p.name), shapes);
        const { types } = prog.argTypes(f, args);
        const low = prog.lower(entry, types);
        if (flags.has('target')) {
          const target = flags.get('target');
          if (target !== 'wasm' && target !== 'webgpu') throw new Usage(`--target ${String(target)}: expected wasm or webgpu`);
          const dir = flags.get('o');
          if (typeof dir !== 'string') throw new Usage(`compile --target ${target} needs -o DIR`);
          if (target === 'webgpu') {
            const man = webgpuArtifact(dir, low, { source: file, entry });
            io.out(`${dir}: ${man.kernels.length} WGSL kernels, ${man.updates.length} update steps, ${man.inputs.length} inputs, ${man.outputs.length} outputs (at most ${man.maxStorageBuffers} storage buffers per kernel)\n`);
            return 0;
          }
          const man = wasmArtifact(dir, low, { source: file, entry });
          io.out(`${dir}: ${man.kernels.length} kernels, ${man.inputs.length} inputs, ${man.outputs.length} outputs, memory ${man.memoryBytes} B (peak ${man.peakBytes} B)\n`);
          return 0;
        }
        if (emit !== 'core') {
          const plan = wasmPlan(low.func);
          if (emit === 'plan') io.out(printPlan(plan) + '\n');
          else if (emit === 'kir') for (const k of plan.kernels) io.out(`// kernel ${k.hash}\n${printKernel(k.kernel!)}\n`);
          else io.out(wasmText(plan));
          return 0;
        }
        io.out(`// ${entry}: ${low.func.eqns.length} equations, hash ${hashFunc(low.func)}\n`);
        io.out(`// params: ${low.params.map((p) => `${p.path}: ${p.dtype}[${p.shape.join(', ')}]`).join(', ')}\n`);
        io.out(printFunc(low.func) + '\n');
        return 0;
      }
      case 'exec': {
        const dir = pos.shift();
        if (!dir) throw new Usage('exec needs DIR (an artifact of obtc compile --target wasm)');
        const onGpu = artifactFormat(dir) === GPU_ARTIFACT_FORMAT;
        const { manifest, program } = onGpu ? await loadGpuArtifact(dir, await nodeGpuDevice()) : loadArtifact(dir, { pool: poolOf(flags) });
        if (pos.length !== manifest.inputs.length) throw new Usage(`${dir} takes ${manifest.inputs.length} inputs (${manifest.inputs.map((i) => `${i.path}: ${i.dtype}[${i.shape.join(', ')}]`).join(', ')}), got ${pos.length}`);
        const ins = manifest.inputs.map((spec, i) => {
          const t = fromNested(parseJsonArg(pos[i]!, i), spec.dtype as never);
          if (t.shape.join(',') !== spec.shape.join(',')) throw new Usage(`input ${i + 1} (${spec.path}): expected shape [${spec.shape.join(', ')}], got [${t.shape.join(', ')}]`);
          return t;
        });
        io.out(JSON.stringify((await program.run(ins)).map((t) => jsonOf(toNested(t)))) + '\n');
        return 0;
      }
      case 'serve': {
        const weights = flags.get('weights');
        const port = flags.get('port');
        const site = await buildSite(typeof weights === 'string' ? weights : DEFAULT_WEIGHTS);
        const { url } = await startServer(site, typeof port === 'string' ? Number(port) : 8080);
        io.out(`obt page for ${typeof weights === 'string' ? weights : 'the shipped stories260K'}: ${url}  (WebGPU, or ?backend=wasm; Ctrl-C stops)\n`);
        return 0;
      }
      case 'generate':
        return await generateCmd(flags, io);
      case 'ppl':
        return await pplCmd(flags, io);
      case 'quantize':
        return await quantizeCmd(flags, io);
      default:
        throw new Usage(`unknown command ${cmd}`);
    }
  } catch (e) {
    return reportError(e, io);
  } finally {
    closePools();
  }
}

/** `--shape x=2x3,w=3x4`: zero tensors of those shapes (for printing Core IR). */
function shapeArgs(params: string[], spec: string): HostValue[] {
  const m = new Map<string, number[]>();
  for (const part of spec.split(',')) {
    const [n, s] = part.split('=');
    if (!n || s === undefined) throw new Usage(`--shape expects name=2x3, found ${part}`);
    m.set(n, s === '' ? [] : s.split('x').map(Number));
  }
  return params.map((p) => {
    const s = m.get(p);
    if (!s) throw new Usage(`--shape gives no shape for parameter ${p}`);
    const build = (d: number): HostValue => (d === s.length ? 0 : Array.from({ length: s[d]! }, () => build(d + 1)));
    return build(0);
  });
}

function reportError(e: unknown, io: CliIO): number {
  if (e instanceof Usage) {
    io.err(`obtc: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (e instanceof CompileError) {
    for (const d of e.diagnostics) io.err(formatDiagnostic(d as Diagnostic) + '\n\n');
    io.err(`obtc: ${e.diagnostics.filter((d) => d.severity === 'error').length} error(s)\n`);
    return 1;
  }
  if (e instanceof LoadError) {
    io.err(`obtc: error: ${e.message}\n`);
    return 1;
  }
  if (e instanceof UserError) {
    io.err(formatDiagnostic(e.diag).replace(/^error/, 'obtc: error') + '\n');
    return 1;
  }
  if (e instanceof InternalError) {
    io.err(`obtc: ${e.message}\n${e.stack ?? ''}\nThis is a compiler bug; please report it with the program that caused it.\n`);
    return 3;
  }
  io.err(`obtc: internal: ${(e as Error)?.stack ?? String(e)}\nThis is a compiler bug; please report it.\n`);
  return 3;
}

