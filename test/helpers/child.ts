// Runs obtc in a child process with a wall-clock limit and reports its exit status, output, time
// and peak resident memory (the child writes process.resourceUsage().maxRSS on exit), for tests
// that must show a hostile input ends quickly and within a memory bound — or that would hang.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const OBTC = join(import.meta.dirname, '../../bin/obtc.js');
// the peak of this process's own memory: VmHWM (ru_maxrss is inherited from the parent across
// fork and exec on Linux — a child of a 1 GB test worker reported 1 GB)
const PEAK = `(()=>{try{return +/VmHWM:\\s*(\\d+)/.exec(r("/proc/self/status","utf8"))[1]}catch{return process.resourceUsage().maxRSS}})()`;
const REPORT = `data:text/javascript,import{readFileSync as r}from"fs";process.on("exit",()=>process.stderr.write("\\n@@maxrss "+${PEAK}+"\\n"))`;

export interface ChildResult {
  /** exit status; null when the limit killed it */
  rc: number | null;
  out: string;
  /** stderr without the memory report */
  err: string;
  ms: number;
  /** peak resident set in MiB (NaN when it was killed) */
  maxRssMiB: number;
}

export function obtcChild(
  args: string[],
  opts: { cwd?: string; limitMs?: number; input?: string } = {},
): Promise<ChildResult> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', REPORT, OBTC, ...args], {
    cwd: opts.cwd,
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.limitMs ?? 30_000);
  return new Promise((res) =>
    child.on('close', (rc) => {
      clearTimeout(timer);
      const m = /\n@@maxrss (\d+)\n$/.exec(err);
      res({
        rc,
        out,
        err: m ? err.slice(0, m.index) : err,
        ms: performance.now() - t0,
        maxRssMiB: m ? Number(m[1]) / 1024 : NaN,
      });
    }),
  );
}
