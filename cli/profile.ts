// --profile / --profile-json FILE / OBT_PROFILE=1: makes a profiler active for the command's
// programs (runtime/plan/profile.ts) and, when the command finishes, prints its table on stderr
// and writes the JSON report.
import { writeFileSync } from 'node:fs';
import { UserError } from '../compiler/syntax/diag.ts';
import { formatProfile, Profiler, setProfiler } from '../runtime/plan/profile.ts';
import { isAbsolute, relative } from 'node:path';
import { str, type CliIO, type Flags } from './flags.ts';
import { Usage } from './spec.ts';

/** the commands whose programs can be profiled */
const PROFILED = new Set(['run', 'generate', 'ppl', 'quantize', 'train', 'exec']);

export interface ProfileRun {
  profiler: Profiler;
  /** prints the table and writes the JSON (the command succeeded) */
  finish(io: CliIO): void;
  /** deactivates the profiler */
  stop(): void;
}

export function startProfile(cmd: string, flags: Flags): ProfileRun | undefined {
  const json = str(flags, 'profile-json');
  const env = typeof process !== 'undefined' ? process.env.OBT_PROFILE : undefined;
  const want = flags.has('profile') || json !== undefined || (env !== undefined && env !== '' && env !== '0');
  if (!want) return undefined;
  if (!PROFILED.has(cmd)) {
    if (flags.has('profile') || json !== undefined)
      throw new Usage(`--profile applies to ${[...PROFILED].join(', ')}, not ${cmd}`);
    return undefined;
  }
  const profiler = new Profiler();
  setProfiler(profiler);
  const top = Number(env) > 1 ? Number(env) : 25;
  return {
    profiler,
    finish(io) {
      const report = profiler.report();
      // source locations relative to the working directory, as the user's paths are
      for (const e of report.entries) e.src = e.src.map(relativeSrc);
      io.err(formatProfile(report, top) + '\n');
      if (json === undefined) return;
      try {
        writeFileSync(json, JSON.stringify(report, null, 1) + '\n');
      } catch (e) {
        throw new UserError(`--profile-json ${json}: cannot write (${(e as Error).message})`);
      }
      io.err(`profile written to ${json}\n`);
    },
    stop: () => setProfiler(undefined),
  };
}

/** `∇ /abs/dir/file.obt:3:4` → `∇ file.obt:3:4` (relative to the working directory when inside it). */
function relativeSrc(s: string): string {
  const m = s.match(/^(∇ )?(.*?)(:\d+:\d+)$/);
  if (!m || !isAbsolute(m[2]!)) return s;
  const r = relative(process.cwd(), m[2]!);
  return r.startsWith('..') ? s : `${m[1] ?? ''}${r}${m[3]}`;
}
