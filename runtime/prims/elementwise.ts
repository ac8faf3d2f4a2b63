// Elementwise primitives: unary math, binary arithmetic/bitwise, comparisons, select and convert.
// Operands of an elementwise primitive have identical shapes (lowering inserts broadcast_in_dim),
// except that a rank-0 literal operand stands for a filled tensor.
import { alloc, roundEven, roundF16, type Tensor } from '../core/tensor.ts';
import { isFloat, isInt, type DType } from '../core/dtype.ts';
import { fail, type PrimDef } from './def.ts';
import type { TensorType } from '../core/ir.ts';
import type { BinaryPrim, ComparePrim, UnaryPrim } from '../core/prim_names.ts';

type Num = (x: number) => number;

/** Brings a computed number into the value set of a dtype. */
export function finish(dtype: DType): Num {
  switch (dtype) {
    case 'f16':
      return roundF16;
    case 'i32':
      return (x) => x | 0;
    case 'u32':
      return (x) => x >>> 0;
    case 'bool':
      return (x) => (x ? 1 : 0);
    default:
      return (x) => x;
  }
}

/** The common shape of elementwise operands: rank-0 operands broadcast, others must agree. */
function elementwiseShape(prim: string, args: TensorType[]): number[] {
  let shape: number[] | undefined;
  for (const a of args) {
    if (a.shape.length === 0) continue;
    if (!shape) shape = a.shape;
    else if (shape.length !== a.shape.length || shape.some((d, i) => d !== a.shape[i]))
      fail(prim, 'operand shapes differ', args);
  }
  return shape ?? [];
}

function mapN(args: Tensor[], out: Tensor, f: (...xs: number[]) => number): void {
  const n = out.data.length;
  const fin = finish(out.dtype);
  const ds = args.map((a) => a.data);
  const scal = args.map((a) => a.shape.length === 0 && n !== 1);
  if (ds.length === 1) {
    const a = ds[0]!;
    for (let i = 0; i < n; i++) out.data[i] = fin(f(a[scal[0] ? 0 : i]!));
  } else if (ds.length === 2) {
    const [a, b] = ds as unknown as [ArrayLike<number>, ArrayLike<number>];
    const [sa, sb] = scal;
    for (let i = 0; i < n; i++) out.data[i] = fin(f(a[sa ? 0 : i]!, b[sb ? 0 : i]!));
  } else {
    for (let i = 0; i < n; i++) out.data[i] = fin(f(...ds.map((d, k) => d[scal[k] ? 0 : i]!)));
  }
}

const unaryFns: Record<UnaryPrim, { f: Num; allow: (d: DType) => boolean }> = {
  neg: { f: (x) => -x, allow: (d) => d !== 'bool' && d !== 'sign' && d !== 'u32' },
  abs: { f: Math.abs, allow: (d) => d !== 'bool' && d !== 'sign' },
  exp: { f: Math.exp, allow: isFloat },
  log: { f: Math.log, allow: isFloat },
  sqrt: { f: Math.sqrt, allow: isFloat },
  rsqrt: { f: (x) => 1 / Math.sqrt(x), allow: isFloat },
  sin: { f: Math.sin, allow: isFloat },
  cos: { f: Math.cos, allow: isFloat },
  tanh: { f: Math.tanh, allow: isFloat },
  sigmoid: { f: (x) => 1 / (1 + Math.exp(-x)), allow: isFloat },
  sign: { f: (x) => (x > 0 ? 1 : x < 0 ? -1 : x), allow: (d) => d !== 'bool' && d !== 'sign' },
  floor: { f: Math.floor, allow: isFloat },
  ceil: { f: Math.ceil, allow: isFloat },
  round: { f: roundEven, allow: isFloat },
  not: { f: (x) => (x ? 0 : 1), allow: (d) => d === 'bool' },
};

/** The scalar rule of a unary primitive (what the reference computes per element, before rounding
 *  to the dtype) and the dtypes it is defined on: the checker's dtype rules and constant folding
 *  are derived from it. */
export function unaryScalar(p: UnaryPrim): { f: (x: number) => number; allow: (d: DType) => boolean } {
  return unaryFns[p];
}

