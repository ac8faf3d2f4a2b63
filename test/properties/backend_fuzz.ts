// The Wasm backend's fuzzer (backend.test.ts and backend_b.test.ts each run one half, so the two
// halves run in parallel workers): on random programs (elementwise chains, broadcasts of
// reductions, transposes, matmuls, signlinear, gathers) over random shapes — size-1 dims and sizes
// not divisible by 4 or 32 included — the fused kernels, on an eighth of the cases the unfused
// kernels (one per equation) and on another eighth the fused kernels under a limit of 4 input
// buffers per kernel (split as WebGPU needs) agree with the reference interpreter within 1e-5 of
// the result's largest magnitude (normwise).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { closeNormwise } from '../helpers/close.ts';
import { compileWasm } from '../../compiler/pipeline.ts';
import { compile } from '../../compiler/api.ts';
import { alloc, type Tensor } from '../../runtime/core/tensor.ts';
import { mulberry32 } from '../../runtime/core/rng.ts';
import { RUNS, capNote, runParams, timeoutFor } from './fuzz.ts';

// RUNS cases in all, in two halves; each compiles one or two Wasm programs (binaryen optimizing
// each new kernel, ~3 ms)
const runs = Math.max(20, Math.floor(RUNS / 2));
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
  const params = 'x: f32[A, B], y: f32[A, B], idx: i32[3]';
  return (
    `import nn\nfn f[A, B](${params}) -> ${ty} {\n  let e = ${p.body}\n  ${ret}\n}\n` +
    (p.tail === 'argmax' ? `fn body[A, B](${params}) -> f32[A, B] = ${p.body}\n` : '')
  );
}

/** Whether a result that missed the normwise tolerance is as close to the reference as the
 *  reference itself is to its values at inputs moved by a few f32 ulps: an ill-conditioned result
 *  (cancellation inside, e.g. x + sum(x) of ±1 rows) differs between f32 (Wasm) and f64 (the
 *  reference's accumulation) by about that much, a wrong kernel by far more. */
function withinConditioning(got: Tensor, ref: Tensor, nearby: Tensor[]): boolean {
  let spread = 0;
  for (const r of nearby)
    for (let i = 0; i < ref.data.length; i++)
      spread = Math.max(spread, Math.abs((r.data[i] as number) - (ref.data[i] as number)));
  for (let i = 0; i < ref.data.length; i++) {
    const a = ref.data[i] as number;
    const b = got.data[i] as number;
    if (!Number.isFinite(a) || !Number.isFinite(b) || !Number.isFinite(spread)) return false;
    if (Math.abs(a - b) > 4 * spread + 1e-5 * Math.max(1, Math.abs(a))) return false;
  }
  return true;
}

/** The inputs with every value moved by ±`ulps` f32 ulps (signs from a seed). */
function moved(args: Tensor[], ulps: number, seed: number): Tensor[] {
  const r = mulberry32(seed);
  return args.map((t) => {
    if (t.dtype !== 'f32') return t;
    const c = alloc('f32', t.shape);
    for (let i = 0; i < t.data.length; i++) {
      const v = t.data[i] as number;
      c.data[i] = v * (1 + (r() < 0.5 ? -1 : 1) * ulps * 2 ** -23);
    }
    return c;
  });
}

/** Where the result differs from the reference beyond what f32 allows, as a message. An argmax
 *  may pick another index whose value is within the tolerance of the row's maximum (f32 rounding,
 *  and Wasm's exp approximation, decide near-ties), judged on the reference's values of its
 *  operand. */
function differs(
  got: Tensor,
  ref: Tensor,
  p: { tail: string },
  e: () => Tensor,
  nearby: () => Tensor[],
): string | undefined {
  const m = closeNormwise(got, ref, 1e-5);
  if (m && p.tail !== 'argmax') return withinConditioning(got, ref, nearby()) ? undefined : m;
  if (!m) return m;
  const v = e();
  const B = v.shape[1]!;
  let scale = 1;
  for (const x of v.data) if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x as number));
  for (let r = 0; r < ref.data.length; r++) {
    const row = Array.from(v.data.subarray(r * B, (r + 1) * B) as Float32Array);
    const at = got.data[r] as number;
    if (row.some(Number.isNaN) || !(at >= 0 && at < B)) {
      if (at !== ref.data[r]) return `argmax row ${r}: reference ${ref.data[r]}, got ${at}`;
      continue;
    }
    const best = Math.max(...row);
    if (!(row[at]! >= best - 1e-5 * scale))
      return `argmax row ${r}: got ${at} (value ${row[at]}), the maximum is ${best} at ${ref.data[r]}`;
  }
  return undefined;
}

export function rand(shape: number[], seed: number): Tensor {
  const t = alloc('f32', shape);
  const r = mulberry32(seed);
  for (let i = 0; i < t.data.length; i++) t.data[i] = Math.round((r() * 4 - 2) * 64) / 64;
  return t;
}

/** One half of the backend fuzzer (`half` 1 or 2). */
export function backendFuzz(half: 1 | 2): void {
  describe(`wasm backend: fused ≡ unfused ≡ reference (half ${half})`, () => {
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
            const ref = prog.runSync('f', args).tensors[0]!;
            const body = () => prog.runSync('body', args).tensors[0]!;
            const nearby = () => [1, 2].map((k) => prog.runSync('f', moved(args, 4, p.seed + k)).tensors[0]!);
            // every case fused; an eighth of them unfused too and an eighth split (each another
            // Wasm compile, the cost of a case)
            const variant = cases % 8;
            for (const noFusion of variant === 1 ? [false, true] : [false]) {
              const got = prog.runSync('f', args, { device: { kind: 'wasm' }, noFusion }).tensors[0]!;
              // normwise: f32 accumulation (wasm) vs f64 (reference) differs by cancellation in long sums
              const m = differs(got, ref, p, body, nearby);
              if (m) expect.fail(`${noFusion ? 'unfused' : 'fused'} ${m}\n${src}A=${p.A} B=${p.B}`);
            }
            if (variant !== 5) return;
            // fused under a binding limit (WebGPU's maxStorageBuffersPerShaderStage): kernels split
            const low = prog.lower('f', prog.argTypes(prog.entry('f'), args).types);
            const split = compileWasm(low.func, { maxInputs: 4 }).run(args)[0]!;
            const m = differs(split, ref, p, body, nearby);
            if (m) expect.fail(`fused with at most 4 inputs per kernel: ${m}\n${src}A=${p.A} B=${p.B}`);
          }),
          runParams(`backend ${half}/2`, runs),
        );
        const s = ((performance.now() - t0) / 1000).toFixed(1);
        console.log(
          `fuzz backend ${half}/2 (wasm fused, unfused, split ≡ interpreter): ${cases} cases` +
            `${capNote(`backend ${half}/2`, cases, runs)}, 0 mismatches, ${s} s`,
        );
      },
      timeoutFor(runs, 1000),
    );
  });
}
