// Reductions over a set of axes (removed from the shape): sum, max, min, and argmax (one axis, i32).
import type { TensorType } from '../core/ir.ts';
import { alloc, type Tensor } from '../core/tensor.ts';
import { fail, stridesOf, type PrimDef } from './def.ts';
import type { ReducePrim } from '../core/prim_names.ts';
import { finish } from './elementwise.ts';

function reducedShape(prim: string, a: TensorType, axes: number[]): number[] {
  const seen = new Set<number>();
  for (const ax of axes) {
    if (!Number.isInteger(ax) || ax < 0 || ax >= a.shape.length || seen.has(ax)) fail(prim, `bad axes [${axes}]`, [a]);
    seen.add(ax);
  }
  return a.shape.filter((_, i) => !seen.has(i));
}

/** Calls f(outIndex, inIndex) for every input element, mapping it to its output element. */
function forEachReduced(shape: number[], axes: number[], f: (o: number, i: number, redPos: number) => void): void {
  const rank = shape.length;
  const keep = shape.map((_, i) => !axes.includes(i));
  const outShape = shape.filter((_, i) => keep[i]);
  const outStrides = stridesOf(outShape);
  const redShape = shape.filter((_, i) => !keep[i]);
  const redStrides = stridesOf(redShape);
  const oStride: number[] = [];
  const rStride: number[] = [];
  let ko = 0;
  let kr = 0;
  for (let d = 0; d < rank; d++) {
    if (keep[d]) {
      oStride.push(outStrides[ko++]!);
      rStride.push(0);
    } else {
      oStride.push(0);
      rStride.push(redStrides[kr++]!);
    }
  }
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(rank).fill(0);
  let o = 0;
  let r = 0;
  for (let i = 0; i < n; i++) {
    f(o, i, r);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      o += oStride[d]!;
      r += rStride[d]!;
      if (idx[d]! < shape[d]!) break;
      o -= oStride[d]! * shape[d]!;
      r -= rStride[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}

export function reducePrim<P extends ReducePrim>(name: P): PrimDef<P> {
  return {
    name,
    infer(args, p) {
      if (args.length !== 1) fail(name, 'expects 1 operand', args);
      const a = args[0]!;
      if (a.dtype === 'sign' || (a.dtype === 'bool' && name !== 'argmax'))
        fail(name, `not defined on ${a.dtype}`, args);
      if (name === 'argmax' && p.axes.length !== 1) fail(name, 'argmax takes exactly one axis', args);
      return [{ dtype: name === 'argmax' ? 'i32' : a.dtype, shape: reducedShape(name, a, p.axes) }];
    },
    eval([a], p, ctx): Tensor[] {
      const shape = reducedShape(name, a!, p.axes);
      const x = a!.data;
      if (name === 'argmax') {
        const out = alloc('i32', shape);
        const best = new Float64Array(out.data.length).fill(-Infinity);
        const seen = new Uint8Array(out.data.length);
        forEachReduced(a!.shape, p.axes, (o, i, r) => {
          const v = x[i]!;
          // first maximum wins; NaN counts as the maximum (as numpy/jax)
          if (!seen[o] || v > best[o]! || (Number.isNaN(v) && !Number.isNaN(best[o]!))) {
            best[o] = v;
            out.data[o] = r;
            seen[o] = 1;
          }
        });
        return [out];
      }
      // accumulate in f64, round once at the end
      const rank = a!.shape.length;
      if (p.axes.length === 1 && p.axes[0] === rank - 1 && a!.dtype === 'f32') {
        // the common case (softmax, norms): contiguous rows
        const len = a!.shape[rank - 1]!;
        const out = alloc('f32', shape, ctx.f64);
        const rows = out.data.length;
        for (let r = 0; r < rows; r++) {
          const base = r * len;
          let v = name === 'reduce_sum' ? 0 : x[base]!;
          if (name === 'reduce_sum') for (let i = 0; i < len; i++) v += x[base + i]!;
          else if (name === 'reduce_max')
            for (let i = 1; i < len; i++) {
              const y = x[base + i]!;
              if (y > v || Number.isNaN(y)) v = y;
            }
          else
            for (let i = 1; i < len; i++) {
              const y = x[base + i]!;
              if (y < v || Number.isNaN(y)) v = y;
            }
          out.data[r] = len === 0 ? (name === 'reduce_sum' ? 0 : name === 'reduce_max' ? -Infinity : Infinity) : v;
        }
        return [out];
      }
      const acc = new Float64Array(shape.reduce((s, d) => s * d, 1)).fill(
        name === 'reduce_sum' ? 0 : name === 'reduce_max' ? -Infinity : Infinity,
      );
      const op =
        name === 'reduce_sum'
          ? (o: number, v: number) => (acc[o]! += v)
          : name === 'reduce_max'
            ? (o: number, v: number) => (acc[o] = Number.isNaN(v) || v > acc[o]! ? v : acc[o]!)
            : (o: number, v: number) => (acc[o] = Number.isNaN(v) || v < acc[o]! ? v : acc[o]!);
      forEachReduced(a!.shape, p.axes, (o, i) => op(o, x[i]!));
      const out = alloc(a!.dtype, shape, ctx.f64);
      const fin = finish(a!.dtype);
      for (let i = 0; i < acc.length; i++) out.data[i] = fin(acc[i]!);
      return [out];
    },
  };
}
