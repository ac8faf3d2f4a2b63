// Value trees: host trees (runtime/core/tree.ts: leaves with paths, map) and typed trees
// (compiler/types/tree.ts: a type's leaves in flattening order, host values rebuilt from them).
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/api.ts';
import { fromNested, type Tensor } from '../../runtime/core/tensor.ts';
import { isTensor, mapTree, treeLeaves } from '../../runtime/core/tree.ts';

const t = (x: number) => fromNested([x], 'f32');

describe('host trees', () => {
  const tree = {
    emb: t(1),
    blocks: [
      { wq: { s: t(2), g: t(3) }, n: 7 },
      { wq: { s: t(4), g: t(5) }, n: 8 },
    ],
    opts: { name: 'x' },
  };
  it('lists leaves with their paths depth first, skipping non-tensor values', () => {
    expect(treeLeaves(tree).map((l) => [l.path, (l.leaf as Tensor).data[0]])).toEqual([
      ['emb', 1],
      ['blocks[0].wq.s', 2],
      ['blocks[0].wq.g', 3],
      ['blocks[1].wq.s', 4],
      ['blocks[1].wq.g', 5],
    ]);
  });
  it('maps leaves and keeps everything else', () => {
    const m = mapTree(tree, isTensor, (x, path) => `${path}=${x.data[0]}`) as typeof tree;
    expect(m.blocks[1]!.wq.g).toBe('blocks[1].wq.g=5');
    expect(m.blocks[1]!.n).toBe(8);
    expect(m.opts).toEqual({ name: 'x' });
  });
});

describe('typed trees', () => {
  const prog = compile(
    `
struct P[N] { a: f32[N], b: (f32, f32[2]) }
fn f[N](ps: [P[N]; 2]) -> [P[N]; 2] = ps
`,
    { path: 'tree.obt' },
  );
  it('flattens parameters to leaf paths and rebuilds results from the leaves', () => {
    expect(prog.diagnostics.map((d) => d.message)).toEqual([]);
    const p = (k: number) => ({ a: [k, k + 1, k + 2], b: [k + 3, [k + 4, k + 5]] });
    const r = prog.runSync('f', [[p(0), p(10)]]);
    const low = prog.lower('f', prog.argTypes(prog.entry('f'), [[p(0), p(10)]]).types);
    expect(low.params.map((l) => l.path)).toEqual([
      'ps[0].a',
      'ps[0].b.0',
      'ps[0].b.1',
      'ps[1].a',
      'ps[1].b.0',
      'ps[1].b.1',
    ]);
    const v = r.value as { a: Tensor; b: [Tensor, Tensor] }[];
    expect(Array.from(v[1]!.a.data)).toEqual([10, 11, 12]);
    expect(Array.from(v[1]!.b[1].data)).toEqual([14, 15]);
    expect(v[0]!.b[0].data[0]).toBe(3);
  });
});
