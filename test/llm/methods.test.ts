// Every shipped method (stdlib/methods/*.obt) on a random layer: its training form against an
// independent computation of its formula (here, in TypeScript, on the parameters its init made),
// its exported inference form against its training form (to 1e-5), its gradient by central finite
// differences in f64 for the parameters no straight-through estimator touches, and a 3-step
// obtc quantize run on stories260K whose model file loads and runs. Methods whose scales are per
// block of a row (q1_0: 128, tq2_0: 256) run at rows of 256, and distil a random Llama whose rows
// are 256 (stories260K's 64 and 172 are not whole blocks).
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile, type HostValue } from '../../compiler/api.ts';
import { formatDiagnostic } from '../../runtime/core/errors.ts';
import { fromNested, roundF16, type Tensor } from '../../runtime/core/tensor.ts';
import { randomLlamaFolder } from '../helpers/hf_models.ts';
import { methodCompileOptions, resolveMethod, shippedMethods } from '../../llm/method.ts';
import { main } from '../../cli/main.ts';
import { loadModel } from '../../llm/load.ts';
import { ModelRunner } from '../../llm/runner.ts';
import { centralDiff } from '../helpers/fd.ts';

type M = number[][];
/** methods whose rows must be whole blocks of 128 or 256 */
const BLOCKED = new Set(['q1_0', 'tq2_0']);
const O = 24;
const N = 5;
let s = 11;
const rnd = () => {
  s = (Math.imul(s, 1103515245) + 12345) >>> 0;
  return (s / 2 ** 32) * 2 - 1;
};
const layer = (I: number) => ({
  W: Array.from({ length: O }, () => Array.from({ length: I }, () => rnd() * 0.3)) as M,
  X: Array.from({ length: N }, () => Array.from({ length: I }, () => rnd())) as M,
});
const layer0 = layer(40);
const { W } = layer0;
const WIDE = layer(256);

// ---- the formulas of ../shared/design/methods.md, in plain TypeScript ----
const rows = (t: Tensor): M => {
  const [r, c] = t.shape as [number, number];
  return Array.from({ length: r }, (_, i) => Array.from(t.data.slice(i * c, (i + 1) * c) as ArrayLike<number>));
};
const vec = (t: Tensor): number[] => Array.from(t.data as ArrayLike<number>);
const sgn = (v: number) => Math.sign(v);
const sgn1 = (v: number) => (v >= 0 ? 1 : -1);
const mapM = (a: M, f: (v: number, i: number, j: number) => number): M => a.map((r, i) => r.map((v, j) => f(v, i, j)));
/** x · wᵀ */
const mmT = (x: M, w: M): M => x.map((xr) => w.map((wr) => wr.reduce((acc, v, k) => acc + v * xr[k]!, 0)));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const meanM = (a: M) => mean(a.flat());
const ln0 = (x: M): M =>
  x.map((r) => {
    const mu = mean(r);
    const v = mean(r.map((q) => (q - mu) ** 2));
    return r.map((q) => (q - mu) / Math.sqrt(v + 1e-5));
  });
const rms = (x: M): M => x.map((r) => r.map((q) => q / Math.sqrt(mean(r.map((z) => z * z)) + 1e-5)));
const roundEven = (v: number) => {
  const f = Math.floor(v);
  const d = v - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
};
const q8 = (x: M): M =>
  x.map((r) => {
    const sc = 127 / (Math.max(...r.map(Math.abs)) + 1e-5);
    return r.map((q) => Math.min(Math.max(roundEven(q * sc), -128), 127) / sc);
  });
const softmax = (r: number[]) => {
  const m = Math.max(...r);
  const e = r.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
};
const colScale = (x: M, g: number[]) => mapM(x, (v, _, j) => v * g[j]!);
/** each row's blocks of B scaled by f16(mean |w| of the block), as q1_0 and tq2_0 compute it */
const blockScales = (w: M, B: number): M =>
  w.map((r) =>
    Array.from({ length: r.length / B }, (_, k) => roundF16(mean(r.slice(k * B, (k + 1) * B).map(Math.abs)))),
  );

