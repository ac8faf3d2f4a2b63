// Fusion: groups the equations of a prepared Core function into kernels (Kernel IR) and host steps.
// A variable is materialised (gets a buffer) when it is a parameter or result, feeds or comes from
// a host step, is an operand of a template (dot, signlinear), is used more than once and is not a
// cheap view, or when building a kernel meets a conflict (a second reduction, a reduction seen
// through a broadcast that would recompute it per element, a template whose epilogue is not at its
// own index); everything else is inlined into the one kernel that consumes it. Conflicts
// materialise the offending variable and scheduling restarts, so the set only grows.
import type { Atom, Eqn, Func, Var } from '../../runtime/core/ir.ts';
import { numel } from '../../runtime/core/ir.ts';
import type { PrimParams } from '../../runtime/core/prim_names.ts';
import { InternalError } from '../syntax/diag.ts';
import {
  KGraph,
  kdtype,
  topo,
  type ExprCtx,
  type KBuf,
  type Kernel,
  type KNode,
  type LoopKernel,
  type ReduceOp,
} from '../kir/ir.ts';
import { hashKernel, verifyKernel } from '../kir/print.ts';
import { fuseRule, isHost, isUpdate } from './rules.ts';
import { TEMPLATES, type TemplateKind } from '../templates/index.ts';
import type { Template } from '../backends/template.ts';
import { prepare } from './prepare.ts';
import { storageSize, type Stored } from '../../runtime/core/tensor.ts';

export type Step =
  /** inPlace: inputs (indices into ins) read only at the output's own index, with the output's
   *  dtype and size: the plan may write the output into such an input's buffer */
  | { kind: 'kernel'; kernel: Kernel; hash: string; out: Var; ins: Var[]; inPlace: number[]; origin: Origin }
  | { kind: 'host'; eqn: Eqn }
  | { kind: 'update'; eqn: Eqn<'dynamic_update_slice'> };

/** What a kernel came from (the profiler's labels): the Core primitives fused into it, in the
 *  order fusion met them, and their distinct source locations. */
export interface Origin {
  ops: string[];
  src: string[];
}

export interface Schedule {
  func: Func;
  steps: Step[];
  /** the parameters its kernels read at their stored precision (by variable id) */
  stored: ReadonlyMap<number, Stored>;
}

export interface FuseOptions {
  /** materialise every variable (one kernel per equation): the unfused schedule */
  noFusion?: boolean;
  /** at most this many input buffers per kernel (WebGPU: maxStorageBuffersPerShaderStage − 1);
   *  a kernel that would read more materialises the fused subexpression that adds the extra one */
  maxInputs?: number;
  /** parameters (by variable id) held at a 16-bit stored precision: kernels reading them convert */
  stored?: ReadonlyMap<number, Stored>;
}

class Conflict {
  constructor(readonly v: Var) {}
}

const CHEAP = new Set(['broadcast_in_dim', 'transpose', 'slice', 'reshape', 'stop_gradient', 'iota']);

export function fuse(func: Func, opts: FuseOptions = {}): Schedule {
  const f = prepare(func);
  const def = new Map<number, Eqn>();
  const uses = new Map<number, number>();
  const use = (a: Atom) => a.kind === 'var' && uses.set(a.id, (uses.get(a.id) ?? 0) + 1);
  for (const e of f.eqns) {
    for (const o of e.outs) def.set(o.id, e);
    e.args.forEach(use);
  }
  f.results.forEach(use);

  const mat = new Set<number>();
  for (const p of f.params) mat.add(p.id);
  for (const r of f.results) if (r.kind === 'var') mat.add(r.id);
  const cheap = (id: number): boolean => {
    if (mat.has(id)) return true;
    const e = def.get(id);
    return !!e && CHEAP.has(e.prim) && e.args.every((a) => a.kind === 'lit' || cheap(a.id));
  };
  for (const e of f.eqns) {
    const cls = fuseRule(e.prim).cls;
    const vars = e.args.filter((a): a is Var => a.kind === 'var');
    const own = isHost(e) || isUpdate(e); // a step of its own: operands and results in buffers
    if (opts.noFusion || own) {
      for (const o of e.outs) mat.add(o.id);
      if (own) for (const a of vars) mat.add(a.id);
    }
    // a template's operands are buffers (but those its epilogue reads element by element)
    if (cls === 'template')
      for (const i of templateFor(e).fuse.buffers) if (e.args[i]?.kind === 'var') mat.add(e.args[i].id);
    for (const o of e.outs) {
      if (o.type.dtype === 'sign') mat.add(o.id);
      if ((cls === 'reduce' || cls === 'template') && uses.get(o.id) !== 1) mat.add(o.id);
    }
  }
  for (const e of f.eqns) for (const o of e.outs) if ((uses.get(o.id) ?? 0) > 1 && !cheap(o.id)) mat.add(o.id);

  const stored = new Map(opts.stored);
  const steps = schedule(f, def, mat, opts.maxInputs ?? Infinity, stored);
  // a template that reads its operands itself (signlinear, attention) reads f32 words, and a dot
  // reads Q8_0 rows only whole blocks long (K a multiple of 32): a stored parameter either takes
  // is held widened instead
  const widened = steps.flatMap((st) => {
    if (st.kind !== 'kernel' || st.kernel.kind === 'loop') return [];
    const k = st.kernel;
    const readsWords = (i: number) =>
      k.kind !== 'dot' || ((i === k.a || i === k.b) && stored.get(st.ins[i]!.id) === 'q8_0' && k.K % 32 !== 0);
    return st.ins.filter((v, i) => stored.has(v.id) && readsWords(i)).map((v) => v.id);
  });
  if (!widened.length) return { func: f, steps, stored };
  for (const id of widened) stored.delete(id);
  return { func: f, steps: schedule(f, def, mat, opts.maxInputs ?? Infinity, stored), stored };
}

