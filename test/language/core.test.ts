// Core IR: printer, verifier, structural hash, CSE/DCE, and the registry's typing rules.
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/api.ts';
import { VarSupply, lit, type Func } from '../../runtime/core/ir.ts';
import { verifyFunc } from '../../compiler/core/verify.ts';
import { hashFunc } from '../../compiler/core/hash.ts';
import { printFunc } from '../../compiler/core/print.ts';
import { cse, dce } from '../../compiler/core/opt.ts';
import { PRIMS } from '../../runtime/prims/registry.ts';
import { BINARY, COMPARE, REDUCE, UNARY } from '../../runtime/core/prim_names.ts';
import { interpret } from '../../runtime/ref/interp.ts';
import { fromNested, toNested } from '../../runtime/core/tensor.ts';

function lower(src: string, entry: string, ...args: unknown[]): Func {
  const p = compile(src, { path: 'core.obt' });
  expect(p.diagnostics).toEqual([]);
  const f = p.entry(entry);
  return p.lower(entry, p.argTypes(f, args as never).types).func;
}

describe('Core IR', () => {
  it('every registered primitive has a record with both rules', () => {
    for (const name of [...UNARY, ...BINARY, ...COMPARE, ...REDUCE]) expect(PRIMS[name].name).toBe(name);
    for (const [name, def] of Object.entries(PRIMS)) {
      expect(def.name).toBe(name);
      expect(typeof def.infer).toBe('function');
      expect(typeof def.eval).toBe('function');
    }
  });

  it('prints, verifies and hashes a lowered program', () => {
    const f = lower('fn f(x: f32[2, 3]) -> f32[3] = sum(x * 2.0, axis: 0)', 'f', [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    verifyFunc(f);
    const text = printFunc(f);
    expect(text).toContain('mul(%x.0, 2.0:f32)');
    expect(text).toContain('reduce_sum');
    expect(hashFunc(f)).toMatch(/^[0-9a-f]{8}$/);
  });

  it('hash is invariant under variable renaming and changes with structure', () => {
    const a = lower('fn f(x: f32[4]) -> f32[4] = exp(x) + 1.0', 'f', [1, 2, 3, 4]);
    const b = lower('fn f(x: f32[4]) -> f32[4] {\n let y = exp(x)\n y + 1.0 }', 'f', [1, 2, 3, 4]);
    const c = lower('fn f(x: f32[4]) -> f32[4] = exp(x) + 2.0', 'f', [1, 2, 3, 4]);
    expect(hashFunc(a)).toBe(hashFunc(b));
    expect(hashFunc(a)).not.toBe(hashFunc(c));
  });

  it('the verifier rejects a use before definition and a wrong output type', () => {
    const s = new VarSupply();
    const x = s.fresh({ dtype: 'f32', shape: [2] });
    const y = s.fresh({ dtype: 'f32', shape: [2] });
    const z = s.fresh({ dtype: 'f32', shape: [2] });
    const bad1: Func = { params: [x], eqns: [{ prim: 'add', args: [x, y], params: {}, outs: [z] }], results: [z] };
    expect(() => verifyFunc(bad1)).toThrow(/used before definition/);
    const w = s.fresh({ dtype: 'f32', shape: [3] });
    const bad2: Func = { params: [x], eqns: [{ prim: 'exp', args: [x], params: {}, outs: [w] }], results: [w] };
    expect(() => verifyFunc(bad2)).toThrow(/declared f32\[3\], rule gives f32\[2\]/);
    const q = s.fresh({ dtype: 'f32', shape: [] });
    const bad3: Func = {
      params: [x, q],
      eqns: [{ prim: 'mul', args: [x, q], params: {}, outs: [s.fresh({ dtype: 'f32', shape: [2] })] }],
      results: [x],
    };
    expect(() => verifyFunc(bad3)).toThrow(/rank-0 variable broadcast implicitly/);
  });

  it('CSE merges identical equations and DCE drops unused ones', () => {
    const s = new VarSupply();
    const x = s.fresh({ dtype: 'f32', shape: [2] });
    const a = s.fresh({ dtype: 'f32', shape: [2] });
    const b = s.fresh({ dtype: 'f32', shape: [2] });
    const c = s.fresh({ dtype: 'f32', shape: [2] });
    const dead = s.fresh({ dtype: 'f32', shape: [2] });
    const f: Func = {
      params: [x],
      eqns: [
        { prim: 'exp', args: [x], params: {}, outs: [a] },
        { prim: 'exp', args: [x], params: {}, outs: [b] },
        { prim: 'log', args: [x], params: {}, outs: [dead] },
        { prim: 'add', args: [a, b], params: {}, outs: [c] },
      ],
      results: [c],
    };
    const g = dce(cse(f));
    verifyFunc(g);
    expect(g.eqns.map((e) => e.prim)).toEqual(['exp', 'add']);
    const out = toNested(interpret(g, [fromNested([0, 1], 'f32')])[0]!) as number[];
    expect(out[0]).toBeCloseTo(2);
    expect(out[1]).toBeCloseTo(2 * Math.E, 5);
  });

  it('iterate lowers to one loop with a closed body (captured values become constants)', () => {
    const f = lower(
      'fn f(m: f32[2, 2], b: f32[2]) -> f32[2] = iterate(3, b, fn(v) { m @ v })',
      'f',
      [
        [0, 1],
        [1, 0],
      ],
      [1, 2],
    );
    const it = f.eqns.find((e) => e.prim === 'iterate')!;
    expect(it).toBeTruthy();
    expect((it.params as { nconst: number }).nconst).toBe(1);
    const out = toNested(
      interpret(f, [
        fromNested(
          [
            [0, 1],
            [1, 0],
          ],
          'f32',
        ),
        fromNested([1, 2], 'f32'),
      ])[0]!,
    );
    expect(out).toEqual([2, 1]);
  });

  it('a function with a gradient rule lowers to custom_vjp with its rule as the backward body', () => {
    const f = lower(
      'fn s[N](w: f32[N]) -> f32[N]\n  grad(dy) = dy * 3.0\n{ sign(w) }\nfn f(x: f32[3]) -> f32[3] = s(x)',
      'f',
      [1, -2, 0],
    );
    const e = f.eqns.find((q) => q.prim === 'custom_vjp')!;
    const p = e.params as { fwd: Func; bwd: Func; name: string };
    expect(p.name).toBe('s');
    expect(p.bwd.params.length).toBe(2);
    const g = interpret(p.bwd, [fromNested([1, 2, 3], 'f32'), fromNested([1, 1, 2], 'f32')]);
    expect(toNested(g[0]!)).toEqual([3, 3, 6]);
    expect(toNested(interpret(f, [fromNested([1, -2, 0], 'f32')])[0]!)).toEqual([1, -1, 0]);
  });

  it('literals are rank-0 operands', () => {
    expect(lit(2, 'f32').type.shape).toEqual([]);
  });
});