export function unaryPrim<P extends UnaryPrim>(name: P): PrimDef<P> {
  const { f, allow } = unaryFns[name];
  return {
    name,
    infer(args) {
      if (args.length !== 1) fail(name, 'expects 1 operand', args);
      if (!allow(args[0]!.dtype)) fail(name, `not defined on ${args[0]!.dtype}`, args);
      return [{ dtype: args[0]!.dtype, shape: args[0]!.shape }];
    },
    eval([a], _p, ctx) {
      const out = alloc(a!.dtype, a!.shape, ctx.f64);
      if (a!.dtype === 'f32') {
        const x = a!.data;
        const o = out.data;
        for (let i = 0; i < o.length; i++) o[i] = f(x[i]!);
      } else mapN([a!], out, f);
      return [out];
    },
  };
}

type BinSpec = { f: (x: number, y: number, d: DType) => number; allow: (d: DType) => boolean };
const numeric = (d: DType) => d !== 'bool' && d !== 'sign';
const bitwise = (d: DType) => isInt(d) || d === 'bool';

const binaryFns: Record<BinaryPrim, BinSpec> = {
  add: { f: (x, y) => x + y, allow: numeric },
  sub: { f: (x, y) => x - y, allow: numeric },
  mul: { f: (x, y, d) => (isInt(d) ? Math.imul(x, y) : x * y), allow: numeric },
  div: { f: (x, y, d) => (isInt(d) ? (y === 0 ? 0 : Math.trunc(x / y)) : x / y), allow: numeric },
  rem: { f: (x, y, d) => (isInt(d) && y === 0 ? 0 : x % y), allow: numeric },
  pow: { f: (x, y) => Math.pow(x, y), allow: numeric },
  max: { f: (x, y) => Math.max(x, y), allow: numeric },
  min: { f: (x, y) => Math.min(x, y), allow: numeric },
  and: { f: (x, y) => x & y, allow: bitwise },
  or: { f: (x, y) => x | y, allow: bitwise },
  xor: { f: (x, y) => x ^ y, allow: bitwise },
  shl: { f: (x, y) => (y >= 32 ? 0 : x << y), allow: isInt },
  shr: { f: (x, y, d) => (d === 'u32' ? (y >= 32 ? 0 : x >>> y) : x >> Math.min(y, 31)), allow: isInt },
};

/** Float fast paths: plain loops without per-element dtype handling (typed arrays round on store). */
const FLOAT_FAST: Partial<
  Record<
    BinaryPrim,
    (a: ArrayLike<number>, b: ArrayLike<number>, o: Float32Array | Float64Array, sa: boolean, sb: boolean) => void
  >
> = {
  add: (a, b, o, sa, sb) => {
    const n = o.length;
    if (!sa && !sb) for (let i = 0; i < n; i++) o[i] = a[i]! + b[i]!;
    else if (sb) for (let i = 0, y = b[0]!; i < n; i++) o[i] = a[i]! + y;
    else for (let i = 0, x = a[0]!; i < n; i++) o[i] = x + b[i]!;
  },
  sub: (a, b, o, sa, sb) => {
    const n = o.length;
    if (!sa && !sb) for (let i = 0; i < n; i++) o[i] = a[i]! - b[i]!;
    else if (sb) for (let i = 0, y = b[0]!; i < n; i++) o[i] = a[i]! - y;
    else for (let i = 0, x = a[0]!; i < n; i++) o[i] = x - b[i]!;
  },
  mul: (a, b, o, sa, sb) => {
    const n = o.length;
    if (!sa && !sb) for (let i = 0; i < n; i++) o[i] = a[i]! * b[i]!;
    else if (sb) for (let i = 0, y = b[0]!; i < n; i++) o[i] = a[i]! * y;
    else for (let i = 0, x = a[0]!; i < n; i++) o[i] = x * b[i]!;
  },
  div: (a, b, o, sa, sb) => {
    const n = o.length;
    if (!sa && !sb) for (let i = 0; i < n; i++) o[i] = a[i]! / b[i]!;
    else if (sb) for (let i = 0, y = b[0]!; i < n; i++) o[i] = a[i]! / y;
    else for (let i = 0, x = a[0]!; i < n; i++) o[i] = x / b[i]!;
  },
};

