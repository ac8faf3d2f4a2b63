import { compile } from '../compiler/api.ts';
import { alloc, packSigns } from '../runtime/tensor.ts';
import { mulberry32 } from '../runtime/rng.ts';
const p = compile(`fn sl[M, O, I](x: f32[M, I], s: sign[O, I], g: f32[I], h: f32[O]) -> f32[M, O] = signlinear(x, s, g, h)`, { path: 'b.obt' });
const rand = (shape: number[], seed: number) => { const t = alloc('f32', shape); const r = mulberry32(seed); for (let i = 0; i < t.data.length; i++) t.data[i] = r() * 2 - 1; return t; };
const N = 4096;
const w = rand([N, N], 1); const s = packSigns(w.data, [N, N]); const g = rand([N], 2); const h = rand([N], 3); const x = rand([1, N], 4);
for (const m of ['lut', 'xor']) {
  process.env.OBT_SIGNLINEAR = m;
  const low = p.lower('sl', p.argTypes(p.entry('sl'), [x, s, g, h]).types);
  const wp = p.wasm(low);
  const f = () => wp.run([x, s, g, h]);
  f(); f();
  const ts: number[] = [];
  for (let r = 0; r < 31; r++) { const t = performance.now(); f(); ts.push(performance.now() - t); }
  ts.sort((a, b) => a - b);
  console.log(m, ts[15]!.toFixed(3), 'ms', (N * N / ts[15]! / 1e6).toFixed(2), 'G w/s');
}
