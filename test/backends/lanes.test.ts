// Lane patterns of index nodes along the vector axis (compiler/backends/wasm/emit/lanes.ts): a fast-check
// property that every claim (lane offsets, alignment, range) holds on random index expressions by
// evaluating them at every 4-aligned vector start; then the kernels that use them (RoPE forward
// and backward, strided pads and interleaving stacks, integer index math) against the reference
// interpreter on shapes with odd tails, fused and unfused.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KGraph, type KNode } from '../../compiler/kir/ir.ts';
import { lanePattern } from '../../compiler/backends/wasm/emit/lanes.ts';
import { compile } from '../../compiler/api.ts';
import { alloc, type Tensor } from '../../runtime/core/tensor.ts';
import { closeNormwise } from '../helpers/close.ts';

/** i32 semantics of the index ops (as the Wasm scalar code: truncating div, JS-style rem) */
function evalI(n: KNode, at: number[], loads: (v: number) => number): number {
  const e = (x: KNode) => evalI(x, at, loads);
  switch (n.op) {
    case 'const':
      return n.value | 0;
    case 'idx':
      return at[n.axis]!;
    case 'load':
      return loads(e(n.at));
    case 'cvt':
      return e(n.a);
    case 'bin': {
      const [a, b] = [e(n.a), e(n.b)];
      switch (n.f) {
        case 'add':
          return (a + b) | 0;
        case 'sub':
          return (a - b) | 0;
        case 'mul':
          return Math.imul(a, b);
        case 'div':
          return b === 0 ? 0 : (a / b) | 0;
        case 'rem':
          return b === 0 ? 0 : (a % b) | 0;
        case 'shl':
          return b >= 32 || b < 0 ? 0 : a << b;
        case 'shr':
          return a >> Math.min(b, 31);
        case 'and':
          return a & b;
        default:
          throw new Error(`no ${n.f}`);
      }
    }
    default:
      throw new Error(`no ${n.op}`);
  }
}

type Expr = { k: 'idx'; axis: number } | { k: 'const'; v: number } | { k: 'load' } | { k: string; a: Expr; b: Expr };
// mostly the index arithmetic views produce (the vector axis times constants, plus other axes,
// divided and reduced by small constants), with some subtraction, loads and odd constants
const small = fc.record({ k: fc.constant('const' as const), v: fc.constantFrom(1, 2, 3, 4, 8, 7, 16) });
const leaf = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant('idx' as const), axis: fc.constant(1) }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('idx' as const), axis: fc.constant(0) }), weight: 2 },
  { arbitrary: small, weight: 2 },
  {
    arbitrary: fc.record({ k: fc.constant('const' as const), v: fc.constantFrom(-3, 0, 5, 64, 1 << 20, -(1 << 30)) }),
    weight: 1,
  },
  { arbitrary: fc.record({ k: fc.constant('load' as const) }), weight: 1 },
);
const expr: fc.Arbitrary<Expr> = fc.letrec<{ e: Expr }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { arbitrary: leaf, weight: 2 },
    { arbitrary: fc.record({ k: fc.constantFrom('add', 'mul', 'sub'), a: tie('e'), b: tie('e') }), weight: 3 },
    {
      arbitrary: fc.record({ k: fc.constantFrom('div', 'rem', 'shr', 'and', 'shl', 'mul'), a: tie('e'), b: small }),
      weight: 3,
    },
  ),
})).e;

const hasDivision = (n: KNode): boolean =>
  n.op === 'bin'
    ? ['div', 'rem', 'shr', 'and'].includes(n.f) || hasDivision(n.a) || hasDivision(n.b)
    : n.op === 'cvt' && hasDivision(n.a);

function build(g: KGraph, e: Expr): KNode {
  if (e.k === 'idx') return g.idx((e as { axis: number }).axis);
  if (e.k === 'const') return g.const((e as { v: number }).v, 'i32');
  // a load of an index array at the other axis: any value, the same in every lane
  if (e.k === 'load') return g.load(0, g.idx(0), 'i32');
  const b = e as { k: string; a: Expr; b: Expr };
  return g.bin(b.k as 'add', build(g, b.a), build(g, b.b));
}

