// gather (take along one axis): out = x.shape[:axis] ++ idx.shape ++ x.shape[axis+1:];
// indices are i32 and clamped into range (as XLA does), so a lookup never reads out of bounds.
import type { TensorType } from '../core/ir.ts';
import { alloc, numel } from '../core/tensor.ts';
import { fail, type PrimDef } from './def.ts';

function gatherShape(prim: string, x: TensorType, idx: TensorType, axis: number): number[] {
  if (axis < 0 || axis >= x.shape.length) fail(prim, `bad axis ${axis}`, [x, idx]);
  if (idx.dtype !== 'i32') fail(prim, 'indices must be i32', [x, idx]);
  if (x.dtype === 'sign') fail(prim, 'not defined on sign', [x, idx]);
  return [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
}

export const gather: PrimDef<'gather'> = {
  name: 'gather',
  infer(args, p) {
    if (args.length !== 2) fail('gather', 'expects (x, indices)', args);
    return [{ dtype: args[0]!.dtype, shape: gatherShape('gather', args[0]!, args[1]!, p.axis) }];
  },
  eval([x, idx], p, ctx) {
    const shape = gatherShape('gather', x!, idx!, p.axis);
    const out = alloc(x!.dtype, shape, ctx.f64);
    const outer = numel(x!.shape.slice(0, p.axis));
    const n = x!.shape[p.axis]!;
    const inner = numel(x!.shape.slice(p.axis + 1));
    const m = idx!.data.length;
    let o = 0;
    for (let a = 0; a < outer; a++)
      for (let j = 0; j < m; j++) {
        const k = Math.min(Math.max(idx!.data[j]!, 0), n - 1);
        const base = (a * n + k) * inner;
        for (let i = 0; i < inner; i++) out.data[o++] = x!.data[base + i]!;
      }
    return [out];
  },
};

export const scatter_add: PrimDef<'scatter_add'> = {
  name: 'scatter_add',
  infer(args, p) {
    if (args.length !== 3) fail('scatter_add', 'expects (x, indices, updates)', args);
    const [x, idx, upd] = args as [TensorType, TensorType, TensorType];
    const want = gatherShape('scatter_add', x, idx, p.axis);
    if (upd.dtype !== x.dtype || upd.shape.length !== want.length || upd.shape.some((d, i) => d !== want[i]))
      fail('scatter_add', `updates must be ${x.dtype}[${want}]`, args);
    return [{ dtype: x.dtype, shape: x.shape }];
  },
  eval([x, idx, upd], p, ctx) {
    const out = alloc(x!.dtype, x!.shape, ctx.f64);
    out.data.set(x!.data as never);
    const outer = numel(x!.shape.slice(0, p.axis));
    const n = x!.shape[p.axis]!;
    const inner = numel(x!.shape.slice(p.axis + 1));
    const m = idx!.data.length;
    let u = 0;
    for (let a = 0; a < outer; a++)
      for (let j = 0; j < m; j++) {
        const k = Math.min(Math.max(idx!.data[j]!, 0), n - 1);
        const base = (a * n + k) * inner;
        for (let i = 0; i < inner; i++) out.data[base + i] += upd!.data[u++]!;
      }
    return [out];
  },
};
