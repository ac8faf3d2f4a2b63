// Compiled artifacts: `obtc compile --target wasm -o DIR` writes a directory that `obtc exec` (and
// loadArtifact) runs without the compiler — equal to the reference interpreter, with one thread or
// a pool; a broken artifact is a readable error. (That the loader needs no compiler file is
// test/arch/layers.test.ts.)
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { obtcInProcess } from '../helpers/cli.ts';
import { compile } from '../../compiler/api.ts';
import { fromNested } from '../../runtime/core/tensor.ts';
import { loadArtifact } from '../../runtime/wasm/artifact.ts';
import { gpu, gpuNote } from '../helpers/gpu.ts';

const dir = mkdtempSync(join(tmpdir(), 'obt-art-'));
const src = `import onebit
import nn
fn f(x: f32[2, 40], w: f32[6, 40], c: f32[4, 6], p: i32) -> (f32[2, 6], f32[4, 6]) {
  let s = svid(w, 5)
  let y = layernorm0(signlinear(x, pack_sign(w), s.g, s.h)) + sum(x, axis: 1, keep: true)
  (y, update_slice(c, y, [p, 0]))
}
`;
const file = join(dir, 'art.obt');
writeFileSync(file, src);
const x = Array.from({ length: 2 }, (_, i) => Array.from({ length: 40 }, (_, j) => Math.sin(i * 40 + j)));
const w = Array.from({ length: 6 }, (_, i) => Array.from({ length: 40 }, (_, j) => Math.cos(3 * i + j * 0.7)));
const c = Array.from({ length: 4 }, (_, i) => Array.from({ length: 6 }, (_, j) => i - j));
const run = obtcInProcess;

describe('wasm artifacts', () => {
  it('compile --target wasm -o DIR, then exec DIR equals the reference', async () => {
    const prog = compile(src, { path: file });
    expect(prog.diagnostics.map((d) => d.message)).toEqual([]);
    const out = join(dir, 'a');
    const r = await run([
      'compile',
      file,
      '--entry',
      'f',
      '--target',
      'wasm',
      '-o',
      out,
      JSON.stringify(x),
      JSON.stringify(w),
      JSON.stringify(c),
      '1',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const man = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(man.inputs.map((i: { path: string }) => i.path)).toEqual(['x', 'w', 'c', 'p']);
    const ref = prog.runSync('f', [x, w, c, 1] as never).tensors;
    for (const p of [1, 3]) {
      const refP = prog.runSync('f', [x, w, c, p] as never).tensors;
      for (const threads of ['1', '2']) {
        const e = await run([
          'exec',
          out,
          JSON.stringify(x),
          JSON.stringify(w),
          JSON.stringify(c),
          String(p),
          '--threads',
          threads,
        ]);
        expect(e.err).toBe('');
        const got = JSON.parse(e.out) as number[][][];
        got.forEach((t, i) => {
          const flat = t.flat(2) as number[];
          const want = Array.from(refP[i]!.data);
          flat.forEach((v, j) => expect(Math.abs(v - want[j]!)).toBeLessThan(2e-5 * Math.max(1, Math.abs(want[j]!))));
        });
      }
    }
    // the loader alone
    const { program } = loadArtifact(out);
    const got = program.run([fromNested(x, 'f32'), fromNested(w, 'f32'), fromNested(c, 'f32'), fromNested(1, 'i32')]);
    expect(Array.from(got[1]!.data).map((v, j) => Math.abs(v - ref[1]!.data[j]!) < 2e-5)).not.toContain(false);
  });

  it.skipIf(!gpu)(`compile --target webgpu -o DIR, then exec DIR equals the reference${gpuNote}`, async () => {
    const prog = compile(src, { path: file });
    const out = join(dir, 'g');
    const r = await run([
      'compile',
      file,
      '--entry',
      'f',
      '--target',
      'webgpu',
      '-o',
      out,
      JSON.stringify(x),
      JSON.stringify(w),
      JSON.stringify(c),
      '1',
    ]);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/WGSL kernels, 1 update steps/);
    for (const p of [0, 3]) {
      const refP = prog.runSync('f', [x, w, c, p] as never).tensors;
      const e = await run(['exec', out, JSON.stringify(x), JSON.stringify(w), JSON.stringify(c), String(p)]);
      expect(e.err).toBe('');
      (JSON.parse(e.out) as number[][][]).forEach((t, i) => {
        const want = Array.from(refP[i]!.data);
        (t.flat(2) as number[]).forEach((v, j) =>
          expect(Math.abs(v - want[j]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want[j]!))),
        );
      });
    }
  });

  it('a broken artifact is a readable error, not a crash', async () => {
    const out = join(dir, 'a');
    const n = await run(['exec', out, '1']);
    expect(n.err).toMatch(/takes 4 inputs \(x: f32\[2, 40\], w: f32\[6, 40\], c: f32\[4, 6\], p: i32\[\]\), got 1/);
    const man = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    rmSync(join(out, man.kernels[0].file));
    const e = await run(['exec', out, JSON.stringify(x), JSON.stringify(w), JSON.stringify(c), '1']);
    expect(e.code).not.toBe(0);
    expect(e.err).toMatch(/missing kernel/);
    expect(e.err).not.toMatch(/\n\s+at /);
    const bad = await run(['exec', join(dir, 'nowhere')]);
    expect(bad.err).toMatch(/manifest\.json: missing/);
  });
});