/** The template record of an equation of fusion class 'template'. */
function templateFor(e: Eqn): Template<Kernel> {
  const kind = fuseRule(e.prim).template;
  if (!kind) throw new InternalError(`fusion: ${e.prim} has no template`);
  return TEMPLATES[kind as TemplateKind] as unknown as Template<Kernel>;
}

/** Whether a variable's (unmaterialised) definition contains a reduction or template. */
function bears(id: number, def: Map<number, Eqn>, mat: Set<number>, memo: Map<number, boolean>): boolean {
  if (mat.has(id)) return false;
  const hit = memo.get(id);
  if (hit !== undefined) return hit;
  const e = def.get(id);
  let r = false;
  if (e) {
    const cls = fuseRule(e.prim).cls;
    r = cls === 'reduce' || cls === 'template' || e.args.some((a) => a.kind === 'var' && bears(a.id, def, mat, memo));
  }
  memo.set(id, r);
  return r;
}

function schedule(
  f: Func,
  def: Map<number, Eqn>,
  mat: Set<number>,
  maxInputs: number,
  stored: ReadonlyMap<number, Stored>,
): Step[] {
  const steps: Step[] = [];
  const built = new Set<number>();
  const memo = new Map<number, boolean>();
  // A conflict materialises the offending variable: its kernel goes right before the one being
  // built (its inputs are all computed by then), and that one is built again.
  const emit = (o: Var): void => {
    for (;;) {
      try {
        steps.push(buildKernel(o, def, mat, memo, maxInputs, stored));
        built.add(o.id);
        return;
      } catch (c) {
        if (!(c instanceof Conflict)) throw c;
        if (mat.has(c.v.id)) throw new InternalError(`fusion: conflict on materialised %${c.v.id}`);
        mat.add(c.v.id);
        memo.clear();
        emit(c.v);
      }
    }
  };
  for (const e of f.eqns) {
    if (isHost(e)) {
      steps.push({ kind: 'host', eqn: e });
      continue;
    }
    if (isUpdate(e)) {
      steps.push({ kind: 'update', eqn: e as Eqn<'dynamic_update_slice'> });
      continue;
    }
    for (const o of e.outs) if (mat.has(o.id) && !built.has(o.id)) emit(o);
  }
  return steps;
}

interface Building {
  g: KGraph;
  ins: Var[];
  red?: { op: ReduceOp; shape: number[]; body: KNode };
  tmpl?: { t: Template<Kernel>; eqn: Eqn };
  fused: Set<Eqn>;
}

