// The profiler: a known program's kernels appear in the report with their kind, fused Core ops and
// the `.obt` source locations they came from (forward and, marked ∇, gradient), on Wasm and on
// WebGPU (timestamp queries where the adapter has them: SwiftShader's does); the CLI's --profile
// table and --profile-json report.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { compile } from '../../compiler/api.ts';
import { fromNested } from '../../runtime/core/tensor.ts';
import { Profiler, setProfiler, formatProfile, type ProfileEntry } from '../../runtime/plan/profile.ts';
import { gpu, gpuNote } from '../helpers/gpu.ts';
import { main } from '../../cli/main.ts';

const src = `import nn
fn f[N, D](x: f32[N, D], w: f32[D, D]) -> f32 {
  let h = x @ w
  let e = exp(h - 1.0)
  sum(e * e)
}
pub fn loss_and_grad[N, D](x: f32[N, D], w: f32[D, D]) = value_and_grad(fn(w) { f(x, w) }, w)
`;
const x = fromNested(
  Array.from({ length: 6 }, (_, i) => Array.from({ length: 5 }, (_, j) => Math.sin(i + 2 * j) / 4)),
  'f32',
);
const w = fromNested(
  Array.from({ length: 5 }, (_, i) => Array.from({ length: 5 }, (_, j) => Math.cos(3 * i - j) / 4)),
  'f32',
);

afterEach(() => setProfiler(undefined));

function check(entries: ProfileEntry[], backend: string): void {
  const kernels = entries.filter((e) => e.kind === 'kernel' && e.backend === backend);
  // the forward matmul: a dot kernel from line 3 (`x @ w`, column 11)
  const dot = kernels.find((e) => e.desc.startsWith('dot') && e.src.includes('prof.obt:3:11'));
  expect(dot, JSON.stringify(kernels, null, 1)).toBeDefined();
  expect(dot!.ops).toContain('dot_general');
  // exp fused into a kernel with its source location (line 4)
  const ex = kernels.find((e) => e.ops.includes('exp'));
  expect(ex).toBeDefined();
  expect(ex!.src.some((s) => s.startsWith('prof.obt:4:'))).toBe(true);
  // the gradient's kernels are marked ∇ with the primal's location
  expect(kernels.some((e) => e.src.some((s) => s.startsWith('∇ prof.obt:')))).toBe(true);
  for (const e of kernels) {
    expect(e.calls).toBeGreaterThan(0);
    expect(e.ms).toBeGreaterThanOrEqual(0);
  }
}

describe('profiler', () => {
  const prog = compile(src, { path: 'prof.obt' });

  it('records every Wasm kernel with its kind, fused ops and source spans', () => {
    const p = new Profiler();
    setProfiler(p);
    for (let i = 0; i < 3; i++) prog.runSync('loss_and_grad', [x, w], { device: { kind: 'wasm' } });
    const r = p.report();
    check(r.entries, 'wasm');
    // programs are compiled once and every run is recorded: 3 calls per kernel step
    expect(Math.min(...r.entries.filter((e) => e.kind === 'kernel').map((e) => e.calls)) % 3).toBe(0);
    const table = formatProfile(r);
    expect(table).toMatch(/^profile: .* ms in program steps/);
    expect(table).toMatch(/wasm dot .*@ .*prof\.obt:3:11/);
  });

  it(`records WebGPU dispatches (GPU timestamps where the adapter has them)${gpuNote}`, async () => {
    if (!gpu) return;
    const p = new Profiler();
    setProfiler(p);
    const want = prog.runSync('loss_and_grad', [x, w]).tensors;
    for (let i = 0; i < 2; i++) {
      const got = (await prog.run('loss_and_grad', [x, w], { device: { kind: 'webgpu', gpu } })).tensors;
      expect(got[0]!.data[0]).toBeCloseTo(want[0]!.data[0]!, 3); // profiling does not change results
    }
    const r = p.report();
    check(r.entries, 'webgpu');
    const clocks = new Set(r.entries.filter((e) => e.kind === 'kernel').map((e) => e.clock));
    expect([...clocks]).toEqual([gpu.timestamps ? 'gpu-timestamp' : 'host']);
  });

  it('obtc run --profile prints the table; --profile-json writes the report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'obt-prof-'));
    const file = join(dir, 'prof.obt');
    writeFileSync(file, src);
    const json = join(dir, 'p.json');
    let err = '';
    const code = await main(
      [
        'run',
        file,
        '--entry',
        'loss_and_grad',
        JSON.stringify([
          [1, 2],
          [3, 4],
        ]),
        JSON.stringify([
          [0.5, 0],
          [0, 0.5],
        ]),
        '--profile-json',
        json,
      ],
      { out: () => {}, err: (s) => (err += s) },
    );
    expect(code, err).toBe(0);
    expect(err).toMatch(/profile: .* ms in program steps/);
    const rep = JSON.parse(readFileSync(json, 'utf8')) as { entries: ProfileEntry[]; stepMs: number };
    expect(rep.entries.some((e) => e.kind === 'kernel' && e.src.some((s) => /prof\.obt:3:11$/.test(s)))).toBe(true);
    // a command that runs no program refuses the flag
    expect(await main(['check', file, '--profile'], { out: () => {}, err: () => {} })).toBe(2);
  });
});
