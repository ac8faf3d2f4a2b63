// dynamic_slice / dynamic_update_slice: a window at run-time start indices (rank-0 i32 operands,
// one per axis), clamped so the window stays inside the operand (XLA semantics).
import type { TensorType } from '../core/ir.ts';
import { alloc, type Tensor } from '../core/tensor.ts';
import { fail, stridesOf, type PrimDef } from './def.ts';
import { stridedCopy } from './strided.ts';

function checkStarts(prim: string, x: TensorType, starts: TensorType[], all: TensorType[]): void {
  if (starts.length !== x.shape.length) fail(prim, 'one start index per axis', all);
  if (starts.some((s) => s.dtype !== 'i32' || s.shape.length !== 0))
    fail(prim, 'start indices must be rank-0 i32', all);
  if (x.dtype === 'sign') fail(prim, 'not defined on sign', all);
}

function clampedStarts(x: Tensor, starts: Tensor[], sizes: number[]): number[] {
  return starts.map((s, i) => Math.min(Math.max(s.data[0]!, 0), x.shape[i]! - sizes[i]!));
}

export const dynamic_slice: PrimDef<'dynamic_slice'> = {
  name: 'dynamic_slice',
  infer(args, p) {
    const [x, ...starts] = args as [TensorType, ...TensorType[]];
    if (!x) fail('dynamic_slice', 'expects (x, starts...)', args);
    checkStarts('dynamic_slice', x, starts, args);
    if (p.sizes.length !== x.shape.length || p.sizes.some((s, i) => s < 0 || s > x.shape[i]!))
      fail('dynamic_slice', `bad sizes [${p.sizes}]`, args);
    return [{ dtype: x.dtype, shape: p.sizes }];
  },
  eval([x, ...starts], p, ctx) {
    const st = stridesOf(x!.shape);
    const s0 = clampedStarts(x!, starts, p.sizes);
    return [
      stridedCopy(
        x!,
        p.sizes,
        st,
        s0.reduce((a, v, i) => a + v * st[i]!, 0),
        ctx.f64,
      ),
    ];
  },
};

export const dynamic_update_slice: PrimDef<'dynamic_update_slice'> = {
  name: 'dynamic_update_slice',
  infer(args) {
    const [x, u, ...starts] = args as [TensorType, TensorType, ...TensorType[]];
    if (!x || !u) fail('dynamic_update_slice', 'expects (x, update, starts...)', args);
    checkStarts('dynamic_update_slice', x, starts, args);
    if (u.dtype !== x.dtype || u.shape.length !== x.shape.length || u.shape.some((d, i) => d > x.shape[i]!))
      fail('dynamic_update_slice', 'update must fit inside the operand', args);
    return [{ dtype: x.dtype, shape: x.shape }];
  },
  eval([x, u, ...starts], _p, ctx) {
    const out = alloc(x!.dtype, x!.shape, ctx.f64);
    out.data.set(x!.data as never);
    const st = stridesOf(x!.shape);
    const s0 = clampedStarts(x!, starts, u!.shape);
    const us = stridesOf(u!.shape);
    for (let i = 0; i < u!.data.length; i++) {
      let o = 0;
      for (let d = 0; d < us.length; d++) o += ((Math.floor(i / us[d]!) % u!.shape[d]!) + s0[d]!) * st[d]!;
      out.data[o] = u!.data[i]!;
    }
    return [out];
  },
};
