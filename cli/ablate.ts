// obtc ablate: the grid methods × seeds × any quantize flag given a comma-separated list
// (e.g. --methods onebit,bitnet158 --seeds 1,2 --steps 0,300), one recipe for every row, through
// llm/ablate.ts; writes results.md / .csv / .json, loss.svg and pareto.svg into --out.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { ablate, type AblationRun } from '../llm/ablate.ts';
import { resolveMethod, shippedMethods } from '../llm/method.ts';
import { DEFAULT_EVAL } from '../llm/defaults.ts';
import { quantizeOptions } from './quantize.ts';
import { num, str, Usage, type Command, type Flags } from './args.ts';
import { UserError } from '../compiler/syntax/diag.ts';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';

/** Flags that belong to the ablation itself, not to each run's recipe. */
const OWN = new Set([
  'methods',
  'seeds',
  'out',
  'eval-text',
  'eval-seq',
  'eval-windows',
  'decode-steps',
  'jobs',
  'row',
]);

const list = (flags: Flags, k: string): string[] | undefined => {
  const v = str(flags, k);
  return v === undefined
    ? undefined
    : v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
};

/** The invocation, for the results to say how they were made (paths as given). */
const commandLine = (flags: Flags) =>
  [
    'obtc ablate',
    ...[...flags].map(([k, v]) =>
      v === true ? `--${k}` : `--${k} ${/^[\w.,/=:+-]+$/.test(v) ? v : JSON.stringify(v)}`,
    ),
  ].join(' ');

export const ablateCmd: Command = async (_pos, flags, io) => {
  if (flags.has('method')) throw new Usage('ablate takes --methods A,B,… (a list), not --method');
  if (flags.has('resume')) throw new Usage('ablate always resumes: run the same command again');
  const methods = list(flags, 'methods') ?? shippedMethods();
  for (const m of methods) resolveMethod(m); // every method checked before anything runs
  const seeds = (list(flags, 'seeds') ?? ['1']).map((s) => {
    if (!/^-?\d+$/.test(s)) throw new Usage(`--seeds: ${s} is not an integer`);
    return s;
  });
  // every other flag given a list is an axis of the grid
  const axes: [string, string[]][] = [['method', methods]];
  for (const [k, v] of flags)
    if (!OWN.has(k) && typeof v === 'string' && v.includes(',')) axes.push([k, v.split(',').map((x) => x.trim())]);
  axes.push(['seed', seeds]);
  const rows: Record<string, string>[] = axes.reduce<Record<string, string>[]>(
    (acc, [k, vs]) => acc.flatMap((r) => vs.map((v) => ({ ...r, [k]: v }))),
    [{}],
  );
  const runs: AblationRun[] = rows.map((axesOf) => {
    const f: Flags = new Map(flags);
    for (const k of OWN) f.delete(k);
    for (const [k, v] of Object.entries(axesOf)) f.set(k, v);
    const name = axesOf.method!.replace(/^.*[\\/]/, '').replace(/\.obt$/, '');
    const mid = Object.entries(axesOf)
      .filter(([k]) => k !== 'method' && k !== 'seed')
      .map(([k, v]) => `${k}${v}`);
    const id = [name, ...mid, `s${axesOf.seed}`].join('-').replace(/[^A-Za-z0-9_.-]/g, '_');
    return { id, axes: { ...axesOf, method: name }, options: { ...quantizeOptions(f), method: axesOf.method! } };
  });
  const dir = resolve(str(flags, 'out') ?? 'out/ablation');
  const pos = (k: string, d: number) => num(flags, k, d, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  // --row ID (what --jobs runs in each child process): that row alone, and no table
  const row = str(flags, 'row');
  if (row !== undefined && !runs.some((r) => r.id === row))
    throw new UserError(`--row ${row}: no such row in the grid`);
  const jobs = pos('jobs', 1);
  const spawnRow = (id: string) =>
    new Promise<void>((ok, fail) => {
      const args = ['ablate'];
      for (const [k, v] of flags) if (k !== 'jobs' && k !== 'out') args.push(`--${k}`, ...(v === true ? [] : [v]));
      const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/obtc.js'), ...args, '--row', id, '--out', dir], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
      child.on('error', fail);
      child.on('exit', (code) =>
        code === 0
          ? ok()
          : fail(new UserError(`ablate row ${id} failed (exit ${code}): ${err.trim().split('\n').pop() ?? ''}`)),
      );
    });
  const { rows: results } = await ablate(
    row === undefined ? runs : runs.filter((r) => r.id === row),
    {
      text: str(flags, 'eval-text') ?? DEFAULT_EVAL,
      seq: pos('eval-seq', 256),
      windows: flags.has('eval-windows') ? pos('eval-windows', 1) : undefined,
      decodeSteps: pos('decode-steps', 128),
    },
    dir,
    row === undefined ? (s) => io.err(s) : () => {},
    commandLine(flags),
    { jobs, spawnRow: jobs > 1 ? spawnRow : undefined, only: row !== undefined },
  );
  io.out(`${results.length} run(s); results in ${dir}/results.md (also .csv, .json), loss.svg, pareto.svg\n`);
  return 0;
};