function buildKernel(
  root: Var,
  def: Map<number, Eqn>,
  mat: Set<number>,
  memo: Map<number, boolean>,
  maxInputs: number,
  stored: ReadonlyMap<number, Stored>,
): Step {
  const shape = root.type.shape;
  const g = new KGraph(shape.slice());
  const b: Building = { g, ins: [], fused: new Set() };
  // the fused (not materialised) variables being expanded, outermost first, and how many input
  // buffers each top-level fused operand has brought into this kernel
  const expanding: Var[] = [];
  const brought = new Map<Var, number>();
  const buf = (v: Var): number => {
    let i = b.ins.indexOf(v);
    if (i < 0) {
      const top = expanding[0];
      if (b.ins.length >= maxInputs) {
        // materialise the top-level fused operand that brings the most buffers: its loads leave
        let best: Var | undefined = top;
        let most = top ? (brought.get(top) ?? 0) + 1 : 0;
        for (const [t, n] of brought) if (n > most) [best, most] = [t, n];
        if (!best)
          throw new InternalError(
            `fusion: %${root.id} reads ${b.ins.length + 1} buffers directly, more than the ${maxInputs} a kernel may bind`,
          );
        throw new Conflict(best);
      }
      if (top) brought.set(top, (brought.get(top) ?? 0) + 1);
      i = b.ins.push(v) - 1;
    }
    return i;
  };
  const cx: ExprCtx = {
    g,
    at: (a, index) => {
      if (a.kind === 'lit') return g.const(a.value, kdtype(a.type.dtype));
      if (mat.has(a.id)) return g.load(buf(a), g.flat(index, a.type.shape), kdtype(a.type.dtype));
      expanding.push(a);
      try {
        return eqnExpr(a, index);
      } finally {
        expanding.pop();
      }
    },
    word: (a, flat) => {
      if (a.kind !== 'var' || !mat.has(a.id)) throw new InternalError('fusion: sign operand not materialised');
      return g.load(buf(a), flat, 'u32');
    },
  };
  const identity = (index: KNode[]) => index.length === shape.length && index.every((n, d) => n === g.idx(d));

  const eqnExpr = (v: Var, index: KNode[]): KNode => {
    const e = def.get(v.id);
    if (!e) throw new InternalError(`fusion: %${v.id} has no definition`);
    b.fused.add(e);
    const rule = fuseRule(e.prim);
    switch (rule.cls) {
      case 'elementwise':
      case 'view':
      case 'index': {
        if (e.prim === 'broadcast_in_dim' && numel(v.type.shape) > numel(e.args[0]!.type.shape)) {
          const x = e.args[0]!;
          if (x.kind === 'var' && bears(x.id, def, mat, memo)) throw new Conflict(x);
        }
        return rule.expr!(cx, e as never, index);
      }
      case 'reduce': {
        // a reduction over no axes is the identity (the VJP of broadcasting emits these)
        if (e.prim !== 'argmax' && (e.params as PrimParams['reduce_sum']).axes.length === 0)
          return cx.at(e.args[0]!, index);
        if (b.red || b.tmpl || numel(v.type.shape) !== numel(shape)) throw new Conflict(v);
        const axes = (e.params as PrimParams['reduce_sum']).axes;
        const x = e.args[0]!;
        const rank = shape.length;
        const redShape = axes.map((ax) => x.type.shape[ax]!);
        redShape.forEach((n) => g.extents.push(n));
        const full: KNode[] = [];
        let k = 0;
        for (let d = 0; d < x.type.shape.length; d++)
          full.push(axes.includes(d) ? g.idx(rank + axes.indexOf(d)) : index[k++]!);
        const op = ({ reduce_sum: 'sum', reduce_max: 'max', reduce_min: 'min', argmax: 'argmax' } as const)[
          e.prim as 'reduce_sum'
        ];
        b.red = { op, shape: redShape, body: g.const(0, 'f32') }; // taken: a reduction inside the body conflicts
        b.red.body = cx.at(x, full);
        return g.acc(kdtype(v.type.dtype));
      }
      case 'template': {
        if (b.red || b.tmpl || !identity(index)) throw new Conflict(v);
        const t = templateFor(e);
        b.tmpl = { t, eqn: e };
        return t.fuse.epilogue(cx, e as never, g.acc('f32'), index);
      }
      case 'host':
      case 'update':
        throw new InternalError(`fusion: ${rule.cls} equation ${e.prim} reached inside a kernel`);
      default:
        return rule.cls satisfies never;
    }
  };

  const out = eqnExpr(
    root,
    shape.map((_, d) => g.idx(d)),
  );
  const kbufs = (): KBuf[] =>
    b.ins.map((v) => {
      const s = stored.get(v.id);
      return {
        dtype: kdtype(v.type.dtype),
        size: storageSize(v.type.dtype, v.type.shape),
        ...(s ? { stored: s } : {}),
      };
    });
  let kernel: Kernel;
  if (b.tmpl) {
    const tk = b.tmpl.t.fuse.kernel(
      b.tmpl.eqn as never,
      { shape, outDtype: kdtype(root.type.dtype), ins: [], out },
      buf,
    );
    kernel = { ...tk, ins: kbufs() }; // the operands it bound are buffers now
  } else {
    kernel = {
      kind: 'loop',
      shape,
      outDtype: kdtype(root.type.dtype),
      ins: kbufs(),
      out,
      red: b.red,
    } satisfies LoopKernel;
  }
  verifyKernel(kernel);
  // inputs every load of which is at the output's own flat index (elementwise kernels only)
  const inPlace: number[] = [];
  if (kernel.kind === 'loop' && !kernel.red) {
    const self = g.flat(
      shape.map((_, d) => g.idx(d)),
      shape,
    );
    const loads = topo([out]).filter((n): n is Extract<KNode, { op: 'load' }> => n.op === 'load');
    b.ins.forEach((v, i) => {
      const mine = loads.filter((n) => n.buf === i);
      if (
        mine.length &&
        mine.every((n) => n.at === self) &&
        v.type.dtype === root.type.dtype &&
        v.type.shape.join() === shape.join()
      )
        inPlace.push(i);
    });
  }
  const fused = [...b.fused];
  const origin: Origin = {
    ops: fused.map((e) => e.prim),
    src: [...new Set(fused.flatMap((e) => (e.src === undefined ? [] : [e.src])))],
  };
  return { kind: 'kernel', kernel, hash: hashKernel(kernel), out: root, ins: b.ins, inPlace, origin };
}
