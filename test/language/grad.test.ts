// Gradient checks. For every differentiable primitive, a fast-check property builds
// loss = sum(prim(x...) ⊙ w) on random shapes (size-1 dims included), differentiates it with the AD
// transform and compares with central finite differences in the f64 interpreter. Then language
// level checks: broadcasting, a user gradient rule, and a whole tiny Llama[OneBitTrain].
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VarSupply, lit, type Atom, type Eqn, type Func, type TensorType, type Var } from '../../runtime/core/ir.ts';
import { PRIMS } from '../../runtime/prims/registry.ts';
import type { PrimDef } from '../../runtime/prims/def.ts';
import type { PrimName, PrimParams } from '../../runtime/core/prim_names.ts';
import { gradFunc } from '../../compiler/ad/vjp.ts';
import { verifyFunc } from '../../compiler/core/verify.ts';
import { interpret } from '../../runtime/ref/interp.ts';
import { alloc, numel, type Tensor } from '../../runtime/core/tensor.ts';
import { compile } from '../../compiler/api.ts';
import { mulberry32 } from '../../runtime/core/rng.ts';
import { centralDiff } from '../helpers/fd.ts';
import { compileWasm } from '../../compiler/pipeline.ts';
import { compileWebGpu } from '../../compiler/pipeline.ts';
import { gpu, gpuNote } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/close.ts';

const RUNS = Number(process.env.OBT_GRAD_RUNS ?? 25);

interface Case {
  /** differentiable inputs first (with a value generator), then constant inputs */
  inputs: { type: TensorType; diff: boolean; gen: (r: () => number) => number }[];
  build(e: <P extends PrimName>(p: P, args: Atom[], params: PrimParams[P]) => Var, xs: Var[]): Var;
}

const normal = (r: () => number) => (r() * 2 - 1) * 1.5;
const positive = (r: () => number) => 0.5 + r() * 2;
const awayFromZero = (r: () => number) => (r() < 0.5 ? -1 : 1) * (0.4 + r());
const shapeOf = (r: () => number, rank: number, max = 3) =>
  Array.from({ length: rank }, () => 1 + Math.floor(r() * max));
const int = (r: () => number, n: number) => Math.floor(r() * n);
const f32 = (shape: number[]): TensorType => ({ dtype: 'f32', shape });

function unaryCase(p: PrimName, gen = normal): (r: () => number) => Case {
  return (r) => {
    const s = shapeOf(r, int(r, 3));
    return { inputs: [{ type: f32(s), diff: true, gen }], build: (e, [x]) => e(p, [x!], {} as never) };
  };
}

function binaryCase(p: PrimName, ga = normal, gb = normal, scalarLit = false): (r: () => number) => Case {
  return (r) => {
    const s = shapeOf(r, int(r, 3));
    if (scalarLit && r() < 0.5)
      return {
        inputs: [{ type: f32(s), diff: true, gen: ga }],
        build: (e, [x]) => e(p, [x!, lit(gb(r), 'f32')], {} as never),
      };
    return {
      inputs: [
        { type: f32(s), diff: true, gen: ga },
        { type: f32(s), diff: true, gen: gb },
      ],
      build: (e, [a, b]) => e(p, [a!, b!], {} as never),
    };
  };
}

