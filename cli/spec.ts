// The command line's grammar: each obtc command's flags (whether they take a value) and its usage
// text. Parsing is Node's util.parseArgs in strict mode, so a mistyped or misplaced flag is an
// error naming the closest valid one (exit 2) instead of being ignored; `obtc CMD --help` prints
// that command's own text. Negative numbers work as values (`--seed -3`) and as positionals.
import { parseArgs as nodeParseArgs } from 'node:util';
import { closest, editDistance } from '../compiler/types/elab_util.ts';
import { QUANTIZE_FLAGS, quantizeOptionsUsage } from '../llm/options.ts';
import { TRAIN_FLAGS, trainOptionsUsage } from '../llm/train_options.ts';

type Kind = 'string' | 'boolean';
type FlagSet = Record<string, Kind>;

/** A misuse of the command line: reported with the command's usage text, exit 2. */
export class Usage extends Error {
  constructor(
    message: string,
    readonly command?: CommandName,
  ) {
    super(message);
  }
}

const RUNTIME: FlagSet = { backend: 'string', threads: 'string' };
/** every command that compiles obt source takes the compile budget's scale */
const COMPILE: FlagSet = { 'compile-budget': 'string' };
const PROFILE: FlagSet = { profile: 'boolean', 'profile-json': 'string' };
const MODEL: FlagSet = { weights: 'string', tokenizer: 'string', model: 'string' };
/** quantize's options (llm/options.ts: each declared once) and its own --json */
const QUANTIZE: FlagSet = { ...QUANTIZE_FLAGS, json: 'boolean', ...RUNTIME, ...PROFILE, ...COMPILE };

interface CommandSpec {
  /** its lines of the usage text */
  usage: string;
  flags: FlagSet;
}

/** obtc's commands: one name list, so a command without a spec or without a module (cli/main.ts
 *  COMMANDS) is a type error. */
