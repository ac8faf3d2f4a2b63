// Snapshots of every IR a few small programs pass through — Core IR after clean-up, the Kernel IR
// of the fused schedule, the Wasm plan, the WebGPU WGSL — in test/backends/snapshots/. A change to
// any pass shows up as a reviewed diff of these files (`npx vitest run -u` rewrites them) rather
// than only as a numeric mismatch somewhere downstream.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { compile } from '../../compiler/api.ts';
import { optimizeCore, plan, schedule } from '../../compiler/pipeline.ts';
import { printFunc } from '../../compiler/core/print.ts';
import { printKernel } from '../../compiler/kir/print.ts';
import { printPlan } from '../../compiler/plan/plan.ts';
import { WASM_PLAN } from '../../compiler/backends/wasm/artifact/target.ts';
import { planWgsl, webgpuPlan } from '../../compiler/backends/webgpu/artifact/target.ts';
import { alloc, type Tensor } from '../../runtime/core/tensor.ts';

const PROGRAMS: { name: string; src: string; args: () => Tensor[] }[] = [
  {
    name: 'rmsnorm_silu',
    src: `import nn\npub fn f(x: f32[4, 8], w: f32[8]) -> f32[4, 8] = silu(rmsnorm(x, w))\n`,
    args: () => [alloc('f32', [4, 8]), alloc('f32', [8])],
  },
  {
    name: 'softmax_matmul',
    src: `import nn\npub fn f(q: f32[3, 16], k: f32[5, 16]) -> f32[3, 5] = softmax(q @ transpose(k) * 0.25, axis: -1)\n`,
    args: () => [alloc('f32', [3, 16]), alloc('f32', [5, 16])],
  },
  {
    name: 'signlinear',
    src: `pub fn f(x: f32[2, 40], w: f32[6, 40], g: f32[40], h: f32[6]) -> f32[2, 6] = signlinear(x, pack_sign(w), g, h)\n`,
    args: () => [alloc('f32', [2, 40]), alloc('f32', [6, 40]), alloc('f32', [40]), alloc('f32', [6])],
  },
  {
    name: 'grad_sum_tanh',
    src: `pub fn f(x: f32[7]) -> f32[7] = grad(fn(y) { sum(tanh(y) * y) }, x)\n`,
    args: () => [alloc('f32', [7])],
  },
];

describe('IR snapshots', () => {
  for (const p of PROGRAMS) {
    it(p.name, async () => {
      const prog = compile(p.src, { path: `${p.name}.obt` });
      expect(prog.diagnostics).toEqual([]);
      const low = prog.lower('f', prog.argTypes(prog.entry('f'), p.args()).types);
      const core = optimizeCore(low.func, 'f');
      const kir = schedule(core, WASM_PLAN)
        .steps.map((s) => (s.kind === 'kernel' ? printKernel(s.kernel) : `host ${s.eqn.prim}`))
        .join('\n\n');
      const text = [
        `// ${p.name}: ${p.src.trim().split('\n').pop()}`,
        '// ---- core',
        printFunc(core),
        '// ---- kernel IR (fused, Wasm target)',
        kir,
        '// ---- plan (Wasm)',
        printPlan(plan(core, WASM_PLAN)),
        '// ---- WGSL (8 storage buffers)',
        planWgsl(plan(core, webgpuPlan(8))).kernels.join('\n'),
        '',
      ].join('\n');
      await expect(text).toMatchFileSnapshot(join(import.meta.dirname, `snapshots/${p.name}.txt`));
    });
  }
});
