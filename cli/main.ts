// obtc: the command-line driver. One file per command (check, run, compile, exec, serve, generate, ppl, quantize); this file holds the usage
// text, the command table and how errors are reported: user errors print diagnostics and exit 1,
// misuse prints the usage and exits 2, only internal errors print a stack trace (exit 3).
import { CompileError, InternalError, UserError, formatDiagnostic, type Diagnostic } from '../compiler/syntax/diag.ts';
import { LoadError } from '../llm/io/model.ts';
import { closePools, parseArgs, Usage, type CliIO, type Command } from './args.ts';
import { checkCmd } from './check.ts';
import { runCmd } from './run.ts';
import { compileCmd } from './compile.ts';
import { execCmd } from './exec.ts';
import { serveCmd } from './serve.ts';
import { generateCmd } from './generate.ts';
import { pplCmd } from './ppl.ts';
import { quantizeCmd } from './quantize.ts';
import { ablateCmd } from './ablate.ts';
import { startProfile, type ProfileRun } from './profile.ts';

export type { CliIO } from './args.ts';

const USAGE = `usage: obtc <command> [options]

commands:
  generate [--weights FILE] [--tokenizer FILE] [--model FILE] [--prompt TEXT] [--steps N]
           [--temperature T] [--top-p P] [--seed S] [--ids]
                                        generate text (default: the shipped stories260K;
                                        --temperature 0 is greedy); tokens/s on stderr
  quantize [--method NAME|FILE] [--weights FILE] [--steps 300] [--batch 4] [--seq 128]
           [--lr 1e-3] [--warmup N] [--alpha 1] [--seed S] [--out student.obtm]
           [--checkpoint-every 25] [--resume] [--reference-scaling] [--eval-text FILE | --no-eval]
           [--eval-windows N] [--fp16] [--backend wasm|webgpu|interp]
                                        quantise with a method (default onebit; shipped ones in
                                        stdlib/methods/, or your own .obt file: docs/methods.md):
                                        init, knowledge distillation (--steps 0: none), export,
                                        then teacher / init-only / trained perplexity
  ablate [--methods A,B,…] [--seeds 1,2] [--out DIR] [--eval-windows N] [--decode-steps 128]
         [any quantize flag, a comma-separated list making it an axis: --steps 0,300]
                                        a grid of quantize runs, one recipe for every row;
                                        results.md/.csv/.json, loss.svg, pareto.svg; resumable
  ppl [--weights FILE] [--tokenizer FILE] --text FILE [--seq 256]
                                        perplexity by the README's protocol; the last line
                                        of stdout is ppl=… ce=… tokens=… windows=…
  serve [--weights STUDENT] [--teacher FILE | --no-teacher] [--port 8080]
                                        the browser page (examples/browser/) on 127.0.0.1: the
                                        fp teacher and a quantised student (default: npm start's)
                                        compiled to WGSL and Wasm, generating side by side
  check FILE...                         type-check; diagnostics on stderr, exit 1 on errors
  run FILE --entry NAME [ARG...]        run an entry (Wasm backend, or --backend interp); each ARG
                                        is a JSON literal (number, nested array, or object for
                                        a struct); prints the result as JSON
  compile FILE --entry NAME --target wasm|webgpu -o DIR [ARG... | --shape ...]
                                        write a self-contained artifact (plan.json, Wasm or
                                        WGSL kernels, manifest.json) that runs without the
                                        compiler
  exec DIR [--weights FILE] [ARG...]    run an artifact; ARGs are JSON tensors in the
                                        manifest's input order (--weights: the first
                                        parameter's from a model file); prints the outputs as JSON
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
  --profile    run/generate/ppl/quantize/exec: time every kernel and host step and print the
               top kernels (kind, shape, fused ops, .obt source locations) on stderr at exit
               (also OBT_PROFILE=1); --profile-json FILE writes the whole profile as JSON
  --method NAME|FILE  check/run/compile: bind 'import method' to a quantisation method
               (as quantize does; e.g. obtc check models/kd.obt --method bitnet158)
  -h, --help   this text
`;

const COMMANDS: Record<string, Command> = {
  generate: generateCmd,
  quantize: quantizeCmd,
  ablate: ablateCmd,
  ppl: pplCmd,
  serve: serveCmd,
  check: checkCmd,
  run: runCmd,
  compile: compileCmd,
  exec: execCmd,
};

export async function main(
  argv: string[],
  io: CliIO = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) },
): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    io.err(`obtc: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { pos, flags } = parsed;
  const cmd = pos.shift();
  if (!cmd || flags.has('help') || cmd === 'help') {
    io.out(USAGE);
    return cmd || flags.has('help') ? 0 : 2;
  }
  let prof: ProfileRun | undefined;
  try {
    const run = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
    if (!run) throw new Usage(`unknown command ${cmd}`);
    prof = startProfile(cmd, flags);
    const code = await run(pos, flags, io);
    prof?.finish(io);
    return code;
  } catch (e) {
    return reportError(e, io);
  } finally {
    prof?.stop();
    closePools();
  }
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
    io.err(
      `obtc: ${e.message}\n${e.stack ?? ''}\nThis is a compiler bug; please report it with the program that caused it.\n`,
    );
    return 3;
  }
  io.err(`obtc: internal: ${(e as Error)?.stack ?? String(e)}\nThis is a compiler bug; please report it.\n`);
  return 3;
}
