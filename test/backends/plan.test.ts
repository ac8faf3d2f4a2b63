// Execution plans: dynamic_update_slice becomes an in-place update step when its operand dies there
// (a temporary, or a donated parameter), a copy + update otherwise; a donated cache stays resident
// across runs (results are views, passing them back copies nothing) and matches the reference.
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/api.ts';
import { printPlan } from '../../compiler/plan/plan.ts';
import { compileWasm, wasmPlan } from '../../compiler/pipeline.ts';
import { fromNested, type Tensor } from '../../runtime/core/tensor.ts';

const src = `
fn step(cache: f32[6, 3], row: f32[1, 3], pos: i32) -> (f32[3], f32[6, 3]) {
  let c = update_slice(cache, row * 2.0, [pos, 0])
  (sum(c, axis: 0), c)
}
fn keep(cache: f32[6, 3], row: f32[1, 3], pos: i32) -> f32[6, 3] {
  let c = update_slice(cache + 1.0, row, [pos, 0])
  c + update_slice(c, row * 0.0, [pos + 1, 1])
}
`;
const prog = compile(src, { path: 'plan.obt' });
const low = (entry: string, args: Tensor[]) => prog.lower(entry, prog.argTypes(prog.entry(entry), args).types);
const cache0 = () =>
  fromNested(
    Array.from({ length: 6 }, (_, i) => [i, -i, 0.5 * i]),
    'f32',
  );
const row = (k: number) => fromNested([[k, k + 1, k + 2]], 'f32');
const pos = (p: number) => fromNested(p, 'i32');

describe('update steps and buffer donation', () => {
  it('updates a temporary in place and copies an operand that is read later', () => {
    expect(prog.diagnostics.map((d) => d.message)).toEqual([]);
    const f = low('keep', [cache0(), row(1), pos(2)]).func;
    const text = printPlan(wasmPlan(f));
    expect(text).toMatch(/update .* \(in place\)/);
    expect(text).toMatch(/update .* \(copy\)/);
    for (const p of [0, 2, 5, 9, -3]) {
      const args = [cache0(), row(3), pos(p)];
      const ref = prog.runSync('keep', args).tensors[0]!;
      expect(Array.from(compileWasm(f).run(args)[0]!.data)).toEqual(Array.from(ref.data));
    }
  });

  it('a donated parameter is updated in place; without donation it is copied', () => {
    const f = low('step', [cache0(), row(1), pos(0)]).func;
    expect(printPlan(wasmPlan(f, { donate: [0] }))).toMatch(/\(in place\)/);
    expect(printPlan(wasmPlan(f))).toMatch(/\(copy\)/);
  });

  it('a donated cache stays resident across runs and matches the reference', () => {
    const f = low('step', [cache0(), row(1), pos(0)]).func;
    const w = compileWasm(f, { donate: [0] });
    let cache = cache0();
    let refCache = cache0();
    for (let p = 0; p < 8; p++) {
      const [sum, next] = w.run([cache, row(p), pos(p)]);
      const [refSum, refNext] = prog.runSync('step', [refCache, row(p), pos(p)]).tensors;
      expect(Array.from(sum!.data)).toEqual(Array.from(refSum!.data));
      expect(Array.from(next!.data)).toEqual(Array.from(refNext!.data));
      expect(next!.data.buffer).toBe(w.memory.buffer); // a view, not a copy
      cache = next!;
      refCache = refNext!;
    }
  });
});

describe('elementwise buffer donation (an AdamW-style step)', () => {
  const upd = compile(
    `fn upd(p: f32[1000], m: f32[1000], v: f32[1000], g: f32[1000]) -> (f32[1000], f32[1000], f32[1000]) {
  let m2 = m * 0.9 + g * 0.1
  let v2 = v * 0.98 + g * g * 0.02
  (p - 0.001 * (m2 / (sqrt(v2) + 1e-8) + 0.01 * p), m2, v2)
}`,
    { path: 'upd.obt' },
  );
  const vec = (f: (i: number) => number) =>
    fromNested(
      Array.from({ length: 1000 }, (_, i) => f(i)),
      'f32',
    );
  const args = () => [vec((i) => Math.sin(i)), vec(() => 0), vec(() => 0), vec((i) => Math.cos(i * 0.3))];

  it('writes parameters and moments where they are, and matches the reference over steps', () => {
    expect(upd.diagnostics.map((d) => d.message)).toEqual([]);
    const f = upd.lower('upd', upd.argTypes(upd.entry('upd'), args()).types).func;
    expect(wasmPlan(f).steps.filter((s) => s.op === 'alloc').length).toBe(3);
    const donated = wasmPlan(f, { donate: [0, 1, 2] });
    expect(donated.steps.filter((s) => s.op === 'alloc').length).toBe(0);
    const w = compileWasm(f, { donate: [0, 1, 2] });
    const [p0, m0, v0, g] = args();
    let [p, m, v] = [p0, m0, v0];
    let [rp, rm, rv] = [p!, m!, v!];
    for (let step = 0; step < 3; step++) {
      const outs = w.run([p!, m!, v!, g!]);
      const ref = upd.runSync('upd', [rp, rm, rv, g!]).tensors;
      outs.forEach((t, j) => {
        expect(t.data.buffer).toBe(w.memory.buffer);
        Array.from(t.data).forEach((x, i) => expect(Math.abs(x - ref[j]!.data[i]!)).toBeLessThan(1e-6));
      });
      [p, m, v] = outs;
      [rp, rm, rv] = ref;
    }
  });
});

describe('kernels under a binding limit', () => {
  const names = 'abcdefghijkl'.split('');
  const wide = compile(
    `fn f(${names.map((n) => `${n}: f32[5]`).join(', ')}) -> f32[5] = ${names.map((n, i) => (i % 2 ? `${n} * ${n}` : `tanh(${n})`)).join(' + ')}`,
    { path: 'wide.obt' },
  );
  const args = () =>
    names.map((_, i) =>
      fromNested(
        [1, 2, 3, 4, 5].map((x) => Math.sin(x * (i + 1))),
        'f32',
      ),
    );

  it('a 12-input expression is split into kernels of at most 3 inputs that compute the same', () => {
    expect(wide.diagnostics.map((d) => d.message)).toEqual([]);
    const f = wide.lower('f', wide.argTypes(wide.entry('f'), args()).types).func;
    const plan = wasmPlan(f, { maxInputs: 3 });
    const runs = plan.steps.filter((s) => s.op === 'run') as { ins: number[] }[];
    expect(runs.length).toBeGreaterThan(1);
    for (const r of runs) expect(r.ins.length).toBeLessThanOrEqual(3);
    const ref = wide.runSync('f', args()).tensors[0]!;
    const got = compileWasm(f, { maxInputs: 3 }).run(args())[0]!;
    Array.from(got.data).forEach((v, i) => expect(Math.abs(v - ref.data[i]!)).toBeLessThan(1e-6));
  });
});
