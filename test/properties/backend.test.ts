// fast-check property of the Wasm backend: on random programs (elementwise chains, broadcasts of
// reductions, transposes, matmuls, signlinear, gathers) over random shapes — size-1 dims and sizes
// not divisible by 4 or 32 included — the fused kernels, the unfused kernels (one per equation),
// the fused kernels under a limit of 4 input buffers per kernel (split as WebGPU needs) and the
// reference interpreter agree within 1e-5 of the result's largest magnitude (normwise).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { closeNormwise } from '../helpers/close.ts';
import { compileWasm } from '../../compiler/pipeline.ts';
import { compile } from '../../compiler/api.ts';
import { alloc, type Tensor } from '../../runtime/core/tensor.ts';
import { mulberry32 } from '../../runtime/core/rng.ts';
import { RUNS, timeoutFor } from './fuzz.ts';

// each case compiles one to two Wasm programs (binaryen optimizing each new kernel, ~3 ms): half
// of a format's count
const runs = Math.max(40, Math.floor(RUNS / 2));
const DIMS = [1, 2, 3, 4, 5, 7, 8, 9, 33];

type Gen = (depth: number) => fc.Arbitrary<string>;
/** expressions of shape [A, B] over x, y: f32[A, B] */
const expr: Gen = (depth) => {
  const leaf = fc.constantFrom('x', 'y', '(x * 0.5)', '(y + 1.5)');
  if (depth <= 0) return leaf;
  const sub = expr(depth - 1);
  return fc.oneof(
    { weight: 2, arbitrary: leaf },
    fc
      .tuple(fc.constantFrom('exp', 'tanh', 'abs', 'sigmoid', 'silu', 'neg'), sub)
      .map(([f, a]) => (f === 'neg' ? `(-${a})` : f === 'exp' ? `exp(${a} * 0.25)` : `${f}(${a})`)),
    fc.tuple(sub, fc.constantFrom('+', '-', '*'), sub).map(([a, op, b]) => `(${a} ${op} ${b})`),
    fc.tuple(sub, sub).map(([a, b]) => `max(${a}, ${b})`),
    fc.tuple(sub, sub, sub).map(([c, a, b]) => `where(${c} > 0.0, ${a}, ${b})`),
    sub.map((a) => `(${a} - max(${a}, axis: -1, keep: true))`),
    sub.map((a) => `(${a} * rsqrt(mean(${a} * ${a}, axis: -1, keep: true) + 1e-5))`),
    sub.map((a) => `(${a} + sum(${a}, axis: 0, keep: true))`),
    sub.map((a) => `softmax(${a}, axis: -1)`),
  );
};

const program = fc.record({
  body: expr(3),
  tail: fc.constantFrom('id', 'sum0', 'sum1', 'max1', 'matmul', 'tmatmul', 'signlinear', 'gather', 'argmax'),
  A: fc.constantFrom(...DIMS),
  B: fc.constantFrom(...DIMS),
  seed: fc.nat(),
});

function source(p: { body: string; tail: string }): string {
  const result: Record<string, [string, string]> = {
    id: ['f32[A, B]', 'e'],
    sum0: ['f32[B]', 'sum(e, axis: 0)'],
    sum1: ['f32[A]', 'sum(e, axis: 1)'],
    max1: ['f32[A]', 'max(e, axis: -1)'],
    matmul: ['f32[A, A]', 'e @ transpose(y)'],
    tmatmul: ['f32[B, B]', 'transpose(e) @ x'],
    signlinear: ['f32[A, A]', 'signlinear(e, pack_sign(y), x[0], sum(x, axis: 1))'],
    gather: ['f32[3, B]', 'e[idx]'],
    argmax: ['i32[A]', 'argmax(e, axis: -1)'],
  };
  const [ty, ret] = result[p.tail]!;
  return `import nn\nfn f[A, B](x: f32[A, B], y: f32[A, B], idx: i32[3]) -> ${ty} {\n  let e = ${p.body}\n  ${ret}\n}\n`;
}

function rand(shape: number[], seed: number): Tensor {
  const t = alloc('f32', shape);
  const r = mulberry32(seed);
  for (let i = 0; i < t.data.length; i++) t.data[i] = Math.round((r() * 4 - 2) * 64) / 64;
  return t;
}

describe('wasm backend: fused ≡ unfused ≡ reference', () => {
  it(
    'on random programs and shapes',
    () => {
      const t0 = performance.now();
      let cases = 0;
      fc.assert(
        fc.property(program, (p) => {
          cases++;
          const src = source(p);
          const prog = compile(src, { path: 'prop.obt' });
          expect(
            prog.diagnostics.map((d) => d.message),
            src,
          ).toEqual([]);
          const idx = alloc('i32', [3]);
          idx.data.set([p.A - 1, 0, p.A + 5]);
          const args = [rand([p.A, p.B], p.seed), rand([p.A, p.B], p.seed + 1), idx];
          const ref = prog.run('f', args).tensors[0]!;
          // every case fused; a quarter of them unfused too and a quarter split (each another
          // Wasm compile, the cost of a case)
          const variant = cases % 4;
          for (const noFusion of variant === 1 ? [false, true] : [false]) {
            const got = prog.run('f', args, { backend: 'wasm', noFusion }).tensors[0]!;
            // normwise: f32 accumulation (wasm) vs f64 (reference) differs by cancellation in long sums
            const m = closeNormwise(got, ref, 1e-5);
            if (m) expect.fail(`${noFusion ? 'unfused' : 'fused'} ${m}\n${src}A=${p.A} B=${p.B}`);
          }
          if (variant !== 3) return;
          // fused under a binding limit (WebGPU's maxStorageBuffersPerShaderStage): kernels split
          const low = prog.lower('f', prog.argTypes(prog.entry('f'), args).types);
          const split = compileWasm(low.func, { maxInputs: 4 }).run(args)[0]!;
          const m = closeNormwise(split, ref, 1e-5);
          if (m) expect.fail(`fused with at most 4 inputs per kernel: ${m}\n${src}A=${p.A} B=${p.B}`);
        }),
        { numRuns: runs },
      );
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      console.log(`fuzz backend (wasm fused, unfused, split ≡ interpreter): ${cases} cases, 0 mismatches, ${s} s`);
    },
    timeoutFor(runs, 1000),
  );
});