type L = Record<string, Tensor>;
const REFERENCE: Record<string, (l: L, x: M) => M> = {
  onebit: (l, x) => ln0(colScale(mmT(colScale(x, vec(l.g!)), mapM(rows(l.w!), sgn)), vec(l.h!))),
  onebit_noln: (l, x) => colScale(mmT(colScale(x, vec(l.g!)), mapM(rows(l.w!), sgn)), vec(l.h!)),
  onebit_noln_latw10: (l, x) => colScale(mmT(colScale(x, vec(l.g!)), mapM(rows(l.w!), sgn)), vec(l.h!)),
  ptq_sign: (l, x) => colScale(mmT(x, mapM(rows(l.w!), sgn)), vec(l.a!)),
  arb_rc: (l, x) => colScale(mmT(colScale(x, vec(l.ac!)), mapM(rows(l.w!), sgn)), vec(l.ar!)),
  bitnet: (l, x) => {
    const w = rows(l.w!);
    const mu = meanM(w);
    const beta = mean(w.flat().map(Math.abs));
    return mapM(
      mmT(
        q8(ln0(x)),
        mapM(w, (v) => sgn1(v - mu)),
      ),
      (v) => v * beta,
    );
  },
  bitnet158: (l, x) => {
    const w = rows(l.w!);
    const g = mean(w.flat().map(Math.abs));
    const t = mapM(w, (v) => Math.min(Math.max(roundEven(v / (g + 1e-5)), -1), 1));
    return mapM(mmT(q8(rms(x)), t), (v) => v * g);
  },
  binarymos: (l, x) => {
    const router = rows(l.router!);
    const gin = rows(l.gin!);
    const gout = rows(l.gout!);
    const sw = mapM(rows(l.w!), sgn);
    return x.map((xr) => {
      const r = softmax(router.map((rr) => rr.reduce((a, v, k) => a + v * xr[k]!, 0)));
      const g = xr.map((_, j) => r.reduce((a, re, e) => a + re * gin[e]![j]!, 0));
      const h = sw.map((_, o) => r.reduce((a, re, e) => a + re * gout[e]![o]!, 0));
      return mmT([xr.map((v, j) => v * g[j]!)], sw)[0]!.map((v, o) => v * h[o]!);
    });
  },
  q1_0: (l, x) => {
    const w = rows(l.w!);
    const d = blockScales(w, 128);
    return mmT(
      x,
      mapM(w, (v, o, i) => sgn1(v) * d[o]![Math.floor(i / 128)]!),
    );
  },
  tq2_0: (l, x) => {
    const w = rows(l.w!);
    const d = blockScales(w, 256);
    const t = (v: number, g: number) => Math.min(Math.max(roundEven(v / (g + 1e-8)), -1), 1);
    return mmT(
      x,
      mapM(w, (v, o, i) => {
        const g = d[o]![Math.floor(i / 256)]!;
        return t(v, g) * g;
      }),
    );
  },
  littlebit: (l, x) => {
    const inner = colScale(
      mmT(colScale(x, vec(l.v2!)), mapM(rows(l.v!), sgn)),
      vec(l.v1!).map((v, k) => v * vec(l.u2!)[k]!),
    );
    return colScale(mmT(inner, mapM(rows(l.u!), sgn)), vec(l.u1!));
  },
};

/** Leaves no straight-through estimator touches: their gradient is exact, checked by finite differences. */
const SMOOTH: Record<string, string[]> = {
  onebit: ['g', 'h'],
  onebit_noln: ['g', 'h'],
  onebit_noln_latw10: ['g', 'h'],
  ptq_sign: ['a'],
  arb_rc: ['ac', 'ar'],
  bitnet: [],
  bitnet158: [],
  q1_0: [],
  tq2_0: [],
  binarymos: ['router', 'gin', 'gout'],
  littlebit: ['v1', 'v2', 'u1', 'u2'],
};

const HARNESS = `
import method
pub fn init_of[I, O](w: f32[O, I], seed: i32) = method.init(w, seed)
pub fn train_fwd[Lin, I, O, N](l: Lin[I, O], x: f32[N, I]) -> f32[N, O] = apply(l, x)
pub fn export_fwd[Lin, I, O, N](l: Lin[I, O], x: f32[N, I]) -> f32[N, O] = apply(method.export(l), x)
pub fn loss[Lin, I, O, N](l: Lin[I, O], x: f32[N, I], c: f32[N, O]) -> f32 = sum(apply(l, x) * c)
pub fn loss_grad[Lin, I, O, N](l: Lin[I, O], x: f32[N, I], c: f32[N, O]) = grad(fn(q) { sum(apply(q, x) * c) }, l)
`;

const dir = mkdtempSync(join(tmpdir(), 'obt-methods-'));

it('every shipped method has its reference formula and its list of smooth parameters', () => {
  expect(Object.keys(REFERENCE).sort()).toEqual(shippedMethods());
  expect(Object.keys(SMOOTH).sort()).toEqual(shippedMethods());
});

