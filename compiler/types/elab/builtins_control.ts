// Built-in higher-order functions: iterate, fold, map, scan, tmap over parameter trees, and
// differentiation (grad, value_and_grad, vjp) through the AD transform.
import { funcWork, within } from '../../core/budget.ts';
import { UserError, type Span } from '../../syntax/diag.ts';
import { dimEq, dimToString, type Dim } from '../dim.ts';
import { hasError, isFloat, typeEq, typeToString, type Type } from '../types.ts';
import { ERRV, staticNumber, type Val } from './vals.ts';
import * as ops from './ops.ts';
import { CoreBuilder } from './builder.ts';
import { gradFunc } from '../../ad/vjp.ts';
import { Reported } from './elab.ts';
import { arrayLen, fill } from './builtins_tensor.ts';
import { arity, axesArg, tensorArg, type Builtin, type CallInfo } from './builtin_args.ts';

// ---- higher-order --------------------------------------------------------------------------------

export function fnArg(c: CallInfo, i: number): Extract<Val, { k: 'closure' }> {
  const f = c.args[i];
  if (!f || f.k !== 'closure')
    throw new UserError(
      `${c.name} expects a function as argument ${i + 1}, such as fn(x) { ... }`,
      c.spans[i] ?? c.span,
    );
  return f;
}

/** Applies a function argument; an erroneous result (already reported) abandons the builtin. */
export function call(c: CallInfo, f: Extract<Val, { k: 'closure' }>, args: Val[]): Val {
  const r = c.el.applyCallable(
    f,
    args,
    args.map(() => c.span),
    new Map(),
    c.span,
    c.fx,
  );
  if (r.k === 'error' || hasError(r.t as Type)) throw new Reported();
  return r;
}

export const iterate: Builtin = (c) => {
  arity(c, 3);
  const nv = c.args[0]!;
  const init = c.args[1]!;
  const f = fnArg(c, 2);
  if (nv.k !== 'tensor' || nv.t.shape.length || (nv.t.dtype !== 'i32' && nv.t.dtype !== 'u32'))
    throw new UserError(`iterate expects an integer count, found ${typeToString(nv.t as Type)}`, c.spans[0]!);
  if (!c.el.b) {
    const r = call(c, f, [init]);
    c.el.coerceTo(r, init.t as Type, c.span, 'the step of iterate must return the state it takes');
    return init.k === 'tensor' ? ops.tval(init.t.dtype, init.t.shape) : c.el.placeholder(init.t as Type);
  }
  const n = staticNumber(nv.st);
  if (n === undefined || !Number.isInteger(n) || n < 0)
    throw new UserError(
      `the count of iterate must be a non-negative integer known at compile time`,
      c.spans[0]!,
      'pass a literal, or a parameter given a literal by its caller',
    );
  const outer = c.el.b;
  const t = init.t as Type;
  const body = new (outer.constructor as typeof import('./builder.ts').CoreBuilder)(c.el.supply, outer, true);
  c.el.b = body;
  let res;
  try {
    const leaves = c.el.leafTypes(t, 'carry').map((l) => body.param(l.t, 'carry'));
    let k = 0;
    const state = c.el.fromLeaves(t, () => leaves[k++]!);
    const r = c.el.coerceTo(call(c, f, [state]), t, c.span, 'the step of iterate must return the state it takes');
    res = body.finish(c.el.atoms(r), true);
  } finally {
    c.el.b = outer;
  }
  // a loop written in a model file's method runs untrusted trip counts: bounded by the budget
  if (c.el.prog.sealed.has(c.fx.module.id))
    within('sealedLoopWork', n * funcWork(res.func), 'this loop runs this many equations', c.span);
  const initAtoms = c.el.atoms(init);
  const outs = outer.emit('iterate', [...res.captured, ...initAtoms], {
    n,
    nconst: res.captured.length,
    body: res.func,
  });
  let j = 0;
  return c.el.fromLeaves(t, () => outs[j++]!);
};

function arrayArg(c: CallInfo, i: number): Extract<Val, { k: 'array' }> {
  const a0 = c.args[i];
  const a = a0?.k === 'list' ? c.el.listToTensor(a0) : a0;
  if (!a || a.k !== 'array')
    throw new UserError(
      `${c.name} expects an array of structs or tensors, found ${a ? typeToString(a.t as Type) : 'nothing'}`,
      c.spans[i] ?? c.span,
    );
  return a;
}