export const COMMAND_NAMES = [
  'generate',
  'quantize',
  'train',
  'ablate',
  'sample',
  'ppl',
  'export',
  'serve',
  'check',
  'run',
  'compile',
  'lsp',
  'exec',
] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export const COMMAND_SPECS: Record<CommandName, CommandSpec> = {
  generate: {
    usage: `  generate [--weights FILE|DIR] [--tokenizer FILE] [--model FILE] [--prompt TEXT] [--steps N]
           [--temperature T] [--top-p P] [--seed S] [--ids] [--json] [--raw]
                                        generate text (default: the shipped stories260K;
                                        --temperature 0 is greedy); tokens/s on stderr;
                                        --json: one object with the text, ids and tokens/s;
                                        control characters in the text are shown as ␛ (the
                                        tokenizer comes from a file) unless --raw;
                                        --weights: llama2.c .bin, GGUF, .safetensors, an obt
                                        model file or a Hugging Face folder; --tokenizer:
                                        tokenizer.json or llama2.c's tokenizer.bin`,
    flags: {
      ...MODEL,
      prompt: 'string',
      steps: 'string',
      temperature: 'string',
      'top-p': 'string',
      seed: 'string',
      ids: 'boolean',
      json: 'boolean',
      raw: 'boolean',
      ...RUNTIME,
      ...PROFILE,
      ...COMPILE,
    },
  },
  quantize: {
    usage: `  quantize [options] [--backend wasm|webgpu|interp] [--json]
                                        quantise with a method (default onebit_noln_latw10, the
                                        best found: docs/ablation/; shipped ones in
                                        stdlib/methods/, or your own .obt file: docs/methods.md):
                                        init, knowledge distillation (--steps 0: none), export,
                                        then teacher / init-only / trained perplexity (--json:
                                        one object on stdout); its options:
${quantizeOptionsUsage('           ')}`,
    flags: QUANTIZE,
  },
  train: {
    usage: `  train [options] [--backend wasm|webgpu|interp] [--threads N] [--json]
                                        train a language model from scratch on a text (default:
                                        nanoGPT's shakespeare_char CPU run, its flag names): full
                                        precision, or the linear layers in a method's training
                                        form from step 0 or --quantize-from; loss and validation
                                        curves as CSV and SVG beside --out, checkpoints, --resume;
                                        the model file is read by generate, ppl, serve, quantize
                                        and export; its options:
${trainOptionsUsage('           ')}`,
    flags: { ...TRAIN_FLAGS, json: 'boolean', ...RUNTIME, ...PROFILE, ...COMPILE },
  },
  ablate: {
    usage: `  ablate [--methods A,B,…] [--seeds 1,2] [--out DIR] [--eval-windows N] [--decode-steps 128] [--jobs N]
         [any quantize flag, a comma-separated list making it an axis: --steps 0,300]
                                        a grid of quantize runs, one recipe for every row;
                                        results.md/.csv/.json, loss.svg, pareto.svg; resumable;
                                        --jobs N: N rows at once, each in its own process`,
    flags: { ...QUANTIZE, methods: 'string', seeds: 'string', 'decode-steps': 'string', jobs: 'string', row: 'string' },
  },
  sample: {
    usage: `  sample --out FILE [--weights FILE] [--stories 1000] [--temperature 1] [--max-tokens N]
         [--seed S]                     distillation data: stories sampled from the model (from
                                        BOS until it ends one; unfinished ones dropped), in the
                                        text format quantize --data reads`,
    flags: {
      ...MODEL,
      out: 'string',
      stories: 'string',
      temperature: 'string',
      'max-tokens': 'string',
      seed: 'string',
      ...RUNTIME,
      ...COMPILE,
    },
  },
  ppl: {
    usage: `  ppl [--weights FILE|DIR] [--tokenizer FILE] --text FILE [--seq 256] [--json]
                                        perplexity by the README's protocol; the last line
                                        of stdout is ppl=… ce=… tokens=… windows=… (--json:
                                        an object with those)`,
    flags: { ...MODEL, text: 'string', seq: 'string', json: 'boolean', ...RUNTIME, ...PROFILE, ...COMPILE },
  },
  export: {
    usage: `  export MODEL --format gguf -o FILE [--type f32|f16|bf16|q8_0] [--ternary tq2_0|tq1_0]
         [--approximate [--text FILE] [--eval-windows N]] [--tokenizer FILE]
                                        write a model for another engine: GGUF for llama.cpp
                                        (dense matrices in --type, default the type they are kept
                                        in; vectors f32; the tokenizer in its metadata). A
                                        quantised student's linear layers go in the llama.cpp
                                        type that holds them exactly: signs with an f16 scale per
                                        128-block or row as Q1_0, ternary codes with one per
                                        256-block as --ternary (default tq2_0); other layer types
                                        are refused, or with --approximate written in the nearest
                                        type (Q1_0; --ternary: TQ*; rows that are not whole blocks:
                                        dense), printing the perplexity before and after on --text
                                        (default the shipped evaluation text, --eval-windows 20)`,
    flags: {
      format: 'string',
      o: 'string',
      type: 'string',
      ternary: 'string',
      tokenizer: 'string',
      approximate: 'boolean',
      text: 'string',
      'eval-windows': 'string',
    },
  },
  serve: {
    usage: `  serve [--weights STUDENT] [--teacher FILE | --no-teacher] [--port 8080]
                                        the browser page (examples/browser/) on 127.0.0.1: the
                                        fp teacher and a quantised student (default: the shipped
                                        best 1-bit student, data/stories260K-1bit-best.obtm)
                                        compiled to WGSL and Wasm, generating side by side`,
    flags: { weights: 'string', teacher: 'string', 'no-teacher': 'boolean', port: 'string', ...COMPILE },
  },
  check: {
    usage: `  check FILE... [--method NAME|FILE] [--json]
                                        type-check (FILE - reads stdin); diagnostics on
                                        stderr (--json: on stdout as JSON, with file, line,
                                        column, end, message, hint, notes), exit 1 on errors`,
    flags: { method: 'string', json: 'boolean', ...COMPILE },
  },
  run: {
    usage: `  run FILE --entry NAME [ARG...]        run an entry (Wasm backend, or --backend interp); each ARG
                                        is a JSON literal (number, nested array, or object for
                                        a struct; nan, inf, -inf as printed), @FILE to read it
                                        from a file, - from standard input; prints the result
                                        as JSON`,
    flags: { entry: 'string', f64: 'boolean', method: 'string', ...RUNTIME, ...PROFILE, ...COMPILE },
  },
  compile: {
    usage: `  compile FILE --entry NAME --target wasm|webgpu -o DIR [ARG... | --shape ...]
                                        write a self-contained artifact (plan.json, Wasm or
                                        WGSL kernels, manifest.json) that runs without the
                                        compiler
  compile FILE [--entry NAME] --emit ast|core|kir|plan|wat [ARG...]
                                        print a compiler stage (all but ast need the entry's
                                        args or --shape p=2x3 for each tensor parameter):
                                        Core IR, the fused kernels, the execution plan, or
                                        the kernels' Wasm text`,
    flags: {
      entry: 'string',
      emit: 'string',
      target: 'string',
      o: 'string',
      shape: 'string',
      method: 'string',
      ...COMPILE,
    },
  },
  lsp: {
    usage: `  lsp [--stdio]                         the language server for .obt files (stdio): diagnostics,
                                        hover (types and shapes), go to definition, completion;
                                        editors/vscode/ starts it`,
    flags: { stdio: 'boolean' },
  },
  exec: {
    usage: `  exec DIR [--weights FILE] [ARG...]    run an artifact; ARGs are JSON tensors in the
                                        manifest's input order (--weights: the first
                                        parameter's from a model file); prints the outputs as JSON`,
    flags: { weights: 'string', threads: 'string', ...PROFILE },
  },
};

