// `obtc run` of stdlib functions checked against independent computations written here in plain
// TypeScript (f64), to 1e-5. The obt side runs through the CLI entry point.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';
import { mulberry32 } from '../../runtime/core/rng.ts';

const root = join(import.meta.dirname, '../..');
const prog = join(root, 'test/language/programs/ops.obt');

async function obtRun(entry: string, ...args: unknown[]): Promise<unknown> {
  let out = '';
  let err = '';
  const rc = await main(['run', prog, '--entry', entry, ...args.map((a) => JSON.stringify(a))], {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
  });
  expect(err).toBe('');
  expect(rc).toBe(0);
  return JSON.parse(out);
}

const r = mulberry32(42);
const rand = (...shape: number[]): unknown =>
  shape.length === 0
    ? Math.round((r() * 2 - 1) * 1000) / 1000
    : Array.from({ length: shape[0]! }, () => rand(...shape.slice(1)));
const pm1 = (o: number, i: number): number[][] =>
  Array.from({ length: o }, () => Array.from({ length: i }, () => (r() < 0.5 ? -1 : 1)));

function expectClose(got: unknown, want: unknown, tol = 1e-5, path = ''): void {
  if (Array.isArray(want)) {
    expect(Array.isArray(got), path).toBe(true);
    expect((got as unknown[]).length, path).toBe(want.length);
    want.forEach((w, i) => expectClose((got as unknown[])[i], w, tol, `${path}[${i}]`));
    return;
  }
  const g = got as number;
  const w = want as number;
  if (Math.abs(g - w) > tol * Math.max(1, Math.abs(w))) expect.fail(`${path}: got ${g}, want ${w}`);
}

const M = (a: number[][], f: (x: number, i: number, j: number) => number) =>
  a.map((row, i) => row.map((x, j) => f(x, i, j)));