/** fold(xs..., init, fn(acc, x...)) and scan(...): the arrays, the initial carry, the step. */
function loopArgs(c: CallInfo): {
  arrs: Extract<Val, { k: 'array' }>[];
  init: Val;
  f: Extract<Val, { k: 'closure' }>;
} {
  if (c.args.length < 3)
    throw new UserError(
      `${c.name} expects arrays, an initial value and a function: ${c.name}(xs, init, fn(acc, x) { ... })`,
      c.span,
    );
  const f = fnArg(c, c.args.length - 1);
  const init = c.args[c.args.length - 2]!;
  const arrs = c.args.slice(0, -2).map((_, i) => arrayArg(c, i));
  const len = arrs[0]!.t.len;
  arrs.forEach((a, i) => {
    if (!dimEq(a.t.len, len))
      throw new UserError(
        `${c.name}: arrays differ in length (${dimToString(len)} and ${dimToString(a.t.len)})`,
        c.spans[i]!,
      );
  });
  return { arrs, init, f };
}

export const fold: Builtin = (c) => {
  const { arrs, init, f } = loopArgs(c);
  let acc = init;
  const t = acc.t as Type;
  if (!arrs[0]!.elems) {
    const r = call(c, f, [acc, ...arrs.map((a) => c.el.arrayElem(a, undefined, c.span))]);
    c.el.coerceTo(r, t, c.span, 'the step of fold must return the accumulator type');
    return c.el.placeholder(t);
  }
  for (let i = 0; i < arrs[0]!.elems.length; i++)
    acc = c.el.coerceTo(
      call(c, f, [acc, ...arrs.map((a) => a.elems![i]!)]),
      t,
      c.span,
      'the step of fold must return the accumulator type',
    );
  return acc;
};

export const mapB: Builtin = (c) => {
  if (c.args.length < 2) throw new UserError(`map expects arrays and a function: map(xs, fn(x) { ... })`, c.span);
  const f = fnArg(c, c.args.length - 1);
  const arrs = c.args.slice(0, -1).map((_, i) => arrayArg(c, i));
  const len = arrs[0]!.t.len;
  arrs.forEach((a, i) => {
    if (!dimEq(a.t.len, len))
      throw new UserError(
        `map: arrays differ in length (${dimToString(len)} and ${dimToString(a.t.len)})`,
        c.spans[i]!,
      );
  });
  if (!arrs[0]!.elems) {
    const r = call(
      c,
      f,
      arrs.map((a) => c.el.arrayElem(a, undefined, c.span)),
    );
    if (r.k === 'error') return r;
    return { k: 'array', t: { k: 'array', elem: r.t as Type, len } };
  }
  const outs = arrs[0]!.elems.map((_, i) =>
    call(
      c,
      f,
      arrs.map((a) => a.elems![i]!),
    ),
  );
  if (outs.some((o) => o.k === 'error')) return ERRV;
  const rt = outs[0]!.t as Type;
  return { k: 'array', t: { k: 'array', elem: rt, len }, elems: outs };
};

export const scan: Builtin = (c) => {
  const { arrs, init, f } = loopArgs(c);
  let acc = init;
  const t = acc.t as Type;
  const split = (r: Val): [Val, Val] => {
    if (r.k !== 'tuple' || r.elems.length !== 2)
      throw new UserError(`the step of scan must return (carry, output), found ${typeToString(r.t as Type)}`, c.span);
    return [c.el.coerceTo(r.elems[0]!, t, c.span, 'the carry of scan'), r.elems[1]!];
  };
  const len = arrs[0]!.t.len;
  if (!arrs[0]!.elems) {
    const [, o] = split(call(c, f, [acc, ...arrs.map((a) => c.el.arrayElem(a, undefined, c.span))]));
    const at = { k: 'array' as const, elem: o.t as Type, len };
    return c.el.tuple([c.el.placeholder(t), { k: 'array', t: at }]);
  }
  const outs: Val[] = [];
  for (let i = 0; i < arrs[0]!.elems.length; i++) {
    const [a, o] = split(call(c, f, [acc, ...arrs.map((x) => x.elems![i]!)]));
    acc = a;
    outs.push(o);
  }
  const at = { k: 'array' as const, elem: outs[0]!.t as Type, len };
  return c.el.tuple([acc, { k: 'array', t: at, elems: outs }]);
};

/** Leafwise map over trees of one type (structs, tuples, arrays of tensors). */
export const tmap: Builtin = (c) => {
  if (c.args.length < 2)
    throw new UserError(`tmap expects a function and trees: tmap(fn(p, g) { ... }, params, grads)`, c.span);
  const f = fnArg(c, 0);
  const trees = c.args.slice(1);
  const t0 = trees[0]!.t as Type;
  trees.forEach((tr, i) => {
    if (!typeEq(tr.t as Type, t0))
      throw new UserError(
        `tmap: tree ${i + 1} is ${typeToString(tr.t as Type)}, but tree 1 is ${typeToString(t0)}`,
        c.spans[i + 1]!,
      );
  });
  return tmapRec(c, f, trees);
};