const CASES: Record<string, (r: () => number) => Case> = {
  neg: unaryCase('neg'),
  abs: unaryCase('abs', awayFromZero),
  exp: unaryCase('exp'),
  log: unaryCase('log', positive),
  sqrt: unaryCase('sqrt', positive),
  rsqrt: unaryCase('rsqrt', positive),
  sin: unaryCase('sin'),
  cos: unaryCase('cos'),
  tanh: unaryCase('tanh'),
  sigmoid: unaryCase('sigmoid'),
  add: binaryCase('add', normal, normal, true),
  sub: binaryCase('sub', normal, normal, true),
  mul: binaryCase('mul', normal, normal, true),
  div: binaryCase('div', normal, awayFromZero, true),
  pow: binaryCase('pow', positive, normal, true),
  max: binaryCase('max'),
  min: binaryCase('min'),
  select: (r) => {
    const s = shapeOf(r, int(r, 3));
    return {
      inputs: [
        { type: f32(s), diff: true, gen: normal },
        { type: f32(s), diff: true, gen: normal },
        { type: { dtype: 'bool', shape: s }, diff: false, gen: (q) => (q() < 0.5 ? 1 : 0) },
      ],
      build: (e, [a, b, c]) => e('select', [c!, a!, b!], {}),
    };
  },
  reduce: (r) => {
    const s = shapeOf(r, 1 + int(r, 3));
    const axes = s.map((_, i) => i).filter(() => r() < 0.6);
    const p = (['reduce_sum', 'reduce_max', 'reduce_min'] as const)[int(r, 3)]!;
    return { inputs: [{ type: f32(s), diff: true, gen: normal }], build: (e, [x]) => e(p, [x!], { axes }) };
  },
  broadcast_in_dim: (r) => {
    const out = shapeOf(r, 1 + int(r, 3));
    const dims = out.map((_, i) => i).filter(() => r() < 0.6);
    const s = dims.map((d) => (r() < 0.3 ? 1 : out[d]!));
    return {
      inputs: [{ type: f32(s), diff: true, gen: normal }],
      build: (e, [x]) => e('broadcast_in_dim', [x!], { shape: out, dims }),
    };
  },
  reshape: (r) => {
    const s = shapeOf(r, 1 + int(r, 3));
    const n = numel(s);
    const t = n % 2 === 0 && r() < 0.5 ? [2, n / 2] : [n];
    return { inputs: [{ type: f32(s), diff: true, gen: normal }], build: (e, [x]) => e('reshape', [x!], { shape: t }) };
  },
  transpose: (r) => {
    const s = shapeOf(r, 1 + int(r, 3));
    const perm = s.map((_, i) => i).sort(() => r() - 0.5);
    return { inputs: [{ type: f32(s), diff: true, gen: normal }], build: (e, [x]) => e('transpose', [x!], { perm }) };
  },
  slice: (r) => {
    const s = shapeOf(r, 1 + int(r, 2), 5);
    const start = s.map((d) => int(r, d));
    const stop = s.map((d, i) => start[i]! + 1 + int(r, d - start[i]!));
    const step = s.map(() => 1 + int(r, 2));
    return {
      inputs: [{ type: f32(s), diff: true, gen: normal }],
      build: (e, [x]) => e('slice', [x!], { start, stop, step }),
    };
  },
  pad: (r) => {
    const s = shapeOf(r, 1 + int(r, 2));
    const pp = { lo: s.map(() => int(r, 2)), hi: s.map(() => int(r, 2)), interior: s.map(() => int(r, 2)) };
    return { inputs: [{ type: f32(s), diff: true, gen: normal }], build: (e, [x]) => e('pad', [x!], pp) };
  },
  concat: (r) => {
    const s = shapeOf(r, 1 + int(r, 2));
    const axis = int(r, s.length);
    const s2 = s.map((d, i) => (i === axis ? 1 + int(r, 3) : d));
    return {
      inputs: [
        { type: f32(s), diff: true, gen: normal },
        { type: f32(s2), diff: true, gen: normal },
      ],
      build: (e, [a, b]) => e('concat', [a!, b!], { axis }),
    };
  },
  gather: (r) => {
    const s = shapeOf(r, 1 + int(r, 2));
    const axis = int(r, s.length);
    const is = shapeOf(r, 1 + int(r, 2));
    return {
      inputs: [
        { type: f32(s), diff: true, gen: normal },
        { type: { dtype: 'i32', shape: is }, diff: false, gen: (q) => int(q, s[axis]!) },
      ],
      build: (e, [x, i]) => e('gather', [x!, i!], { axis }),
    };
  },
  scatter_add: (r) => {
    const s = shapeOf(r, 1 + int(r, 2));
    const is = shapeOf(r, 1);
    const us = [...s.slice(0, 0), ...is, ...s.slice(1)];
    return {
      inputs: [
        { type: f32(s), diff: true, gen: normal },
        { type: f32(us), diff: true, gen: normal },
        { type: { dtype: 'i32', shape: is }, diff: false, gen: (q) => int(q, s[0]!) },
      ],
      build: (e, [x, u, i]) => e('scatter_add', [x!, i!, u!], { axis: 0 }),
    };
  },
  dynamic_slice: (r) => {
    const s = shapeOf(r, 1 + int(r, 2), 4);
    const sizes = s.map((d) => 1 + int(r, d));
    return {
      inputs: [
        { type: f32(s), diff: true, gen: normal },
        ...s.map(() => ({
          type: { dtype: 'i32' as const, shape: [] },
          diff: false,
          gen: (q: () => number) => int(q, 5) - 1,
        })),
      ],
      build: (e, [x, ...st]) => e('dynamic_slice', [x!, ...st], { sizes }),
    };
  },
  dynamic_update_slice: (r) => {
    const s = shapeOf(r, 1 + int(r, 2), 4);
    const us = s.map((d) => 1 + int(r, d));
    return {
      inputs: [
        { type: f32(s), diff: true, gen: normal },
        { type: f32(us), diff: true, gen: normal },
        ...s.map(() => ({
          type: { dtype: 'i32' as const, shape: [] },
          diff: false,
          gen: (q: () => number) => int(q, 4),
        })),
      ],
      build: (e, [x, u, ...st]) => e('dynamic_update_slice', [x!, u!, ...st], {}),
    };
  },
  dot_general: (r) => {
    const nb = int(r, 2);
    const nc = 1 + int(r, 2);
    const bd = shapeOf(r, nb);
    const cd = shapeOf(r, nc);
    const fa = shapeOf(r, int(r, 2));
    const fb = shapeOf(r, int(r, 2));
    // lay out a = [batch, contract, free] and b = [free, batch, contract] in shuffled positions
    const aAxes = [
      ...bd.map((d, i) => ({ k: 'b', i, d })),
      ...cd.map((d, i) => ({ k: 'c', i, d })),
      ...fa.map((d, i) => ({ k: 'f', i, d })),
    ].sort(() => r() - 0.5);
    const bAxes = [
      ...bd.map((d, i) => ({ k: 'b', i, d })),
      ...cd.map((d, i) => ({ k: 'c', i, d })),
      ...fb.map((d, i) => ({ k: 'f', i, d })),
    ].sort(() => r() - 0.5);
    const find = (ax: typeof aAxes, k: string, i: number) => ax.findIndex((x) => x.k === k && x.i === i);
    const params: PrimParams['dot_general'] = {
      batch: [bd.map((_, i) => find(aAxes, 'b', i)), bd.map((_, i) => find(bAxes, 'b', i))],
      contract: [cd.map((_, i) => find(aAxes, 'c', i)), cd.map((_, i) => find(bAxes, 'c', i))],
    };
    return {
      inputs: [
        { type: f32(aAxes.map((x) => x.d)), diff: true, gen: normal },
        { type: f32(bAxes.map((x) => x.d)), diff: true, gen: normal },
      ],
      build: (e, [a, b]) => e('dot_general', [a!, b!], params),
    };
  },
  signlinear: (r) => {
    const I = 1 + int(r, 40);
    const O = 1 + int(r, 4);
    const rows = shapeOf(r, int(r, 2));
    return {
      inputs: [
        { type: f32([...rows, I]), diff: true, gen: normal },
        { type: f32([I]), diff: true, gen: normal },
        { type: f32([O]), diff: true, gen: normal },
        { type: f32([O, I]), diff: false, gen: normal },
      ],
      build: (e, [x, g, h, w]) => e('signlinear', [x!, e('pack_sign', [w!], {}), g!, h!], {}),
    };
  },
  blocksignlinear: (r) => {
    const K = 1 + int(r, 2);
    const I = 32 * K * (1 + int(r, 1));
    const O = 1 + int(r, 3);
    const rows = shapeOf(r, int(r, 2));
    return {
      inputs: [
        { type: f32([...rows, I]), diff: true, gen: normal },
        { type: f32([O, K]), diff: true, gen: normal },
        { type: f32([O, I]), diff: false, gen: normal },
      ],
      build: (e, [x, d, w]) => e('blocksignlinear', [x!, e('pack_sign', [w!], {}), d!], {}),
    };
  },
};

