// Leftovers of killed processes: a write killed between its temporary file and the rename leaves
// `FILE.tmp-PID` (writeAtomic), a killed `obtc serve` its `obt-site-PID-…` folder. Each names the
// process that made it; what a process that no longer runs left behind is removed by the next run
// that would write there. (A process of another user may hold the same PID: EPERM counts as alive.)
import { readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Whether a process with this PID runs (as far as this user can tell). */
function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/** Removes the entries of `dir` named `${prefix}PID${rest}` whose PID no longer runs; returns them. */
export function removeStale(dir: string, prefix: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const m = /^(\d+)(?:$|-)/.exec(n.slice(prefix.length));
    if (!m || pidAlive(Number(m[1]))) continue;
    const p = join(dir, n);
    try {
      rmSync(p, { recursive: true, force: true });
      out.push(p);
    } catch {
      /* not ours to remove: left alone */
    }
  }
  return out;
}

/** Removes `FILE.tmp-PID` parts a killed writer of FILE left (writeAtomic's temporary files). */
export function removeStaleTemps(file: string): string[] {
  return removeStale(dirname(file), `${basename(file)}.tmp-`);
}