function tmapRec(c: CallInfo, f: Extract<Val, { k: 'closure' }>, trees: Val[]): Val {
  const v0 = trees[0]!;
  switch (v0.k) {
    case 'tensor': {
      const r = call(c, f, trees);
      return c.el.coerceTo(r, v0.t, c.span, 'tmap must keep each leaf type');
    }
    case 'tuple':
      return c.el.tuple(
        v0.elems.map((_, i) =>
          tmapRec(
            c,
            f,
            trees.map((t) => (t as typeof v0).elems[i]!),
          ),
        ),
        v0.t.names,
      );
    case 'array': {
      if (!v0.elems) {
        tmapRec(
          c,
          f,
          trees.map((t) => c.el.arrayElem(t as typeof v0, undefined, c.span)),
        );
        return { k: 'array', t: v0.t };
      }
      return {
        k: 'array',
        t: v0.t,
        elems: v0.elems.map((_, i) =>
          tmapRec(
            c,
            f,
            trees.map((t) => (t as typeof v0).elems![i]!),
          ),
        ),
      };
    }
    case 'struct': {
      const fields = new Map<string, Val>();
      const fs = trees.map((t) => c.el.fieldsOf(t as typeof v0));
      for (const name of fs[0]!.keys())
        fields.set(
          name,
          tmapRec(
            c,
            f,
            fs.map((m) => m.get(name)!),
          ),
        );
      return { k: 'struct', t: v0.t, fields };
    }
    default:
      throw new UserError(`tmap cannot map over ${typeToString(v0.t as Type)}`, c.span);
  }
}

/** tree_sum(tree, fn(leaf) -> scalar): the sum over a tree's leaves (e.g. a global gradient norm). */
export const treeSum: Builtin = (c) => {
  arity(c, 2);
  const f = fnArg(c, 1);
  let acc: ops.TVal | undefined;
  const visit = (v: Val): void => {
    switch (v.k) {
      case 'tensor': {
        const r = call(c, f, [v]);
        if (r.k !== 'tensor' || r.t.shape.length !== 0 || !isFloat(r.t.dtype))
          throw new UserError(
            `the function of tree_sum must return a float scalar, found ${typeToString(r.t as Type)}`,
            c.spans[1]!,
          );
        acc = acc ? ops.binary(c.el, 'add', acc, r, c.span, '+') : r;
        return;
      }
      case 'tuple':
        return v.elems.forEach(visit);
      case 'array':
        if (!v.elems) {
          // checking: one element stands for all; the result is a scalar either way
          return visit(c.el.arrayElem(v, undefined, c.span));
        }
        return v.elems.forEach(visit);
      case 'struct':
        return [...c.el.fieldsOf(v).values()].forEach(visit);
      default:
        throw new UserError(`tree_sum cannot walk ${typeToString(v.t as Type)}`, c.spans[0]!);
    }
  };
  visit(c.args[0]!);
  return acc ?? ops.tval('f32', [], undefined, { k: 'float', v: 0 });
};

/** `$zero`: zeros like one tensor leaf (what zeros_like maps over a tree). */
export const zeroLeaf: Builtin = (c) => fill(c, 0, (c.args[0] as ops.TVal).t.shape, (c.args[0] as ops.TVal).t.dtype);

export const zerosLike: Builtin = (c) => {
  arity(c, 1);
  const f: Extract<Val, { k: 'closure' }> = {
    k: 'closure',
    t: { k: 'fn' },
    name: '$zero',
    scope: new Map(),
    env: c.fx.env,
    module: c.fx.module,
    builtin: '$zero',
  };
  return tmapRec(c, f, [c.args[0]!]);
};

export const lenB: Builtin = (c) => {
  arity(c, 1);
  return ops.tval('i32', [], undefined, { k: 'int', d: arrayLen(c, 0) });
};

export const sizeB: Builtin = (c) => {
  arity(c, 1, 1, ['axis']);
  const x = tensorArg(c, 0);
  const ax = ops.normAxis(x.t.shape, axesArg(c)?.[0] ?? 0, c.span);
  return ops.tval('i32', [], undefined, { k: 'int', d: (x.t.shape[ax] as { d: Dim }).d });
};

export const stopGradient: Builtin = (c) => {
  arity(c, 1);
  const x = tensorArg(c, 0);
  return ops.emitted(c.el, x.t.dtype, x.t.shape, (b) => b.emit1('stop_gradient', [ops.atomOf(c.el, x)], {}));
};

/** Float leaves only: the type of a gradient with respect to a value of type t. */
function checkDifferentiable(t: Type, span: Span): void {
  const walk = (x: Type): void => {
    if (x.k === 'tensor' && !isFloat(x.dtype))
      throw new UserError(
        `cannot differentiate with respect to a ${typeToString(x)} value`,
        span,
        'differentiate with respect to a struct of float tensors; pass integer data through the closure',
      );
    if (x.k === 'tuple') x.elems.forEach(walk);
    if (x.k === 'array') walk(x.elem);
  };
  walk(t);
}

