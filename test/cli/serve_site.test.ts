// obtc serve's built site is a temporary folder named by its process (obt-site-PID-…): removed when
// serve ends on SIGTERM or Ctrl-C, and — after a SIGKILL, which no process can handle — by the next
// serve that builds one.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeStale } from '../../llm/io/stale.ts';

const root = join(import.meta.dirname, '../..');
const sites = (pid: number) =>
  readdirSync(tmpdir())
    .filter((n) => n.startsWith(`obt-site-${pid}-`))
    .map((n) => join(tmpdir(), n));

/** Starts `obtc serve` on a free port; resolves once it prints its address. */
function serve(): Promise<{ pid: number; stop: (sig: NodeJS.Signals) => Promise<number | null> }> {
  const child = spawn(
    process.execPath,
    [
      join(root, 'bin/obtc.js'),
      'serve',
      '--port',
      '0',
      '--no-teacher',
      '--weights',
      join(root, 'data/stories260K-1bit-best.obtm'),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const closed = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  return new Promise((res, rej) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('http://'))
        res({
          pid: child.pid!,
          stop: (sig) => {
            child.kill(sig);
            return closed;
          },
        });
    });
    void closed.then((code) => rej(new Error(`serve exited (${code}) before serving: ${err}`)));
  });
}

describe('obtc serve leaves no site folder behind', () => {
  it('SIGTERM removes it (as Ctrl-C and SIGHUP do: one handler)', async () => {
    for (const [sig, code] of [['SIGTERM', 143]] as const) {
      const s = await serve();
      const made = sites(s.pid);
      expect(made).toHaveLength(1);
      expect(await s.stop(sig)).toBe(code);
      expect(existsSync(made[0]!), sig).toBe(false);
    }
  }, 60_000);
  it("a SIGKILLed serve's folder is removed by the next one", async () => {
    const s = await serve();
    const made = sites(s.pid);
    await s.stop('SIGKILL');
    expect(existsSync(made[0]!)).toBe(true);
    // what the next serve does before it builds its own
    expect(removeStale(tmpdir(), 'obt-site-')).toContain(made[0]);
    expect(existsSync(made[0]!)).toBe(false);
  }, 60_000);
});