/** loss = sum(y ⊙ w) for the case's output y, as a Core Func over (diff inputs, constants, w). */
function buildLoss(c: Case, supply: VarSupply): Func {
  const eqns: Eqn[] = [];
  const e = <P extends PrimName>(prim: P, args: Atom[], params: PrimParams[P]): Var => {
    const [t] = (PRIMS[prim] as PrimDef<P>).infer(
      args.map((a) => a.type),
      params,
    );
    const v = supply.fresh(t!);
    eqns.push({ prim, args, params, outs: [v] } as Eqn);
    return v;
  };
  const order = [...c.inputs.filter((i) => i.diff), ...c.inputs.filter((i) => !i.diff)];
  const vars = order.map((i) => supply.fresh(i.type));
  const byInput = c.inputs.map((i) => vars[order.indexOf(i)]!);
  const y = c.build(e, byInput);
  const w = supply.fresh({ dtype: 'f32', shape: y.type.shape });
  const prod = e('mul', [y, w], {});
  const loss = y.type.shape.length ? e('reduce_sum', [prod], { axes: y.type.shape.map((_, i) => i) }) : prod;
  return { params: [...vars, w], eqns, results: [loss] };
}

function tensorOf(t: TensorType, r: () => number, gen: (r: () => number) => number): Tensor {
  const x = alloc(t.dtype, t.shape, true);
  for (let i = 0; i < x.data.length; i++) x.data[i] = gen(r);
  return x;
}

