// Training faults in obtc quantize: a diverging run stops with the step and the first non-finite
// parameter and keeps its last good checkpoint; a corrupted, truncated or CRC-valid but malformed
// checkpoint, or one made with other options, is a one-line error on --resume; Ctrl-C stops
// promptly with a checkpoint that --resume continues from; obtc ppl stops promptly on Ctrl-C.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeState } from '../../llm/io/state.ts';
import { FRAMES, joinFramed, splitFramed } from '../properties/fuzz.ts';

const root = join(import.meta.dirname, '../..');
const obtc = join(root, 'bin/obtc.js');
const dir = mkdtempSync(join(tmpdir(), 'obt-qf-'));
const base = ['quantize', '--steps', '4', '--batch', '1', '--seq', '16', '--no-eval', '--checkpoint-every', '2'];
const obtcSync = (args: string[]) => spawnSync(process.execPath, [obtc, ...args], { encoding: 'utf8', cwd: dir });
/** The run's error: one line (a hint line may follow), no stack trace. */
const oneError = (stderr: string) => {
  const lines = stderr.trim().split('\n');
  const err = lines.filter((l) => l.startsWith('obtc: '));
  expect(err, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  return err[0]!;
};

describe('training faults', () => {
  const good = join(dir, 'good.obtm');
  beforeAll(() => {
    const r = obtcSync([...base, '--out', good]);
    expect(r.status, r.stderr).toBe(0);
  }, 120_000);

  it('a diverging run stops naming the step and the parameter, keeps the last checkpoint, exits 1', () => {
    const out = join(dir, 'nan.obtm');
    const r = obtcSync([...base, '--steps', '8', '--lr', '1e4', '--out', out]);
    expect(r.status, r.stderr).toBe(1);
    expect(oneError(r.stderr)).toMatch(
      /training diverged at step [3-8]: .*gradient norm NaN.*first non-finite parameter is blocks\[\d+\]\.w[qkvo123]\.\w+\[\d+\].*last good checkpoint is .*nan\.obtm\.ckpt/,
    );
    expect(existsSync(out), 'no model is written').toBe(false);
    const st = decodeState('ck', new Uint8Array(readFileSync(`${out}.ckpt`))) as { step: number };
    expect(st.step % 2).toBe(0);
  }, 60_000);

  const resumeWith = (name: string, ckpt: Uint8Array, extra: string[] = []) => {
    const out = join(dir, `${name}.obtm`);
    writeFileSync(`${out}.ckpt`, ckpt);
    return obtcSync([...base, '--out', out, '--resume', ...extra]);
  };
  const ckpt = () => new Uint8Array(readFileSync(`${good}.ckpt`));

  it('a corrupted checkpoint: a checksum error on --resume', () => {
    const b = ckpt();
    b[100] ^= 0xff;
    const r = resumeWith('flip', b);
    expect(r.status).toBe(1);
    expect(oneError(r.stderr)).toMatch(/flip\.obtm\.ckpt: checksum mismatch/);
  });
  it('a truncated checkpoint: an error on --resume', () => {
    const r = resumeWith('trunc', ckpt().subarray(0, 5000));
    expect(r.status).toBe(1);
    expect(oneError(r.stderr)).toMatch(/trunc\.obtm\.ckpt: checksum mismatch/);
  });
  it('a CRC-valid checkpoint with a malformed tree: an error naming what is wrong', () => {
    const b = ckpt();
    const { header, data } = splitFramed(b, FRAMES.state);
    const h = header as { tree: { step: unknown } };
    h.tree.step = 'three';
    const r = resumeWith('bad', joinFramed(b, FRAMES.state, JSON.stringify(h), data));
    expect(r.status).toBe(1);
    expect(oneError(r.stderr)).toMatch(/--resume: .*bad\.obtm\.ckpt: step three: expected an integer in 0\.\.4/);
  });
  it('a CRC-valid checkpoint whose tensor sizes lie: an error before anything is copied', () => {
    const b = ckpt();
    const { header, data } = splitFramed(b, FRAMES.state);
    (header as { sizes: number[] }).sizes[0]! += 4;
    const r = resumeWith('sizes', joinFramed(b, FRAMES.state, JSON.stringify(header), data));
    expect(r.status).toBe(1);
    expect(oneError(r.stderr)).toMatch(/sizes\.obtm\.ckpt: tensor \d+: \d+ bytes/);
  });
  it('a CRC-valid checkpoint with options: {} is refused (it would skip every check) unless --force', () => {
    const b = ckpt();
    const { header, data } = splitFramed(b, FRAMES.state);
    (header as { tree: { options: unknown } }).tree.options = {};
    const f = joinFramed(b, FRAMES.state, JSON.stringify(header), data);
    const r = resumeWith('noopts', f);
    expect(r.status).toBe(1);
    // every option marked in llm/options.ts and the teacher, named by flag
    const e = oneError(r.stderr);
    expect(e).toMatch(/noopts\.obtm\.ckpt: it does not record --.*--force resumes it anyway/);
    for (const f of ['--seed', '--batch', '--lr', '--method', '--embedding', '--teacher']) expect(e).toContain(f);
    const forced = resumeWith('noopts', f, ['--force']);
    expect(forced.status, forced.stderr).toBe(0);
  });
  it("the temporary parts a killed write left are removed by the next run; a live writer's are kept", () => {
    const out = join(dir, 'tmp.obtm');
    // a PID no process holds (beyond the kernel's pid_max) and this test's own
    const dead = join(dir, 'tmp.obtm.ckpt.tmp-4194305');
    const deadModel = join(dir, 'tmp.obtm.tmp-4194306');
    const live = join(dir, `tmp.obtm.ckpt.tmp-${process.pid}`);
    for (const f of [dead, deadModel, live]) writeFileSync(f, 'partial');
    const r = obtcSync([...base, '--steps', '2', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(deadModel)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(r.stderr).toContain('removed');
  });
  it('--resume with another --lr: an error naming the option', () => {
    copyFileSync(`${good}.ckpt`, join(dir, 'lr.obtm.ckpt'));
    const r = obtcSync([...base, '--out', join(dir, 'lr.obtm'), '--resume', '--lr', '0.5']);
    expect(r.status).toBe(1);
    expect(oneError(r.stderr)).toMatch(/made with --lr 0\.\d+, not 0\.5/);
  });
  it('--resume with another teacher: an error naming it', () => {
    copyFileSync(`${good}.ckpt`, join(dir, 'w.obtm.ckpt'));
    const r = obtcSync([
      ...base,
      '--out',
      join(dir, 'w.obtm'),
      '--resume',
      '--weights',
      join(root, 'data/stories260K.gguf'),
    ]);
    expect(r.status).toBe(1);
    expect(oneError(r.stderr)).toMatch(/made with --teacher/);
  });
});

describe('Ctrl-C', () => {
  /** Spawns obtc, sends SIGINT once `ready()` holds, returns its exit and how long it took to stop. */
  async function interrupt(args: string[], ready: () => boolean) {
    const child = spawn(process.execPath, [obtc, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
      child.on('exit', (code, signal) => r({ code, signal })),
    );
    const t0 = Date.now();
    while (!ready()) {
      if (Date.now() - t0 > 60_000) throw new Error(`not ready within 60 s: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const sent = Date.now();
    child.kill('SIGINT');
    const res = await exited;
    return { ...res, ms: Date.now() - sent, err };
  }

  it('quantize stops after the step under way with a checkpoint; --resume finishes the same run', async () => {
    const out = join(dir, 'int.obtm');
    const args = [...base, '--steps', '40', '--checkpoint-every', '100', '--seed', '3', '--out', out];
    const csv = `${out}.loss.csv`;
    const rows = () => (existsSync(csv) ? readFileSync(csv, 'utf8').trim().split('\n').length : 0);
    const r = await interrupt(args, () => rows() >= 2);
    expect(r.code, r.err).toBe(130);
    expect(r.ms).toBeLessThan(5000);
    expect(oneError(r.err)).toMatch(/interrupted at step (\d+) of 40; checkpoint .*int\.obtm\.ckpt/);
    const step = Number(/interrupted at step (\d+)/.exec(r.err)![1]);
    expect(rows()).toBe(step);
    const st = decodeState('ck', new Uint8Array(readFileSync(`${out}.ckpt`))) as { step: number };
    expect(st.step).toBe(step);
    const resumed = obtcSync([...args, '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(
      readFileSync(csv, 'utf8')
        .trim()
        .split('\n')
        .map((l) => Number(l.split(',')[0])),
    ).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  }, 180_000);

  it('ppl stops promptly', async () => {
    const t0 = Date.now();
    const args = ['ppl', '--text', join(root, 'data/tinystories_valid_eval.txt'), '--backend', 'interp'];
    const r = await interrupt(args, () => Date.now() - t0 > 1500);
    expect(r.signal === 'SIGINT' || r.code === 130, JSON.stringify(r)).toBe(true);
    expect(r.ms).toBeLessThan(3000);
  }, 60_000);
});
