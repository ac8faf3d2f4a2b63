// obtc: the command-line driver. One file per command (check, run, compile, exec, serve, generate,
// sample, ppl, export, quantize, train, ablate, lsp); this file holds the usage text, the command table and how
// errors are reported: user errors print diagnostics and exit 1,
// misuse prints the usage and exits 2, only internal errors print a stack trace (exit 3).
import {
  CompileError,
  InternalError,
  Interrupted,
  UserError,
  formatDiagnostic,
  type Diagnostic,
} from '../compiler/syntax/diag.ts';
import { LoadError } from '../llm/io/model.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../compiler/resolve/root.ts';
import { closePools, num, type CliIO, type Command } from './flags.ts';
import { scaledBudget, setDefaultBudget } from '../compiler/core/budget.ts';
import { commandOf, commandUsage, parseCommand, Usage, USAGE, type CommandName } from './spec.ts';
import { startProfile, type ProfileRun } from './profile.ts';

export type { CliIO } from './flags.ts';

// each command's module is loaded when it runs (check does not load the LLM toolkit or WebGPU)
export const COMMANDS: Record<CommandName, () => Promise<Command>> = {
  generate: async () => (await import('./generate.ts')).generateCmd,
  sample: async () => (await import('./sample.ts')).sampleCmd,
  quantize: async () => (await import('./quantize.ts')).quantizeCmd,
  train: async () => (await import('./train.ts')).trainCmd,
  ablate: async () => (await import('./ablate.ts')).ablateCmd,
  ppl: async () => (await import('./ppl.ts')).pplCmd,
  export: async () => (await import('./export.ts')).exportCmd,
  serve: async () => (await import('./serve.ts')).serveCmd,
  check: async () => (await import('./check.ts')).checkCmd,
  run: async () => (await import('./run.ts')).runCmd,
  compile: async () => (await import('./compile.ts')).compileCmd,
  exec: async () => (await import('./exec.ts')).execCmd,
  lsp: async () => (await import('./lsp.ts')).lspCmd,
};

export async function main(
  argv: string[],
  io: CliIO = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) },
): Promise<number> {
  const first = argv[0];
  if (first === undefined) {
    io.err(USAGE);
    return 2;
  }
  if (first === '--version') {
    io.out(`obtc ${version()}\n`);
    return 0;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const sub = argv[1];
    if (sub === undefined) io.out(USAGE);
    else {
      try {
        io.out(commandUsage(commandOf(sub)));
      } catch (e) {
        return reportError(e, io);
      }
    }
    return 0;
  }
  let cmd: CommandName;
  let pos: string[];
  let flags: Map<string, string | true>;
  try {
    if (first.startsWith('-')) throw new Usage(`expected a command before ${first}`);
    cmd = commandOf(first);
    ({ pos, flags } = parseCommand(cmd, argv.slice(1)));
  } catch (e) {
    return reportError(e, io);
  }
  if (flags.has('help')) {
    io.out(commandUsage(cmd));
    return 0;
  }
  let prof: ProfileRun | undefined;
  try {
    const run = await COMMANDS[cmd]();
    // the compile budget of every compile this command makes
    setDefaultBudget(
      scaledBudget(num(flags, 'compile-budget', 1, (v) => v >= 1 && v <= 2 ** 20, 'a factor from 1 to 2^20')),
    );
    prof = startProfile(cmd, flags);
    const code = await run(pos, flags, io);
    prof?.finish(io);
    return code;
  } catch (e) {
    return reportError(e, io, cmd);
  } finally {
    prof?.stop();
    closePools();
    setDefaultBudget(scaledBudget(1)); // a later call in this process starts from the default
  }
}

/** obtc's version (package.json's). */
function version(): string {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

function reportError(e: unknown, io: CliIO, cmd?: CommandName): number {
  if (e instanceof Usage) {
    const c = e.command ?? cmd;
    io.err(`obtc${c ? ` ${c}` : ''}: ${e.message}\n\n${c ? commandUsage(c) : USAGE}`);
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
  if (e instanceof Interrupted) {
    io.err(`obtc: ${e.message}\n`);
    return 130;
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