/** The gradient program of a case and its f32 inputs (for the compiled backends). */
function gradProgram(name: string, seed: number): { g: Func; inputs32: Tensor[] } {
  const r = mulberry32(seed);
  const c = CASES[name]!(r);
  const supply = new VarSupply();
  const f = buildLoss(c, supply);
  const g = gradFunc(f, c.inputs.filter((i) => i.diff).length, supply);
  const order = [...c.inputs.filter((i) => i.diff), ...c.inputs.filter((i) => !i.diff)];
  const inputs = order.map((i) => tensorOf(i.type, r, i.gen));
  inputs.push(tensorOf(f.params[f.params.length - 1]!.type, r, normal));
  return { g, inputs32: inputs.map((t) => ({ ...t, data: t.dtype === 'f32' ? Float32Array.from(t.data) : t.data })) };
}

function checkCase(name: string, seed: number): void {
  const r = mulberry32(seed);
  const c = CASES[name]!(r);
  const supply = new VarSupply();
  const f = buildLoss(c, supply);
  verifyFunc(f);
  const nd = c.inputs.filter((i) => i.diff).length;
  const g = gradFunc(f, nd, supply);
  verifyFunc(g);
  const order = [...c.inputs.filter((i) => i.diff), ...c.inputs.filter((i) => !i.diff)];
  const inputs = order.map((i) => tensorOf(i.type, r, i.gen));
  inputs.push(tensorOf(f.params[f.params.length - 1]!.type, r, normal));
  const outs = interpret(g, inputs, { f64: true });
  const lossAt = (xs: Tensor[]) => interpret(f, xs, { f64: true })[0]!.data[0]!;
  for (let k = 0; k < nd; k++) {
    const gk = outs[1 + k]!;
    const x = inputs[k]!;
    for (let i = 0; i < x.data.length; i++) {
      const fd = centralDiff(() => lossAt(inputs), x, i);
      const ad = gk.data[i]!;
      if (Math.abs(fd - ad) > 1e-5 * Math.max(1, Math.abs(fd)))
        throw new Error(`${name} (seed ${seed}): d/d input ${k}[${i}]: AD ${ad}, finite differences ${fd}`);
    }
  }
  // the same gradient program on the Wasm backend (f32, fused and unfused) against the f32 interpreter
  const inputs32 = inputs.map((t) => ({ ...t, data: t.dtype === 'f32' ? Float32Array.from(t.data) : t.data }));
  const ref = interpret(g, inputs32);
  for (const noFusion of [false, true]) {
    const got = compileWasm(g, { noFusion }).run(inputs32);
    ref.forEach((t, j) =>
      expectClose(got[j]!, t, WASM_GRAD_TOL, `${name} (seed ${seed}) wasm${noFusion ? ' unfused' : ''} output ${j}`),
    );
  }
}