export const gradB =
  (withValue: boolean): Builtin =>
  (c) => {
    arity(c, 2);
    const f = fnArg(c, 0);
    const x = c.args[1]!;
    checkDifferentiable(x.t as Type, c.spans[1]!);
    if (x.k === 'struct') for (const fl of c.el.structFields(x.t)) checkDifferentiable(fl.t, c.spans[1]!);
    if (c.el.b) return lowerGrad(c, f, x, withValue);
    const r = call(c, f, [x]);
    if (r.k !== 'tensor' || r.t.shape.length !== 0 || !isFloat(r.t.dtype))
      throw new UserError(
        `${c.name} needs a function returning a float scalar, found ${typeToString(r.t as Type)}`,
        c.spans[0]!,
      );
    const g = c.el.placeholder(x.t as Type);
    return withValue ? c.el.tuple([ops.tval(r.t.dtype, []), g]) : g;
  };

/**
 * Lowers a differentiation: the closure applied to fresh parameters (one per leaf of x) becomes a
 * closed Func whose captured values are extra, non-differentiated parameters; `outputs` turns its
 * result into [scalar to differentiate, values to return too]; the AD transform's gradient program
 * is inlined at the call. Returns the returned values and the gradient (of x's type).
 */
function differentiate(
  c: CallInfo,
  f: Extract<Val, { k: 'closure' }>,
  x: Val,
  outputs: (y: Val) => ops.TVal[],
): { values: import('../../../runtime/core/ir.ts').Atom[]; grad: Val } {
  const outer = c.el.b!;
  const t = x.t as Type;
  const sub = new CoreBuilder(c.el.supply, outer, true);
  c.el.b = sub;
  let res: {
    func: import('../../../runtime/core/ir.ts').Func;
    captured: import('../../../runtime/core/ir.ts').Var[];
  };
  let nx: number;
  let nout: number;
  try {
    const xv = c.el.paramValue(sub, t, 'x');
    nx = sub.params.length;
    const outs = outputs(call(c, f, [xv]));
    nout = outs.length;
    res = sub.finish(outs.map((o) => ops.atomOf(c.el, o)));
  } finally {
    c.el.b = outer;
  }
  const g = gradFunc(res.func, nx, c.el.supply);
  const outs = outer.inline(g, [...c.el.atoms(x), ...res.captured]);
  let k = nout;
  return { values: outs.slice(0, nout), grad: c.el.fromLeaves(t, () => outs[k++]!) };
}

/** grad / value_and_grad when lowering. */
function lowerGrad(c: CallInfo, f: Extract<Val, { k: 'closure' }>, x: Val, withValue: boolean): Val {
  const { values, grad } = differentiate(c, f, x, (r) => {
    if (r.k !== 'tensor' || r.t.shape.length !== 0 || !isFloat(r.t.dtype))
      throw new UserError(
        `${c.name} needs a function returning a float scalar, found ${typeToString(r.t as Type)}`,
        c.spans[0]!,
      );
    return [r];
  });
  return withValue ? c.el.tuple([ops.tval('f32', [], values[0]), grad]) : grad;
}

/** vjp(f, x, ct) = (f(x), the cotangent of x for output cotangent ct): the gradient of ⟨f(x), ct⟩. */
export const vjpB: Builtin = (c) => {
  arity(c, 3);
  const f = fnArg(c, 0);
  const x = c.args[1]!;
  const ct = tensorArg(c, 2);
  checkDifferentiable(x.t as Type, c.spans[1]!);
  const checkOut = (y: Val): ops.TVal => {
    if (y.k !== 'tensor' || !isFloat(y.t.dtype))
      throw new UserError(
        `vjp needs a function returning a float tensor, found ${typeToString(y.t as Type)}`,
        c.spans[0]!,
      );
    if (!typeEq(y.t, ct.t))
      throw new UserError(
        `vjp: the cotangent must have the output's type ${typeToString(y.t)}, found ${typeToString(ct.t)}`,
        c.spans[2]!,
      );
    return y;
  };
  if (!c.el.b) {
    const y = checkOut(call(c, f, [x]));
    return c.el.tuple([ops.tval(y.t.dtype, y.t.shape), c.el.placeholder(x.t as Type)]);
  }
  let yt!: ops.TVal;
  const { values, grad } = differentiate(c, f, x, (r) => {
    yt = checkOut(r);
    const prod = ops.binary(c.el, 'mul', yt, ct, c.span, '*');
    const dot = yt.t.shape.length ? ops.reduce(c.el, 'reduce_sum', prod, 'all', false, c.span, 'vjp') : prod;
    return [dot, yt];
  });
  return c.el.tuple([ops.tval(yt.t.dtype, yt.t.shape, values[1]), grad]);
};
