// The Wasm backend: the first half of the fuzzer (test/properties/backend_fuzz.ts; the second in
// backend_b.test.ts) and its templates on shapes the random programs do not reach — register
// blocks with leftovers, k chunks, L1/L2-sized chunks, batches, bool epilogues, signlinear tails
// and non-finite inputs — fused and unfused against the reference interpreter.
import { describe, expect, it } from 'vitest';
import { closeNormwise } from '../helpers/close.ts';
import { compile } from '../../compiler/api.ts';
import { backendFuzz, rand } from './backend_fuzz.ts';

backendFuzz(1);

describe('wasm templates on shapes the random programs do not reach', () => {
  // register blocks (2×4) with leftover rows of A and B, k chunks of 1024 with a k tail, chunks of A
  // sized for L1 and for L2, batches,
  // bool-valued epilogues (raw products in scratch), and signlinear with tile and word tails
  const src = `
fn mm[B, M, N, K](a: f32[B, M, K], b: f32[B, N, K], c: f32[B, M, N]) -> f32[B, M, N] = tanh(einsum("bmk,bnk->bmn", a, b) + c)
fn pos[M, N, K](a: f32[M, K], b: f32[N, K]) -> bool[M, N] = a @ transpose(b) > 0.0
fn sl[M, O, I](x: f32[M, I], w: f32[O, I], g: f32[I], h: f32[O]) -> f32[M, O] = signlinear(x, pack_sign(w), g, h) + 1.0
fn bsl[M, O, I, K](x: f32[M, I], w: f32[O, I], d: f32[O, K]) -> f32[M, O] = blocksignlinear(x, pack_sign(w), d) * 2.0
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
    // blocks of 32 (tiles of 4 groups), 128 (Q1_0) and 256 (TQ*), 9 outputs (a tail of the 4-aligned split)
    [
      'bsl',
      [
        [2, 96],
        [9, 96],
        [9, 3],
      ],
    ],
    [
      'bsl',
      [
        [1, 512],
        [9, 512],
        [9, 4],
      ],
    ],
    [
      'bsl',
      [
        [3, 768],
        [5, 768],
        [5, 3],
      ],
    ],
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
      const ref = prog.runSync(entry, args).tensors;
      for (const noFusion of [false, true]) {
        const got = prog.runSync(entry, args, { device: { kind: 'wasm' }, noFusion }).tensors;
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
      const ref = prog.runSync('sl', args).tensors[0]!;
      if (!Number.isFinite(bad)) expect(ref.data.some((v) => !Number.isFinite(v))).toBe(true);
      const got = prog.runSync('sl', args, { device: { kind: 'wasm' } }).tensors[0]!;
      const m = closeNormwise(got, ref, 1e-5);
      if (m) expect.fail(`x[${at}] = ${bad}: ${m}`);
    }
  });
});