/** f32 tolerance of a gradient on the Wasm backend vs the f32 interpreter (normwise, relative to max(1, |ref|∞)) */
const WASM_GRAD_TOL = 2e-5;
/** WebGPU: the GPU's exp/log on top of f32 accumulation */
const WEBGPU_GRAD_TOL = 5e-5;
const GPU_SEEDS = Number(process.env.OBT_GPU_GRAD_SEEDS ?? 6);

describe('VJP of every differentiable primitive against finite differences (f64)', () => {
  for (const name of Object.keys(CASES))
    it(name, () => {
      fc.assert(
        fc.property(fc.integer(), (seed) => {
          checkCase(name, seed);
        }),
        { numRuns: RUNS },
      );
    });

  it('every primitive is covered or declared non-differentiable', () => {
    const covered = new Set([
      'neg',
      'abs',
      'exp',
      'log',
      'sqrt',
      'rsqrt',
      'sin',
      'cos',
      'tanh',
      'sigmoid',
      'add',
      'sub',
      'mul',
      'div',
      'pow',
      'max',
      'min',
      'select',
      'reduce_sum',
      'reduce_max',
      'reduce_min',
      'broadcast_in_dim',
      'reshape',
      'transpose',
      'slice',
      'pad',
      'concat',
      'gather',
      'scatter_add',
      'dynamic_slice',
      'dynamic_update_slice',
      'dot_general',
      'signlinear',
      'blocksignlinear',
    ]);
    // language-level tests below; attention (sdpa): test/backends/attention.test.ts, by finite differences too
    const elsewhere = new Set(['custom_vjp', 'iterate', 'convert', 'rem', 'attention']);
    const noGrad = Object.keys(PRIMS).filter((p) => !covered.has(p) && !elsewhere.has(p));
    // the rest have no derivative: integer/bool/sign outputs, constants, randomness, stop_gradient
    expect(noGrad.sort()).toEqual(
      [
        'and',
        'argmax',
        'ceil',
        'constant',
        'eq',
        'floor',
        'ge',
        'gt',
        'iota',
        'le',
        'lt',
        'ne',
        'not',
        'or',
        'pack_sign',
        'random_bits',
        'round',
        'shl',
        'shr',
        'sign',
        'stop_gradient',
        'unpack_sign',
        'xor',
      ].sort(),
    );
  });
});

function runF64(src: string, entry: string, args: unknown[]): unknown[] {
  const p = compile(src, { path: 'grad.obt' });
  expect(p.diagnostics.map((d) => d.message)).toEqual([]);
  const out = p.runSync(entry, args as never, { f64: true }).tensors;
  // the same entry on the Wasm backend, fused and unfused, against the f32 interpreter
  const ref = p.runSync(entry, args as never).tensors;
  for (const noFusion of [false, true])
    p.runSync(entry, args as never, { device: { kind: 'wasm' }, noFusion }).tensors.forEach((t, j) =>
      expectClose(t, ref[j]!, WASM_GRAD_TOL, `${entry} on wasm${noFusion ? ' unfused' : ''}, output ${j}`),
    );
  return out.map((t) => Array.from(t.data));
}