describe('wasm templates on shapes the random programs do not reach', () => {
  // register blocks (2×4) with leftover rows of A and B, k chunks of 1024 with a k tail, chunks of A
  // sized for L1 and for L2, batches,
  // bool-valued epilogues (raw products in scratch), and signlinear with tile and word tails
  const src = `
fn mm[B, M, N, K](a: f32[B, M, K], b: f32[B, N, K], c: f32[B, M, N]) -> f32[B, M, N] = tanh(einsum("bmk,bnk->bmn", a, b) + c)
fn pos[M, N, K](a: f32[M, K], b: f32[N, K]) -> bool[M, N] = a @ transpose(b) > 0.0
fn sl[M, O, I](x: f32[M, I], w: f32[O, I], g: f32[I], h: f32[O]) -> f32[M, O] = signlinear(x, pack_sign(w), g, h) + 1.0
fn rows[A, C](x: f32[A, C]) -> (f32[A], f32[A]) = (sum(x * x, axis: -1), max(x - 0.5, axis: -1))
fn cols[A, B, C](x: f32[A, B, C], y: f32[A, B, C]) -> (f32[A, C], f32[A, C]) = (sum(x * y, axis: 1) + 1.0, max(x - y, axis: 1))
`;
  const prog = compile(src, { path: 'templates.obt' });
  const cases: [string, number[][]][] = [
    [
      'mm',
      [
        [2, 5, 1030],
        [2, 7, 1030],
        [2, 5, 7],
      ],
    ],
    [
      'mm',
      [
        [1, 3, 2051],
        [1, 9, 2051],
        [1, 3, 9],
      ],
    ],
    [
      'mm',
      [
        [1, 1, 4097],
        [1, 6, 4097],
        [1, 1, 6],
      ],
    ],
    // B's k-chunk over 1 MB: chunks of A sized for L2 (62 rows here), two full, one partial, a row left
    [
      'mm',
      [
        [1, 131, 1030],
        [1, 261, 1030],
        [1, 131, 261],
      ],
    ],
    // more rows of A than of B: the rows-of-A form (odd rows, a tail of B's rows, k chunks)
    [
      'pos',
      [
        [37, 1027],
        [6, 1027],
      ],
    ],
    [
      'pos',
      [
        [5, 1027],
        [6, 1027],
      ],
    ],
    ['sl', [[3, 130], [7, 130], [130], [7]]],
    // reductions along the last axis: 16 per iteration, then 4, then the scalar tail
    ['rows', [[3, 37]]],
    ['rows', [[2, 16]]],
    // reductions over rows: blocks of 16 columns, then vectors of 4, then the scalar tail
    [
      'cols',
      [
        [3, 7, 37],
        [3, 7, 37],
      ],
    ],
    [
      'cols',
      [
        [1, 300, 64],
        [1, 300, 64],
      ],
    ],
    ['sl', [[2, 4100], [5, 4100], [4100], [5]]],
    ['sl', [[1, 33], [3, 33], [33], [3]]],
  ];
  for (const [entry, shapes] of cases)
    it(`${entry} ${shapes.map((s) => s.join('×')).join(', ')}`, () => {
      expect(prog.diagnostics.map((d) => d.message)).toEqual([]);
      const args = shapes.map((s, i) => rand(s, 100 + i));
      const ref = prog.run(entry, args).tensors;
      for (const noFusion of [false, true]) {
        const got = prog.run(entry, args, { backend: 'wasm', noFusion }).tensors;
        ref.forEach((r, i) => {
          const m = closeNormwise(got[i]!, r, 1e-5);
          if (m) expect.fail(`${noFusion ? 'unfused' : 'fused'} output ${i}: ${m}`);
        });
      }
    });

  // found by the fuzzer (exp overflowing into signlinear): the lut method's table S − 2·xg made
  // ∞ − ∞ = NaN where the signed sum is ±∞; infinities must give what the reference gives
  it('sl with infinite and NaN inputs', () => {
    for (const [bad, at] of [
      [Infinity, 5],
      [-Infinity, 40],
      [NaN, 7],
      [1.5e38, 1], // finite, but 2·xg overflows
    ] as const) {
      const args = [rand([2, 70], 7), rand([5, 70], 8), rand([70], 9), rand([5], 10)];
      args[0]!.data[at] = bad;
      args[0]!.data[70 + 64] = bad; // the second row, in its last, partial group of 8
      const ref = prog.run('sl', args).tensors[0]!;
      if (!Number.isFinite(bad)) expect(ref.data.some((v) => !Number.isFinite(v))).toBe(true);
      const got = prog.run('sl', args, { backend: 'wasm' }).tensors[0]!;
      const m = closeNormwise(got, ref, 1e-5);
      if (m) expect.fail(`x[${at}] = ${bad}: ${m}`);
    }
  });
});