describe('stdlib against independent computations', () => {
  it('rmsnorm', async () => {
    const x = rand(3, 8) as number[][];
    const w = rand(8) as number[];
    const want = x.map((row) => {
      const ms = row.reduce((s, v) => s + v * v, 0) / row.length;
      return row.map((v, j) => (v / Math.sqrt(ms + 1e-5)) * w[j]!);
    });
    expectClose(await obtRun('t_rmsnorm', x, w), want);
  });

  it('layernorm without affine', async () => {
    const x = rand(2, 6) as number[][];
    const want = x.map((row) => {
      const mu = row.reduce((s, v) => s + v, 0) / row.length;
      const va = row.reduce((s, v) => s + (v - mu) ** 2, 0) / row.length;
      return row.map((v) => (v - mu) / Math.sqrt(va + 1e-5));
    });
    expectClose(await obtRun('t_layernorm0', x), want);
  });

  it('softmax', async () => {
    const x = rand(2, 5) as number[][];
    const want = x.map((row) => {
      const e = row.map(Math.exp);
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    });
    expectClose(await obtRun('t_softmax', x), want);
  });

  it('attention with grouped KV heads and a causal mask', async () => {
    const [T, H, KV, Dh] = [4, 4, 2, 2];
    const q = rand(T, H, Dh) as number[][][];
    const k = rand(T, KV, Dh) as number[][][];
    const v = rand(T, KV, Dh) as number[][][];
    const want = q.map((qt, t) =>
      qt.map((qh, h) => {
        const kvh = Math.floor(h / (H / KV)); // llama2.c: h / kv_mul
        const scores = Array.from(
          { length: t + 1 },
          (_, s) => qh.reduce((acc, x, d) => acc + x * k[s]![kvh]![d]!, 0) / Math.sqrt(Dh),
        );
        const m = Math.max(...scores);
        const e = scores.map((x) => Math.exp(x - m));
        const z = e.reduce((a, b) => a + b, 0);
        return Array.from({ length: Dh }, (_, d) => e.reduce((acc, p, s) => acc + (p / z) * v[s]![kvh]![d]!, 0));
      }),
    );
    expectClose(await obtRun('t_attention', q, k, v), want);
  });

  it('rope on adjacent pairs (llama2.c convention)', async () => {
    const x = rand(3, 2, 4) as number[][][];
    const pos = [0, 5, 17];
    const want = x.map((xt, t) =>
      xt.map((xh) => {
        const out = xh.slice();
        for (let i = 0; i < 4; i += 2) {
          const freq = 1 / Math.pow(10000, i / 4);
          const a = pos[t]! * freq;
          out[i] = xh[i]! * Math.cos(a) - xh[i + 1]! * Math.sin(a);
          out[i + 1] = xh[i]! * Math.sin(a) + xh[i + 1]! * Math.cos(a);
        }
        return out;
      }),
    );
    expectClose(await obtRun('t_rope', x, pos), want);
  });

  it('signlinear on signs packed from a random ±1 matrix (40 columns: two words)', async () => {
    const x = rand(3, 40) as number[][];
    const w = pm1(5, 40);
    const g = rand(40) as number[];
    const h = rand(5) as number[];
    const want = x.map((row) => w.map((wr, o) => wr.reduce((acc, s, i) => acc + row[i]! * g[i]! * s, 0) * h[o]!));
    expectClose(await obtRun('t_signlinear', x, w, g, h), want);
  });

  it('the packed OneBit layer: LayerNorm(((x ⊙ g) Sᵀ) ⊙ h)', async () => {
    const x = rand(2, 40) as number[][];
    const w = M(rand(5, 40) as number[][], (v) => v);
    const g = rand(40) as number[];
    const h = rand(5) as number[];
    const want = x.map((row) => {
      const y = w.map((wr, o) => wr.reduce((acc, wv, i) => acc + row[i]! * g[i]! * (wv < 0 ? -1 : 1), 0) * h[o]!);
      const mu = y.reduce((a, b) => a + b, 0) / y.length;
      const va = y.reduce((a, b) => a + (b - mu) ** 2, 0) / y.length;
      return y.map((v) => (v - mu) / Math.sqrt(va + 1e-5));
    });
    expectClose(await obtRun('t_onebit', x, w, g, h), want, 1e-4);
  });

  it('svid: sign(W) and the rank-1 factor of |W| (checked by Jacobi eigen-decomposition)', async () => {
    const w = rand(6, 5) as number[][];
    const m = M(w, Math.abs);
    // top eigenvector of MᵀM by cyclic Jacobi rotations (a different method from power iteration)
    const n = 5;
    const A = Array.from({ length: n }, (_, i) =>
      Array.from({ length: n }, (_, j) => m.reduce((s, row) => s + row[i]! * row[j]!, 0)),
    );
    const V: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
    for (let sweep = 0; sweep < 100; sweep++)
      for (let p = 0; p < n; p++)
        for (let q = p + 1; q < n; q++) {
          if (Math.abs(A[p]![q]!) < 1e-15) continue;
          const th = 0.5 * Math.atan2(2 * A[p]![q]!, A[q]![q]! - A[p]![p]!);
          const c = Math.cos(th);
          const s = Math.sin(th);
          for (let k = 0; k < n; k++) {
            const akp = A[k]![p]!;
            const akq = A[k]![q]!;
            A[k]![p] = c * akp - s * akq;
            A[k]![q] = s * akp + c * akq;
          }
          for (let k = 0; k < n; k++) {
            const apk = A[p]![k]!;
            const aqk = A[q]![k]!;
            A[p]![k] = c * apk - s * aqk;
            A[q]![k] = s * apk + c * aqk;
          }
          for (let k = 0; k < n; k++) {
            const vkp = V[k]![p]!;
            const vkq = V[k]![q]!;
            V[k]![p] = c * vkp - s * vkq;
            V[k]![q] = s * vkp + c * vkq;
          }
        }
    const top = [...Array(n).keys()].reduce((bi, i) => (A[i]![i]! > A[bi]![bi]! ? i : bi), 0);
    let b = V.map((row) => row[top]!);
    if (b.reduce((s, x) => s + x, 0) < 0) b = b.map((x) => -x);
    const a = m.map((row) => row.reduce((s, x, j) => s + x * b[j]!, 0));
    const [lw, lg, lh] = (await obtRun('t_svid', w)) as [number[][], number[], number[]];
    expectClose(
      lw,
      M(w, (x) => 0.01 * Math.sign(x)),
    );
    expectClose(lg, b);
    expectClose(lh, a);
  });

  it('kd_loss: KL(teacher ‖ student) (per-token mean, or the reference 0.01 × sum) plus alpha × MSE of L2-normalised hidden states', async () => {
    const sl = rand(3, 4) as number[][];
    const tl = rand(3, 4) as number[][];
    const sh = rand(2, 3, 5) as number[][][];
    const th = rand(2, 3, 5) as number[][][];
    const lsm = (row: number[]) => {
      const m = Math.max(...row);
      const z = Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0)) + m;
      return row.map((x) => x - z);
    };
    const klTok = sl.map((row, t) => lsm(tl[t]!).reduce((s, lp, v) => s + Math.exp(lp) * (lp - lsm(row)[v]!), 0));
    const kl = klTok.reduce((a, b) => a + b, 0) / 3;
    const norm = (h: number[]) => {
      const n = Math.sqrt(h.reduce((s, x) => s + x * x, 0) + 1e-12);
      return h.map((x) => x / n);
    };
    let mse = 0;
    for (let l = 0; l < 2; l++) {
      let acc = 0;
      for (let t = 0; t < 3; t++) {
        const a = norm(th[l]![t]!);
        const b = norm(sh[l]![t]!);
        acc += a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0);
      }
      mse += acc / 3;
    }
    expectClose(await obtRun('t_kd', sl, tl, sh, th), kl + 0.5 * mse);
    expectClose(await obtRun('t_kd_ref', sl, tl, sh, th), 0.01 * klTok.reduce((a, b) => a + b, 0) + 0.5 * mse);
  });

  it('the obtc binary runs from the repo root and prints JSON', () => {
    const out = execFileSync(
      process.execPath,
      [join(root, 'bin/obtc.js'), 'run', prog, '--entry', 't_softmax', '[[0,0,0,0,0],[1,1,1,1,1]]'],
      { encoding: 'utf8' },
    );
    expectClose(JSON.parse(out), [Array(5).fill(0.2), Array(5).fill(0.2)]);
  });

  it('OBT_DEBUG prints each named pass of the pipeline on stderr, and only those', () => {
    const r = spawnSync(
      process.execPath,
      [join(root, 'bin/obtc.js'), 'run', prog, '--entry', 't_softmax', '[[0,0,0,0,0],[1,1,1,1,1]]'],
      {
        encoding: 'utf8',
        env: { ...process.env, OBT_DEBUG: 'core,plan,wat' },
      },
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/\/\/ OBT_DEBUG core: t_softmax, \d+ equations/);
    expect(r.stderr).toMatch(/\/\/ OBT_DEBUG plan: \d+ kernels[\s\S]*\n {2}run k0/);
    expect(r.stderr).toMatch(/\/\/ OBT_DEBUG wat: [\s\S]*\(func \$kernel/);
    expect(r.stderr).not.toMatch(/OBT_DEBUG kir/);
    expectClose(JSON.parse(r.stdout), [Array(5).fill(0.2), Array(5).fill(0.2)]);
  });
});