describe(`every primitive's gradient program on webgpu${gpuNote}`, () => {
  for (const name of Object.keys(CASES))
    it.skipIf(!gpu)(name, async () => {
      for (let seed = 0; seed < GPU_SEEDS; seed++) {
        const { g, inputs32 } = gradProgram(name, seed);
        const ref = interpret(g, inputs32);
        const got = await (await compileWebGpu(g, gpu!)).run(inputs32);
        ref.forEach((t, j) => expectClose(got[j]!, t, WEBGPU_GRAD_TOL, `${name} (seed ${seed}) webgpu output ${j}`));
      }
    });
});

describe('gradients through language features', () => {
  it('broadcasting, reductions, iterate and convert: AD matches finite differences', () => {
    const src = `
      fn loss(a: f32[2, 3], b: f32[3]) -> f32 {
        let y = iterate(3, a, fn(z) { tanh(z * 0.9 + b) })
        sum(f32(f16(1.0)) * y * y) + mean(b * b, axis: 0)
      }
      fn g(a: f32[2, 3], b: f32[3]) -> (f32[2, 3], f32[3]) = grad(fn(p) { loss(p.0, p.1) }, (a, b))
      fn l(a: f32[2, 3], b: f32[3]) -> f32 = loss(a, b)`;
    const a = [
      [0.1, -0.5, 0.9],
      [1.2, 0.3, -0.7],
    ];
    const b = [0.2, -0.1, 0.4];
    const [ga, gb] = runF64(src, 'g', [a, b]) as number[][];
    const h = 1e-6;
    const at = (aa: number[][], bb: number[]) => (runF64(src, 'l', [aa, bb])[0] as number[])[0]!;
    for (let i = 0; i < 6; i++) {
      const ap = a.map((r) => r.slice());
      const am = a.map((r) => r.slice());
      ap[Math.floor(i / 3)]![i % 3]! += h;
      am[Math.floor(i / 3)]![i % 3]! -= h;
      expect(ga![i]!).toBeCloseTo((at(ap, b) - at(am, b)) / (2 * h), 6);
    }
    for (let i = 0; i < 3; i++) {
      const bp = b.slice();
      const bm = b.slice();
      bp[i]! += h;
      bm[i]! -= h;
      expect(gb![i]!).toBeCloseTo((at(a, bp) - at(a, bm)) / (2 * h), 6);
    }
  });

  it('the user rule is used: grad of sum(ste_sign(w) * c) is c * (1.001 - tanh(w)^2), not 0', () => {
    const src = `import onebit
      fn g(w: f32[5], c: f32[5]) -> f32[5] = grad(fn(v) { sum(ste_sign(v) * c) }, w)
      fn gc(w: f32[5], c: f32[5]) -> f32[5] = grad(fn(v) { sum(ste_sign_clip(v) * c) }, w)
      fn gs(w: f32[5], c: f32[5]) -> f32[5] = grad(fn(v) { sum(sign(v) * c) }, w)`;
    const w = [0.3, -1.7, 0, 2.5, -0.2];
    const c = [1, 2, -3, 0.5, 4];
    const [g] = runF64(src, 'g', [w, c]) as number[][];
    w.forEach((x, i) => expect(g![i]).toBeCloseTo(c[i]! * (1.001 - Math.tanh(x) ** 2), 10));
    const [gc] = runF64(src, 'gc', [w, c]) as number[][];
    w.forEach((x, i) => expect(gc![i]).toBe(Math.abs(x) <= 1 ? c[i] : 0));
    const [gs] = runF64(src, 'gs', [w, c]) as number[][];
    expect(gs).toEqual([0, 0, 0, 0, 0]);
  });
});