/** checks every claim of n's pattern (if any) by evaluating it at every 4-aligned vector start */
function check(n: KNode, E: number[], seed = 0): boolean {
  const p = lanePattern(n, 1, (a) => E[a]);
  if (!p) return false;
  const loads = (v: number) => (Math.imul(v + seed, 2654435761) >> 7) | 0;
  for (let i = 0; i < E[0]!; i++)
    for (let d0 = 0; d0 + 4 <= E[1]!; d0 += 4) {
      const v = [0, 1, 2, 3].map((l) => evalI(n, [i, d0 + l], loads));
      for (let l = 0; l < 4; l++) {
        expect((v[l]! - v[0]!) | 0, `lane ${l} offset at d0 ${d0}`).toBe((p.c[l]! - p.c[0]!) | 0);
        if (p.lo > -Infinity) expect(v[l]!).toBeGreaterThanOrEqual(p.lo);
        if (p.hi < Infinity) expect(v[l]!).toBeLessThanOrEqual(p.hi);
        if (p.align === Infinity) expect(v[l]).toBe(p.c[l]! | 0);
        else if (p.lo > -Infinity) expect(((v[l]! - p.c[l]!) % p.align) + 0).toBe(0);
      }
    }
  return !p.c.every((x) => x === p.c[0]);
}

describe('lane patterns', () => {
  it('every claim holds at every 4-aligned start of the vector axis', () => {
    const E = [3, 12];
    let divided = 0;
    fc.assert(
      fc.property(expr, fc.integer({ min: -50, max: 50 }), (e, seed) => {
        const g = new KGraph(E);
        const n = build(g, e);
        if (check(n, E, seed) && hasDivision(n)) divided++;
      }),
      { numRuns: 3000 },
    );
    // the property exercised the interesting claims: lanes that differ after a division or remainder
    expect(divided).toBeGreaterThan(100);
  });

  it('holds at the edges of its division rules', () => {
    const E = [3, 16];
    const g = new KGraph(E);
    const [i, d] = [g.idx(0), g.idx(1)];
    const k = (v: number) => g.const(v, 'i32');
    const cases: [KNode, boolean][] = [
      // [node, whether its lanes should still be known to differ]
      [g.bin('div', g.bin('add', d, k(1)), k(8)), false],
      [g.bin('div', g.bin('add', d, k(4)), k(8)), false],
      [g.bin('div', g.bin('add', d, k(3)), k(4)), true],
      [g.bin('rem', g.bin('add', d, k(1)), k(8)), false], // d0 = 4: 5, 6, 7, 0
      [g.bin('rem', g.bin('add', d, k(4)), k(8)), false],
      [g.bin('div', g.bin('add', g.bin('mul', d, k(2)), k(1)), k(4)), true],
      [g.bin('rem', g.bin('mul', d, k(3)), k(4)), true],
      [g.bin('div', g.bin('add', d, g.bin('mul', i, k(6))), k(2)), true],
      [g.bin('div', g.bin('sub', d, k(1)), k(2)), false],
      [g.bin('shr', d, k(1)), true],
      [g.bin('and', d, k(3)), true],
    ];
    for (const [j, [n, differs]] of cases.entries()) {
      const p = lanePattern(n, 1, (a) => E[a]);
      if (p) check(n, E);
      expect(!!p && !p.c.every((x) => x === p.c[0]), `case ${j}`).toBe(differs);
    }
  });

  it('sees through RoPE’s pair index and parity', () => {
    const g = new KGraph([5, 8]);
    const d = g.idx(1);
    const flat = g.bin('add', g.bin('mul', g.idx(0), g.const(8, 'i32')), d);
    const two = g.const(2, 'i32');
    const pair = g.bin('mul', g.bin('rem', g.bin('div', flat, two), g.const(4, 'i32')), two);
    expect(lanePattern(pair, 1, (a) => [5, 8][a])?.c).toEqual([0, 0, 2, 2]);
    expect(lanePattern(g.bin('rem', flat, two), 1, (a) => [5, 8][a])).toMatchObject({
      c: [0, 1, 0, 1],
      align: Infinity,
    });
  });
});

