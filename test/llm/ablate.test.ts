// obtc ablate on a tiny grid (2 methods × 2 step counts × 2 seeds, a few steps): every output is
// written, the table has one row per configuration with its seeds aggregated, and a second
// invocation after an interruption redoes only the runs that had not finished.
import { expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';

const dir = mkdtempSync(join(tmpdir(), 'obt-ablate-'));
const argv = [
  'ablate',
  '--methods',
  'ptq_sign,onebit_noln',
  '--seeds',
  '1,2',
  '--steps',
  '0,2',
  '--batch',
  '1',
  '--seq',
  '16',
  '--eval-windows',
  '2',
  '--decode-steps',
  '8',
  '--out',
  dir,
];
const run = async () => {
  let err = '';
  const code = await main(argv, { out: () => {}, err: (s: string) => (err += s) });
  return { code, err };
};

it('writes the table, CSV, JSON and plots, and resumes without redoing finished runs', async () => {
  const first = await run();
  expect(first.code, first.err).toBe(0);
  const md = readFileSync(join(dir, 'results.md'), 'utf8');
  for (const row of ['ptq_sign steps=0', 'ptq_sign steps=2', 'onebit_noln steps=0', 'onebit_noln steps=2'])
    expect(md).toMatch(new RegExp(`\\| ${row} \\| 2 \\| \\d+\\.\\d{3} \\| \\d+\\.\\d{3} \\| \\d+ \\|`));
  expect(md).toMatch(/\| fp32 teacher \|/);
  expect(md).toContain(`Made by \`obtc ablate --methods ptq_sign,onebit_noln --seeds 1,2 --steps 0,2 --batch 1`);
  expect(md).toMatch(/first 2 non-overlapping windows of 256 tokens/);
  const csv = readFileSync(join(dir, 'results.csv'), 'utf8').trim().split('\n');
  expect(csv).toHaveLength(1 + 8);
  const json = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as {
    command: string;
    recipe: { weights: string };
    runs: { ppl: number; losses: number[] }[];
  };
  expect(json.command).toMatch(/^obtc ablate --methods/);
  expect(json.recipe.weights).toBe('data/stories260K.bin');
  expect(json.runs).toHaveLength(8);
  expect(json.runs.every((r) => Number.isFinite(r.ppl))).toBe(true);
  expect(json.runs.filter((r) => r.losses.length === 2)).toHaveLength(4);
  expect(readFileSync(join(dir, 'loss.svg'), 'utf8')).toMatch(/^<svg[^]*<path/);
  expect(readFileSync(join(dir, 'pareto.svg'), 'utf8')).toMatch(/^<svg[^]*<circle/);
  readFileSync(join(dir, 'runs/onebit_noln-steps2-s2.obtm.loss.csv'));

  // an interruption that lost one run's results: only that run is redone
  const kept = join(dir, 'runs/ptq_sign-steps2-s1.json');
  const before = statSync(kept).mtimeMs;
  rmSync(join(dir, 'runs/onebit_noln-steps2-s1.json'));
  const again = await run();
  expect(again.code, again.err).toBe(0);
  expect(statSync(kept).mtimeMs).toBe(before);
  expect(statSync(join(dir, 'runs/onebit_noln-steps2-s1.json')).mtimeMs).toBeGreaterThan(before);
  expect(readFileSync(join(dir, 'results.csv'), 'utf8').trim().split('\n')).toHaveLength(9);
}, 180_000);

it('--jobs 2 runs rows in child processes side by side, with the results of one process', async () => {
  const par = mkdtempSync(join(tmpdir(), 'obt-ablate-jobs-'));
  const args = [...argv.slice(0, -1), par, '--seeds', '1', '--jobs', '2'];
  let err = '';
  expect(await main(args, { out: () => {}, err: (s: string) => (err += s) }), err).toBe(0);
  const rows = (d: string) =>
    (
      JSON.parse(readFileSync(join(d, 'results.json'), 'utf8')) as {
        runs: { id: string; ppl: number; losses: number[] }[];
      }
    ).runs
      .filter((r) => r.id.endsWith('-s1'))
      .map((r) => [r.id, r.ppl, r.losses]);
  expect(rows(par)).toEqual(rows(dir)); // the same rows, bit for bit, as the sequential grid's seed-1 rows
  expect(readFileSync(join(par, 'results.md'), 'utf8')).toContain('with --jobs 2: 2 rows ran side by side');
  let bad = '';
  const rc = await main([...args.slice(0, -2), '--row', 'nope'], { out: () => {}, err: (s: string) => (bad += s) });
  expect(rc).not.toBe(0);
  expect(bad).toContain('--row nope: no such row in the grid');
}, 180_000);
