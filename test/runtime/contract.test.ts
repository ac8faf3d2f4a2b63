// Entries called by name (runtime/core/contract.ts, compiler/entry.ts): the contract a lowering
// gives (each parameter's and result field's leaves), named arguments with literal defaults left
// out, named results, only the changed arguments re-flattened, donation by name, and every mistake
// (an unknown or missing name, a wrong shape, a donated argument not passed back) a user error
// naming the argument.
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/api.ts';
import { UserError } from '../../runtime/core/errors.ts';
import { fromNested, toNested, type Tensor } from '../../runtime/core/tensor.ts';
import { getPath, pathKeys, treeFromPaths, parseContract, NamedEntry } from '../../runtime/core/contract.ts';

const SRC = `
pub struct Cell[N] { k: f32[N], v: f32[N] }
pub struct Out[N, L] { y: f32[N], cells: [Cell[N]; L], n: i32 }
pub fn step[N, L](x: f32[N], cells: [Cell[N]; L], scale: f32 = 2.0, shift: i32 = -1) -> Out[N, L] =
  Out { y: x * scale, cells: map(cells, fn(c) { Cell { k: c.k + x, v: c.v * scale } }), n: shift + 1 }
pub fn pair(a: f32, b: f32) -> (f32, f32) = (a + b, a * b)
`;
const prog = compile(SRC, { path: 'c.obt' });
const t = (v: unknown) => fromNested(v, 'f32');
const cells = () => [
  { k: t([1, 2]), v: t([3, 4]) },
  { k: t([5, 6]), v: t([7, 8]) },
];
const nested = (v: unknown): unknown =>
  v && typeof v === 'object' && 'data' in (v as object)
    ? toNested(v as Tensor)
    : Array.isArray(v)
      ? v.map(nested)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, nested(x)]))
        : v;

describe('paths', () => {
  it('parse and rebuild trees', () => {
    expect(pathKeys('a.b[2].c.0')).toEqual(['a', 'b', 2, 'c', 0]);
    expect(pathKeys('')).toEqual([]);
    const tree = treeFromPaths([
      { path: 'blocks[0].wq.w', value: 1 },
      { path: 'blocks[1].wq.w', value: 2 },
      { path: 'norm', value: 3 },
    ]);
    expect(tree).toEqual({ blocks: [{ wq: { w: 1 } }, { wq: { w: 2 } }], norm: 3 });
    expect(getPath(tree, 'blocks[1].wq.w')).toBe(2);
    expect(getPath(tree, 'blocks[2].wq.w')).toBeUndefined();
  });
});