const OPTIONS: [string, string][] = [
  [
    'backend',
    `  --backend wasm|webgpu|interp   where run/generate/ppl/quantize run: compiled Wasm-SIMD
               kernels (default), WebGPU (Dawn; SwiftShader without a GPU) or the
               reference interpreter (the default with --f64)`,
  ],
  [
    'threads',
    `  --threads N  wasm: split big kernels across N threads (worker_threads over a shared
               memory; default 1; results are identical for any N)`,
  ],
  ['f64', `  --f64        run the interpreter in f64`],
  [
    'compile-budget',
    `  --compile-budget X  raise every limit of the compile budget X times (instantiations,
               inlined calls, equations, dimension terms, type sizes, a model file's method's
               loops and source; docs/language.md "Limits") for a program of your own`,
  ],
  [
    'profile',
    `  --profile    run/generate/ppl/quantize/train/exec: time every kernel and host step and print the
               top kernels (kind, shape, fused ops, .obt source locations) on stderr at exit
               (also OBT_PROFILE=1); --profile-json FILE writes the whole profile as JSON`,
  ],
  [
    'method',
    `  --method NAME|FILE  check/run/compile: bind 'import method' to a quantisation method
               (as quantize does; e.g. obtc check models/kd.obt --method bitnet158)`,
  ],
];

/** The whole usage text (obtc --help). */
export const USAGE = `usage: obtc <command> [options]     (obtc <command> --help: that command alone)

commands:
${Object.values(COMMAND_SPECS)
  .map((s) => s.usage)
  .join('\n')}

options:
${OPTIONS.map(([, t]) => t).join('\n')}
  -h, --help   this text (after a command: that command's)
  --version    obtc's version
`;

/** One command's usage text (obtc CMD --help): its lines and the shared options it takes. */
export function commandUsage(cmd: CommandName): string {
  const s = COMMAND_SPECS[cmd]!;
  const opts = OPTIONS.filter(([k]) => k in s.flags).map(([, t]) => t);
  return `usage: obtc ${cmd} [options]\n\n${s.usage}\n${opts.length ? `\noptions:\n${opts.join('\n')}\n` : ''}  -h, --help   this text\n`;
}

/** The command named by `name`, or a usage error suggesting the closest. */
export function commandOf(name: string): CommandName {
  if ((COMMAND_NAMES as readonly string[]).includes(name)) return name as CommandName;
  const near = closest(name, Object.keys(COMMAND_SPECS));
  throw new Usage(`unknown command ${name}${near ? ` (did you mean ${near}?)` : ''}`);
}

const NEGATIVE = /^-(\d|\.\d|inf$|nan$)/;

/** A command's arguments (after its name) as positionals and flags (repeated --shape joined by ','). */
export function parseCommand(cmd: CommandName, argv: string[]): { pos: string[]; flags: Map<string, string | true> } {
  const spec = COMMAND_SPECS[cmd]!.flags;
  const options: Record<string, { type: Kind; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [k, type] of Object.entries(spec))
    options[k] = { type, ...(k === 'o' ? { short: 'o' } : {}), ...(k === 'shape' ? { multiple: true } : {}) };
  // negative numbers: a flag's value joins it (--seed=-3); a positional is kept aside
  const args: string[] = [];
  const negatives: string[] = [];
  for (const a of argv) {
    const prev = args[args.length - 1];
    const flag = prev?.startsWith('--') && !prev.includes('=') ? prev.slice(2) : prev === '-o' ? 'o' : undefined;
    if (NEGATIVE.test(a) && flag !== undefined && spec[flag] === 'string') args[args.length - 1] = `--${flag}=${a}`;
    else if (NEGATIVE.test(a)) {
      negatives.push(a);
      args.push(`\u0000${negatives.length - 1}`);
    } else args.push(a);
  }
  let parsed: ReturnType<typeof nodeParseArgs>;
  try {
    parsed = nodeParseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new Usage(describe(e as Error & { code?: string }, Object.keys(spec)), cmd);
  }
  const pos = parsed.positionals.map((p) => (p.startsWith('\u0000') ? negatives[Number(p.slice(1))]! : p));
  const flags = new Map<string, string | true>();
  for (const [k, v] of Object.entries(parsed.values))
    if (v !== undefined && v !== false) flags.set(k, Array.isArray(v) ? v.join(',') : v === true ? true : String(v));
  return { pos, flags };
}

/** util.parseArgs' error as obtc says it: the flag, and the closest one the command has. */
function describe(e: Error & { code?: string }, known: string[]): string {
  const opt = /'(-[^' ]*)/.exec(e.message)?.[1] ?? '';
  const name = opt.replace(/^--?/, '');
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const near = nearestFlag(name, known);
    return `unknown flag ${opt}${near ? ` (did you mean --${near}?)` : ''}`;
  }
  if (/argument missing/.test(e.message)) return `${opt} needs a value`;
  if (/does not take an argument/.test(e.message)) return `${opt} takes no value`;
  if (/ambiguous/.test(e.message)) return `${opt} needs a value (for one starting with '-', write ${opt}=-…)`;
  return e.message;
}

/** The flag a mistyped one most likely meant: the nearest by edit distance (a swap of two letters
 *  counts 2, so up to 2 edits for short names), or the one it is a prefix of. */
function nearestFlag(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = k.startsWith(name) && name.length >= 2 ? 1 : editDistance(name, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}
