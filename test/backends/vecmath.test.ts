// The Wasm kernels' own exp, sigmoid and tanh (compiler/backends/wasm/emit/fastexp.ts) against f64 Math
// rounded to f32, in ulp, on the vector lanes and the scalar tail, with relaxed SIMD's fused
// multiply-add and without: special values (±0, ±inf, NaN, the overflow and underflow edges, the
// tanh branch point), subnormal results, and a dense sweep.
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/api.ts';
import { alloc } from '../../runtime/core/tensor.ts';
import { RELAXED_PROBE, relaxedProbeModule, relaxedSimd } from '../../compiler/backends/wasm/codegen.ts';

const src = `pub fn f[N](x: f32[N]) -> (f32[N], f32[N], f32[N]) = (exp(x), sigmoid(x), tanh(x))
pub fn g[N](x: f32[N]) -> f32[N] = exp(x - 1.0) * 2.0
`;

const SPECIAL = [
  0,
  -0,
  1e-30,
  -1e-30,
  1e-7,
  -1e-7,
  0.5,
  -0.5,
  0.624,
  -0.624,
  0.626,
  -0.626,
  1,
  -1,
  10,
  -10,
  20,
  -20,
  87.3,
  -87.3,
  88.3,
  88.5,
  88.72,
  88.7228,
  88.73,
  89,
  -86.5,
  -88,
  -100,
  -103.9,
  -104,
  -110,
  1000,
  -1000,
  Infinity,
  -Infinity,
  NaN,
];

function inputs(): Float32Array {
  const xs = [...SPECIAL];
  for (let i = 0; i <= 4000; i++) xs.push(-110 + (i * 200) / 4000);
  for (let i = 0; i <= 1000; i++) xs.push(-2 + (i * 4) / 1000);
  while (xs.length % 4 !== 3) xs.push(0.25 * xs.length); // the scalar tail (3 elements) runs too
  return Float32Array.from(xs);
}

/** distance in units in the last place between two f32 values of one sign (monotone bit order) */
function ulps(a: number, b: number): number {
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  const key = (v: number) => (v < 0 ? -2147483648 - v : v);
  return Math.abs(key(i[0]!) - key(i[1]!));
}

const REFS: [string, (x: number) => number][] = [
  ['exp', Math.exp],
  ['sigmoid', (x) => 1 / (1 + Math.exp(-x))],
  ['tanh', Math.tanh],
];

describe.each([
  ['relaxed SIMD', '1'],
  ['plain SIMD', '0'],
])('Wasm exp, sigmoid, tanh (%s)', (_name, flag) => {
  it('are within a few ulp of f64 Math, exact on specials', () => {
    const before = process.env.OBT_RELAXED_SIMD;
    process.env.OBT_RELAXED_SIMD = flag;
    try {
      if (flag === '1' && !relaxedSimd()) return; // this host has no relaxed SIMD (the plain run still checks)
      const prog = compile(src, { path: 'vecmath.obt' });
      const xs = inputs();
      const x = alloc('f32', [xs.length]);
      x.data.set(xs);
      const outs = prog.runSync('f', [x], { device: { kind: 'wasm' } }).tensors;
      REFS.forEach(([name, ref], o) => {
        const got = outs[o]!.data;
        let worst = 0;
        for (let i = 0; i < xs.length; i++) {
          const want = Math.fround(ref(xs[i]!));
          const have = got[i] as number;
          const what = `${name}(${xs[i]}) = ${have}, want ${want}`;
          if (Number.isNaN(want) || !Number.isFinite(want) || want === 0) {
            // NaN, ±inf and exact zeros come out exactly (a zero may be a subnormal's flush: |.| < 2^-126)
            if (want === 0) expect(Math.abs(have), what).toBeLessThan(2 ** -126);
            else expect(Object.is(have, want), what).toBe(true);
            continue;
          }
          if (Math.abs(want) < 2 ** -126) {
            expect(Math.abs(have - want), what).toBeLessThanOrEqual(2 ** -146); // subnormal: absolute
            continue;
          }
          const u = ulps(have, want);
          worst = Math.max(worst, u);
          expect(u, what).toBeLessThanOrEqual(name === 'exp' ? 3 : 6);
        }
        expect(worst).toBeLessThanOrEqual(6);
      });
    } finally {
      if (before === undefined) delete process.env.OBT_RELAXED_SIMD;
      else process.env.OBT_RELAXED_SIMD = before;
    }
  });
});

describe('relaxed SIMD in kernels', () => {
  it('is used where the host validates it and never when OBT_RELAXED_SIMD=0', async () => {
    const { kernelModule } = await import('../../compiler/backends/wasm/codegen.ts');
    const { wasmPlan } = await import('../../compiler/pipeline.ts');
    const prog = compile(src, { path: 'vecmath.obt' });
    const x = alloc('f32', [64]);
    const low = prog.lower('g', prog.argTypes(prog.entry('g'), [x]).types);
    const plan = wasmPlan(low.func);
    const k = plan.kernels[0]!.kernel!;
    const text = (relaxed: boolean) => {
      const { m } = kernelModule(k, false, relaxed);
      const t = m.emitText();
      m.dispose();
      return t;
    };
    expect(text(true)).toContain('f32x4.relaxed_madd');
    expect(text(false)).not.toContain('relaxed');
    const before = process.env.OBT_RELAXED_SIMD;
    process.env.OBT_RELAXED_SIMD = '0';
    try {
      expect(relaxedSimd()).toBe(false);
    } finally {
      if (before === undefined) delete process.env.OBT_RELAXED_SIMD;
      else process.env.OBT_RELAXED_SIMD = before;
    }
  });
  it("the relaxed-SIMD probe's bytes are binaryen's for the same module, and validate as V8 says", () => {
    const m = relaxedProbeModule();
    try {
      expect(m.validate()).toBeTruthy();
      expect([...m.emitBinary()]).toEqual([...RELAXED_PROBE]);
    } finally {
      m.dispose();
    }
    // its plain-SIMD twin (the third local.get two nops, the opcode f32x4.add's: 0xfd 0xe4 0x01)
    // is valid everywhere: a probe that failed for another reason than the opcode would not be
    const plain = RELAXED_PROBE.slice();
    plain.set([0x01, 0x01, 0xfd, 0xe4, 0x01], plain.length - 6);
    expect(WebAssembly.validate(plain)).toBe(true);
  });
});

describe('sign on the vector lanes', () => {
  it("equals the interpreter's on the lanes and the tail, ±0 and NaN kept as they are", () => {
    const p = compile('pub fn s[N](x: f32[N]) -> f32[N] = sign(x)', { path: 'sign.obt' });
    const xs = [-2, -0, 0, 3, NaN, Infinity, -Infinity, 1e-40, -1e-40, 0.5, -7, 0, -0];
    const x = alloc('f32', [xs.length]);
    x.data.set(xs);
    const want = p.runSync('s', [x]).value as { data: Float32Array };
    const have = p.runSync('s', [x], { device: { kind: 'wasm' } }).value as { data: Float32Array };
    xs.forEach((_, i) => expect(Object.is(have.data[i], want.data[i]), `sign(${xs[i]})`).toBe(true));
    expect([...want.data].map((v) => (Object.is(v, -0) ? '-0' : String(v)))).toEqual([
      '-1',
      '-0',
      '0',
      '1',
      'NaN',
      '1',
      '-1',
      '1',
      '-1',
      '1',
      '-1',
      '0',
      '-0',
    ]);
  });
});