it("onebit_noln_latw10's latent matrix starts at W rescaled to a mean magnitude of 0.1; g and h are onebit_noln's", () => {
  const run = (name: string) => {
    const m = resolveMethod(name);
    const prog = compile(HARNESS, { path: join(dir, `init-${name}.obt`), ...methodCompileOptions(m) });
    return prog.runSync('init_of', [fromNested(W, 'f32'), fromNested(7, 'i32')]).value as L;
  };
  const a = run('onebit_noln_latw10');
  const b = run('onebit_noln');
  const w = W.flat();
  const k = 0.1 / mean(w.map(Math.abs));
  w.forEach((v, i) => expect(a.w!.data[i] as number).toBeCloseTo(v * k, 6));
  expect(Array.from(a.g!.data)).toEqual(Array.from(b.g!.data));
  expect(Array.from(a.h!.data)).toEqual(Array.from(b.h!.data));
});

describe.each(shippedMethods())('%s', (name) => {
  const { W, X } = BLOCKED.has(name) ? WIDE : { W: layer0.W, X: layer0.X };
  const m = resolveMethod(name);
  const prog = compile(HARNESS, { path: join(dir, 'harness.obt'), ...methodCompileOptions(m) });
  const types = { Lin: `method.${m.train}` };
  const init = () => prog.runSync('init_of', [fromNested(W, 'f32'), fromNested(7, 'i32')]).value as L;

  it('compiles against the contract', () => {
    expect(prog.diagnostics.map(formatDiagnostic)).toEqual([]);
  });

  it('training form = the formula computed independently; exported form = training form (1e-5)', () => {
    const l = init();
    const x = fromNested(X, 'f32');
    const train = prog.runSync('train_fwd', [l as HostValue, x], { types }).value as Tensor;
    const exported = prog.runSync('export_fwd', [l as HostValue, x], { types, device: { kind: 'wasm' } })
      .value as Tensor;
    const want = REFERENCE[name]!(l, X).flat();
    const scale = Math.max(1, ...want.map(Math.abs));
    want.forEach((v, i) => {
      expect(Math.abs((train.data[i] as number) - v), `train[${i}]`).toBeLessThan(2e-5 * scale);
      expect(Math.abs((exported.data[i] as number) - (train.data[i] as number)), `export[${i}]`).toBeLessThan(
        1e-5 * scale,
      );
    });
  });

  // (bitnet and bitnet158 have none: every parameter goes through an estimator)
  if (SMOOTH[name]!.length)
    it('gradient of the smooth parameters = central differences (f64)', () => {
      const l64 = Object.fromEntries(
        Object.entries(init()).map(([k, t]) => [k, { ...t, data: Float64Array.from(t.data as ArrayLike<number>) }]),
      ) as L;
      const x = { ...fromNested(X, 'f32'), data: Float64Array.from(X.flat()) };
      const c = { dtype: 'f32' as const, shape: [N, O], data: Float64Array.from({ length: N * O }, () => rnd()) };
      const args = [l64 as HostValue, x as Tensor, c as Tensor];
      const g = prog.runSync('loss_grad', args, { types, f64: true }).value as L;
      const loss = () => (prog.runSync('loss', args, { types, f64: true }).value as Tensor).data[0] as number;
      for (const leaf of SMOOTH[name]!)
        for (let n = 0; n < 3; n++) {
          const i = Math.floor(((rnd() + 1) / 2) * l64[leaf]!.data.length);
          const want = centralDiff(loss, l64[leaf]!, i);
          expect(g[leaf]!.data[i] as number, `${leaf}[${i}]`).toBeCloseTo(want, 5);
        }
    });

  it('obtc quantize runs 3 distillation steps and the model file runs', async () => {
    const out = join(dir, `${name}.obtm`);
    let err = '';
    const io = { out: () => {}, err: (t: string) => (err += t) };
    const argv = ['quantize', '--method', name, '--steps', '3', '--batch', '1', '--seq', '16', '--no-eval'];
    if (BLOCKED.has(name)) argv.push('--weights', randomLlamaFolder(join(dir, `teacher-${name}`)));
    expect(await main([...argv, '--out', out], io), err).toBe(0);
    const model = await loadModel(out);
    expect(model.layer).toBe(`method.${m.infer}`);
    const logits = await ModelRunner.fromFile(model, { kind: 'wasm' }).logits([1, 403, 407]);
    expect(logits.every(Number.isFinite)).toBe(true);
  }, 120_000);
});