const rand = (shape: number[], seed: number): Tensor => {
  const t = alloc('f32', shape);
  let s = seed;
  for (let i = 0; i < t.data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) | 0;
    t.data[i] = ((s >>> 8) / (1 << 24)) * 2 - 1;
  }
  return t;
};
const ints = (n: number, f: (i: number) => number): Tensor => {
  const t = alloc('i32', [n]);
  for (let i = 0; i < n; i++) t.data[i] = f(i);
  return t;
};

describe('kernels with patterned indices match the interpreter', () => {
  const src = `import nn
fn ropef[T, H, Dh](x: f32[T, H, Dh], pos: i32[T]) -> f32[T, H, Dh] = rope(x, pos)
fn ropeg[T, H, Dh](x: f32[T, H, Dh], pos: i32[T], w: f32[T, H, Dh]) = grad(fn(x) { sum(rope(x, pos) * w) }, x)
fn inter[N](a: f32[N], b: f32[N]) -> f32[N * 2] = reshape(stack([a, b * 2.0], axis: -1), [N * 2])
fn evens[N](x: f32[N, 18]) -> f32[N, 9] = reshape(x, [N, 9, 2])[..., 0] - reshape(x, [N, 9, 2])[..., 1] * 3.0
fn idxmath[N](x: f32[N]) -> f32[N] = x * f32((iota(N) / 3) % 4 + (iota(N) % 2) * 7 + iota(N) / 4 - iota(N) % 3)
fn slicesum[N](v: f32[N], w: f32[8, 3, 20]) -> f32[8, 3] = sum(reshape(reshape(v[100:580], [8, 3, 5, 4]), [8, 3, 20]) * w, axis: -1)
fn spread[N](x: f32[N * 4], y: f32[N]) -> f32[N * 4] = x + reshape(broadcast(reshape(y, [N, 1]), [N, 4]), [N * 4])
`;
  const prog = compile(src, { path: 'lanes.obt' });
  const cases: [string, Tensor[]][] = [
    ['ropef', [rand([7, 3, 8], 1), ints(7, (i) => i * 3)]],
    ['ropef', [rand([5, 2, 12], 2), ints(5, (i) => 9 - i)]],
    ['ropeg', [rand([7, 3, 8], 3), ints(7, (i) => i), rand([7, 3, 8], 4)]],
    ['ropeg', [rand([3, 5, 4], 5), ints(3, (i) => 2 * i), rand([3, 5, 4], 6)]],
    ['inter', [rand([11], 7), rand([11], 8)]],
    ['evens', [rand([9, 18], 9)]],
    ['idxmath', [rand([37], 10)]],
    ['spread', [rand([52], 11), rand([13], 12)]],
    // a reduction along a reshape's div/rem index that amounts to + idx: vectorised along it
    ['slicesum', [rand([600], 13), rand([8, 3, 20], 14)]],
  ];
  for (const [entry, args] of cases)
    it(`${entry} ${args.map((a) => a.shape.join('×')).join(', ')}`, () => {
      expect(prog.diagnostics.map((d) => d.message)).toEqual([]);
      const ref = prog.runSync(entry, args).tensors[0]!;
      for (const noFusion of [false, true]) {
        const got = prog.runSync(entry, args, { device: { kind: 'wasm' }, noFusion }).tensors[0]!;
        const m = closeNormwise(got, ref, 1e-6);
        if (m) expect.fail(`${noFusion ? 'unfused' : 'fused'} ${m}`);
      }
    });
});