export function binaryPrim<P extends BinaryPrim>(name: P): PrimDef<P> {
  const { f, allow } = binaryFns[name];
  const fast = FLOAT_FAST[name];
  return {
    name,
    infer(args) {
      if (args.length !== 2) fail(name, 'expects 2 operands', args);
      const [a, b] = args as [TensorType, TensorType];
      if (a.dtype !== b.dtype) fail(name, 'operand dtypes differ', args);
      if (!allow(a.dtype)) fail(name, `not defined on ${a.dtype}`, args);
      return [{ dtype: a.dtype, shape: elementwiseShape(name, args) }];
    },
    eval(args, _p, ctx) {
      const dtype = args[0]!.dtype;
      const out = alloc(dtype, elementwiseShape(name, args), ctx.f64);
      if (fast && dtype === 'f32') {
        const n = out.data.length;
        fast(
          args[0]!.data,
          args[1]!.data,
          out.data as Float32Array,
          args[0]!.shape.length === 0 && n !== 1,
          args[1]!.shape.length === 0 && n !== 1,
        );
      } else mapN(args, out, (x, y) => f(x!, y!, dtype));
      return [out];
    },
  };
}

const compareFns: Record<ComparePrim, (x: number, y: number) => boolean> = {
  eq: (x, y) => x === y,
  ne: (x, y) => x !== y,
  lt: (x, y) => x < y,
  le: (x, y) => x <= y,
  gt: (x, y) => x > y,
  ge: (x, y) => x >= y,
};

export function comparePrim<P extends ComparePrim>(name: P): PrimDef<P> {
  const f = compareFns[name];
  return {
    name,
    infer(args) {
      if (args.length !== 2) fail(name, 'expects 2 operands', args);
      if (args[0]!.dtype !== args[1]!.dtype) fail(name, 'operand dtypes differ', args);
      if (args[0]!.dtype === 'sign') fail(name, 'not defined on sign', args);
      return [{ dtype: 'bool', shape: elementwiseShape(name, args) }];
    },
    eval(args) {
      const out = alloc('bool', elementwiseShape(name, args));
      mapN(args, out, (x, y) => (f(x!, y!) ? 1 : 0));
      return [out];
    },
  };
}

export const select: PrimDef<'select'> = {
  name: 'select',
  infer(args) {
    if (args.length !== 3) fail('select', 'expects (cond, a, b)', args);
    const [c, a, b] = args as [TensorType, TensorType, TensorType];
    if (c.dtype !== 'bool') fail('select', 'condition must be bool', args);
    if (a.dtype !== b.dtype) fail('select', 'branch dtypes differ', args);
    return [{ dtype: a.dtype, shape: elementwiseShape('select', args) }];
  },
  eval(args, _p, ctx) {
    const out = alloc(
      args[1]!.dtype,
      elementwiseShape(
        'select',
        args.map((a) => ({ dtype: a.dtype, shape: a.shape })),
      ),
      ctx.f64,
    );
    const n = out.data.length;
    const [c, a, b] = args.map((t) => t.data) as unknown as [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>];
    const [sc, sa, sb] = args.map((t) => t.shape.length === 0 && n !== 1);
    for (let i = 0; i < n; i++) out.data[i] = c[sc ? 0 : i] ? a[sa ? 0 : i]! : b[sb ? 0 : i]!;
    return [out];
  },
};

export const convert: PrimDef<'convert'> = {
  name: 'convert',
  infer(args, p) {
    if (args.length !== 1) fail('convert', 'expects 1 operand', args);
    if (args[0]!.dtype === 'sign' || p.dtype === 'sign')
      fail('convert', 'sign converts only through pack_sign/unpack_sign', args);
    return [{ dtype: p.dtype, shape: args[0]!.shape }];
  },
  eval([a], p, ctx) {
    const out = alloc(p.dtype, a!.shape, ctx.f64);
    const from = a!.dtype;
    // float -> int truncates toward zero (C semantics); int -> bool is x != 0
    const f: Num =
      isFloat(from) && isInt(p.dtype) ? Math.trunc : p.dtype === 'bool' ? (x) => (x !== 0 ? 1 : 0) : (x) => x;
    mapN([a!], out, f);
    return [out];
  },
};
