// obtc quantize on a tiny configuration: a run killed mid-way and resumed from its last checkpoint
// (at a random step) reaches the same loss at the same step, and writes the same packed student, as an uninterrupted
// run with the same seed. The packed student then loads and runs through obtc ppl / generate.
import { expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';
import { gpu } from '../helpers/gpu.ts';

const root = join(import.meta.dirname, '../..');
const obtc = join(root, 'bin/obtc.js');
const dir = mkdtempSync(join(tmpdir(), 'obt-q-'));
const args = (out: string) => [
  'quantize',
  '--steps',
  '10',
  '--batch',
  '1',
  '--seq',
  '16',
  '--checkpoint-every',
  '2',
  '--no-eval',
  '--seed',
  '5',
  '--out',
  out,
];
const lossAt = (csv: string, step: number) =>
  readFileSync(csv, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(','))
    .filter((r) => Number(r[0]) === step)
    .pop()?.[1];

it('a killed and resumed run matches an uninterrupted one', async () => {
  const a = join(dir, 'a.obtm');
  const ra = spawnSync(process.execPath, [obtc, ...args(a)], { encoding: 'utf8' });
  expect(ra.status, ra.stderr).toBe(0);
  expect(ra.stdout).toMatch(/kd loss: first \d+\.\d+ +last \d+\.\d+ +\(10 steps/);

  const b = join(dir, 'b.obtm');
  const child = spawn(process.execPath, [obtc, ...args(b)], { stdio: 'ignore' });
  // kill it at a random step past its first checkpoint (printed, so a failure can be replayed)
  const killAt = 3 + Math.floor(Math.random() * 4);
  console.log(`SIGKILL after step ${killAt}`);
  await new Promise<void>((resolve, reject) => {
    const t0 = Date.now();
    const poll = setInterval(() => {
      const csv = `${b}.loss.csv`;
      const rows = existsSync(csv) ? readFileSync(csv, 'utf8').trim().split('\n').length : 0;
      if (existsSync(`${b}.ckpt`) && rows >= killAt) {
        clearInterval(poll);
        child.kill('SIGKILL');
        resolve();
      } else if (Date.now() - t0 > 60_000) {
        clearInterval(poll);
        reject(new Error('no checkpoint within 60 s'));
      }
    }, 20);
  });
  await new Promise((r) => child.on('exit', r));
  expect(existsSync(b), 'the killed run must not have finished').toBe(false);
  const rb = spawnSync(process.execPath, [obtc, ...args(b), '--resume'], { encoding: 'utf8' });
  expect(rb.status, rb.stderr).toBe(0);
  expect(rb.stderr).toMatch(/resuming from .*b\.obtm\.ckpt at step [2-9]/);
  expect(lossAt(`${b}.loss.csv`, 10)).toBe(lossAt(`${a}.loss.csv`, 10));
  // one row per step, none repeated after the resume
  const steps = (f: string) =>
    readFileSync(f, 'utf8')
      .trim()
      .split('\n')
      .map((l) => Number(l.split(',')[0]));
  expect(steps(`${b}.loss.csv`)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
  expect(readFileSync(b)).toEqual(readFileSync(a));
  expect(readFileSync(`${a}.loss.svg`, 'utf8')).toMatch(/^<svg/);
}, 180_000);

it('the packed student runs through obtc ppl and obtc generate', async () => {
  const a = join(dir, 'a.obtm');
  let out = '';
  let err = '';
  const io = { out: (s: string) => (out += s), err: (s: string) => (err += s) };
  const tiny = join(dir, 'tiny.txt');
  (await import('node:fs')).writeFileSync(
    tiny,
    'Once upon a time, there was a little girl named Lily. She loved to play outside.<|endoftext|>Tom had a big red ball. He liked to throw it high.',
  );
  expect(await main(['ppl', '--weights', a, '--seq', '16', '--text', tiny], io), err).toBe(0);
  const last = out.trim().split('\n').pop()!;
  expect(last).toMatch(/^ppl=\d+\.\d{4} ce=\d+\.\d{5} tokens=\d+ windows=\d+$/);
  expect(Number(/ce=(\S+)/.exec(last)![1])).toBeLessThan(30); // finite and sane
  out = '';
  expect(await main(['generate', '--weights', a, '--temperature', '0', '--steps', '8', '--ids'], io), err).toBe(0);
  const ids = out.trim().split(' ').map(Number);
  expect(ids.length).toBeGreaterThan(0);
  expect(ids.every((x) => Number.isInteger(x) && x >= 0 && x < 512)).toBe(true);
}, 120_000);

it("the KD recipe on the Wasm backend (and WebGPU) follows the reference interpreter's loss curve", () => {
  const curve = (backend: string) => {
    const out = join(dir, `curve-${backend}.obtm`);
    const r = spawnSync(
      process.execPath,
      [
        obtc,
        'quantize',
        // OneBit's recipe: latent weights start at ±0.01 and move by ~lr per step. (The default
        // starts them at W rescaled, so some sit within one step of zero; whether such a sign flips
        // then depends on the order of additions, and the curves part by more than rounding.)
        '--method',
        'onebit',
        '--lr',
        '1e-3',
        '--alpha',
        '1',
        '--embedding',
        'frozen',
        '--steps',
        '4',
        '--batch',
        '2',
        '--seq',
        '32',
        '--checkpoint-every',
        '0',
        '--no-eval',
        '--seed',
        '3',
        '--out',
        out,
        '--backend',
        backend,
      ],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    return readFileSync(`${out}.loss.csv`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => Number(l.split(',')[1]));
  };
  const wasm = curve('wasm');
  const interp = curve('interp');
  expect(wasm.length).toBe(4);
  // f32 on both; only the order of additions differs
  wasm.forEach((l, i) => expect(Math.abs(l - interp[i]!)).toBeLessThan(1e-3 * Math.abs(interp[i]!)));
  // and on WebGPU where there is an adapter (SwiftShader in CI)
  if (gpu) {
    const webgpu = curve('webgpu');
    webgpu.forEach((l, i) => expect(Math.abs(l - interp[i]!)).toBeLessThan(1e-3 * Math.abs(interp[i]!)));
  }
}, 240_000);