describe('a bound entry', () => {
  it('has a contract by name: each parameter’s leaves and the result struct’s fields', () => {
    const e = prog.bind('step', { x: [1, 1], cells: cells() });
    const c = e.contract;
    expect(c.params.map((p) => [p.name, p.leaves.map((l) => `${l.path}:${l.dtype}[${l.shape}]`)])).toEqual([
      ['x', [':f32[2]']],
      ['cells', ['[0].k:f32[2]', '[0].v:f32[2]', '[1].k:f32[2]', '[1].v:f32[2]']],
      ['scale', [':f32[]']],
      ['shift', [':i32[]']],
    ]);
    expect(c.results.map((r) => [r.name, r.leaves.length])).toEqual([
      ['y', 1],
      ['cells', 4],
      ['n', 1],
    ]);
    // the contract survives JSON (it is written beside artifacts)
    expect(parseContract(JSON.stringify(c), 'contract.json')).toEqual(c);
  });

  it('runs by name, defaults filled in, results named, changed arguments only', () => {
    const e = prog.bind('step', { x: [1, 1], cells: cells() });
    const r = e.runSync();
    expect(nested(r)).toEqual({
      y: [2, 2],
      cells: [
        { k: [2, 3], v: [6, 8] },
        { k: [6, 7], v: [14, 16] },
      ],
      n: 0,
    });
    // a later run replaces what it is given and keeps the rest
    expect(nested(e.runSync({ scale: 3, shift: 4 }))).toMatchObject({ y: [3, 3], n: 5 });
    expect(nested(e.runSync({ x: [0, 2] }))).toMatchObject({ y: [0, 6], n: 5 });
  });

  it('is the same on Wasm, with a donated parameter passed back each run', () => {
    const ref = prog.bind('step', { x: [1, 2], cells: cells() });
    const w = prog.bind('step', { x: [1, 2], cells: cells() }, { device: { kind: 'wasm' }, donate: ['cells'] });
    let c: unknown = cells();
    let r: Record<string, unknown> = {};
    for (let i = 0; i < 3; i++) {
      r = w.runSync({ cells: c });
      c = r.cells;
    }
    let rc: unknown = cells();
    let rr: Record<string, unknown> = {};
    for (let i = 0; i < 3; i++) {
      rr = ref.runSync({ cells: rc });
      rc = rr.cells;
    }
    expect(nested(r)).toEqual(nested(rr));
    expect(() => w.runSync({ x: [0, 0] })).toThrow(/cells is donated: pass the value the last run returned/);
  });

  it('a returned tree is frozen and passed back as is; a copy with a leaf replaced is read afresh', () => {
    const e = prog.bind('step', { x: [1, 1], cells: cells() });
    const r = e.runSync();
    const back = r.cells as { k: Tensor; v: Tensor }[];
    expect(Object.isFrozen(back) && Object.isFrozen(back[0])).toBe(true);
    expect(() => ((back as unknown[])[0] = null)).toThrow(TypeError);
    // what the tree carries is invisible: keys, JSON and spreads see the fields only
    expect(Object.keys(back[0]!)).toEqual(['k', 'v']);
    // passed back unchanged: the next run starts from it
    expect(nested(e.runSync({ cells: back }).cells)).toEqual([
      { k: [3, 4], v: [12, 16] },
      { k: [7, 8], v: [28, 32] },
    ]);
    // a spread copy with one leaf replaced (and an array copy) must not reuse the old leaves
    const edited = [{ ...back[0]!, k: t([0, 0]) }, back[1]!];
    expect(nested(e.runSync({ cells: edited }).cells)).toEqual([
      { k: [1, 1], v: [12, 16] },
      { k: [7, 8], v: [28, 32] },
    ]);
    // a result tree of one entry is an argument of another of the same shape
    const other = prog.bind('step', { x: [0, 0], cells: cells(), scale: 1 });
    expect(nested(other.runSync({ cells: back }).cells)).toEqual(nested(back));
  });

  it('names tuple results 0, 1', () => {
    expect(nested(prog.bind('pair', { a: 2, b: 3 }).runSync())).toEqual({ 0: 5, 1: 6 });
  });

  it('refuses unknown, missing and mistyped arguments by name', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(UserError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(err(() => prog.bind('step', { x: [1, 1], cells: cells(), scal: 2 }))).toBe(
      'step has no parameter scal (its parameters: x, cells, scale, shift)',
    );
    expect(err(() => prog.bind('step', { x: [1, 1] }))).toBe('step: argument cells is missing');
    const e = prog.bind('step', { x: [1, 1], cells: cells() });
    expect(err(() => e.runSync({ x: [1, 2, 3] }))).toBe('step: argument x: expected f32[2], found f32[3]');
    expect(err(() => e.runSync({ cells: [{ k: t([1, 2]) }, { k: t([1, 2]), v: t([1, 2]) }] }))).toBe(
      'step: argument cells[0].v is missing (expected f32[2])',
    );
    expect(err(() => e.runSync({ shift: 1.5 }))).toMatch(/^step: argument shift: expected an i32/);
    expect(err(() => e.runSync({ bogus: 1 }))).toMatch(/^step has no parameter bogus/);
    expect(err(() => prog.bind('step', { x: [1, 1], cells: cells() }, { donate: ['cels'] }))).toMatch(
      /^step has no parameter cels to donate/,
    );
  });

  it('over a program without a compiler (as the browser page runs an artifact)', async () => {
    const b = prog.bind('step', { x: [1, 1], cells: cells() });
    const contract = parseContract(JSON.stringify(b.contract), 'contract.json');
    const page = NamedEntry.fromArgs(contract, { x: [1, 1], cells: cells(), scale: 2, shift: -1 }, (ins) =>
      prog.wasm(b.low).run(ins),
    );
    expect(nested(await page.run())).toEqual(nested(b.runSync()));
  });
});
