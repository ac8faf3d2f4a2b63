// The fusion rule table: for every Core primitive, its fusion class and (for the classes that
// fuse) how one element of its result is expressed in Kernel IR at a given multi-index.
//
//   elementwise  fuses into its consumer: the element is op(operands at the same index)
//   view         fuses by re-indexing its operand (broadcast, transpose, slice, reshape)
//   index        fuses with computed (clamped) indices: iota, concat, pad, gather, dynamic slices,
//                unpack_sign (bits of packed words)
//   reduce       a kernel's one reduction; elementwise consumers of the same size become its
//                epilogue; never two reductions in one kernel
//   template     a template kernel (compiler/templates/: dot, signlinear) over materialised
//                operands; same-shape elementwise consumers become its epilogue
//   host         runs the reference rule on the runtime's memory (scatter_add, random_bits,
//                pack_sign, iterate, constant, and anything on f16)
// The mapped type makes a primitive without a rule a TypeScript error.
import type { Atom, Eqn } from '../../runtime/core/ir.ts';
import type { PrimName, PrimParams } from '../../runtime/core/prim_names.ts';
import { BINARY, COMPARE, REDUCE, UNARY } from '../../runtime/core/prim_names.ts';
import { kdtype, type ExprCtx, type KGraph, type KNode } from '../kir/ir.ts';
import type { TemplateKind } from '../templates/index.ts';

export type { ExprCtx } from '../kir/ir.ts';

export type FuseClass = 'elementwise' | 'view' | 'index' | 'reduce' | 'template' | 'update' | 'host';

/** What a rule may ask of the kernel being built. */

type ExprRule<P extends PrimName> = (cx: ExprCtx, e: Eqn<P>, index: KNode[]) => KNode;
export interface FuseRule<P extends PrimName> {
  cls: FuseClass;
  expr?: ExprRule<P>;
  /** cls 'template': which one */
  template?: TemplateKind;
}

const elementwise = <P extends PrimName>(): FuseRule<P> => ({
  cls: 'elementwise',
  expr: (cx, e, index) => {
    const args = e.args.map((a) => cx.at(a, a.type.shape.length ? index : []));
    const p = e.prim as string;
    if ((UNARY as readonly string[]).includes(p)) return cx.g.un(p as never, args[0]!);
    if (p === 'select') return cx.g.select(args[0]!, args[1]!, args[2]!);
    if (p === 'convert') return cx.g.cvt(args[0]!, kdtype((e.params as PrimParams['convert']).dtype));
    return cx.g.bin(p as never, args[0]!, args[1]!);
  },
});

const i32 = (g: KGraph, v: number) => g.const(v, 'i32');

function reshapeIndex(g: KGraph, index: KNode[], outShape: number[], inShape: number[]): KNode[] {
  return g.unflat(g.flat(index, outShape), inShape);
}

const ruleTable: { [P in PrimName]: FuseRule<P> } = {
  ...(Object.fromEntries([...UNARY, ...BINARY, ...COMPARE, 'select', 'convert'].map((p) => [p, elementwise()])) as {
    [
      P in (typeof UNARY)[number] | (typeof BINARY)[number] | (typeof COMPARE)[number] | 'select' | 'convert'
    ]: FuseRule<P>;
  }),
  ...(Object.fromEntries(REDUCE.map((p) => [p, { cls: 'reduce' }])) as { [P in (typeof REDUCE)[number]]: FuseRule<P> }),
  stop_gradient: { cls: 'view', expr: (cx, e, index) => cx.at(e.args[0]!, index) },
  broadcast_in_dim: {
    cls: 'view',
    expr: (cx, e, index) => {
      const x = e.args[0]!;
      const { shape, dims } = e.params;
      return cx.at(
        x,
        x.type.shape.map((n, j) => (n === 1 && shape[dims[j]!] !== 1 ? i32(cx.g, 0) : index[dims[j]!]!)),
      );
    },
  },
  transpose: {
    cls: 'view',
    expr: (cx, e, index) => {
      const inIdx: KNode[] = [];
      e.params.perm.forEach((src, i) => (inIdx[src] = index[i]!));
      return cx.at(e.args[0]!, inIdx);
    },
  },
  slice: {
    cls: 'view',
    expr: (cx, e, index) => {
      const { start, step } = e.params;
      const g = cx.g;
      return cx.at(
        e.args[0]!,
        index.map((ix, d) => g.bin('add', g.bin('mul', ix, i32(g, step[d]!)), i32(g, start[d]!))),
      );
    },
  },
  reshape: {
    cls: 'view',
    expr: (cx, e, index) => cx.at(e.args[0]!, reshapeIndex(cx.g, index, e.outs[0]!.type.shape, e.args[0]!.type.shape)),
  },
  iota: {
    cls: 'index',
    expr: (cx, e, index) => cx.g.cvt(index[e.params.axis]!, kdtype(e.params.dtype)),
  },
  concat: {
    cls: 'index',
    expr: (cx, e, index) => {
      const g = cx.g;
      const ax = e.params.axis;
      let off = 0;
      const parts = e.args.map((a) => {
        const lo = off;
        off += a.type.shape[ax]!;
        return { a, lo, n: a.type.shape[ax]! };
      });
      let v: KNode | undefined;
      for (let k = parts.length - 1; k >= 0; k--) {
        const { a, lo, n } = parts[k]!;
        const ix = index.slice();
        ix[ax] = g.clamp(g.bin('sub', index[ax]!, i32(g, lo)), 0, n - 1);
        const x = cx.at(a, ix);
        v = v ? g.select(g.bin('lt', index[ax]!, i32(g, lo + n)), x, v) : x;
      }
      return v!;
    },
  },
  pad: {
    cls: 'index',
    expr: (cx, e, index) => {
      const g = cx.g;
      const x = e.args[0]!;
      const { lo, interior } = e.params;
      let ok: KNode | undefined;
      const inIdx = index.map((ix, d) => {
        const n = x.type.shape[d]!;
        const q = interior[d]! + 1;
        const rel = g.bin('sub', ix, i32(g, lo[d]!));
        const pos = q === 1 ? rel : g.bin('div', g.clamp(rel, 0, (n - 1) * q), i32(g, q));
        const conds = [g.bin('ge', rel, i32(g, 0)), g.bin('le', rel, i32(g, (n - 1) * q))];
        if (q > 1) conds.push(g.bin('eq', g.bin('rem', g.clamp(rel, 0, (n - 1) * q), i32(g, q)), i32(g, 0)));
        for (const c of conds) if (!(c.op === 'const' && c.value)) ok = ok ? g.bin('and', ok, c) : c;
        return g.clamp(pos, 0, n - 1);
      });
      const v = cx.at(x, inIdx);
      return ok ? g.select(ok, v, g.const(0, v.dtype)) : v;
    },
  },
  gather: {
    cls: 'index',
    expr: (cx, e, index) => {
      const g = cx.g;
      const [x, idx] = e.args as [Atom, Atom];
      const ax = e.params.axis;
      const ri = idx.type.shape.length;
      const k = g.clamp(cx.at(idx, index.slice(ax, ax + ri)), 0, x.type.shape[ax]! - 1);
      return cx.at(x, [...index.slice(0, ax), k, ...index.slice(ax + ri)]);
    },
  },
  dynamic_slice: {
    cls: 'index',
    expr: (cx, e, index) => {
      const g = cx.g;
      const [x, ...starts] = e.args as [Atom, ...Atom[]];
      return cx.at(
        x,
        index.map((ix, d) =>
          g.bin('add', g.clamp(cx.at(starts[d]!, []), 0, x.type.shape[d]! - e.params.sizes[d]!), ix),
        ),
      );
    },
  },
  // its own plan step: the update written into the operand's buffer (in place when the operand
  // dies there, after a copy otherwise), never a full-size kernel
  dynamic_update_slice: { cls: 'update' },
  unpack_sign: {
    cls: 'index',
    expr: (cx, e, index) => {
      const g = cx.g;
      const s = e.args[0]!;
      const shape = s.type.shape;
      const cols = shape[shape.length - 1]!;
      const words = Math.ceil(cols / 32);
      const col = index[index.length - 1]!;
      const row = g.flat(index.slice(0, -1), shape.slice(0, -1));
      const w = cx.word(s, g.bin('add', g.bin('mul', row, i32(g, words)), g.bin('div', col, i32(g, 32))));
      const bit = g.bin('and', g.bin('shr', w, g.cvt(g.bin('rem', col, i32(g, 32)), 'u32')), g.const(1, 'u32'));
      return g.select(g.bin('ne', bit, g.const(0, 'u32')), g.const(-1, 'f32'), g.const(1, 'f32'));
    },
  },
  dot_general: { cls: 'template', template: 'dot' },
  signlinear: { cls: 'template', template: 'signlinear' },
  blocksignlinear: { cls: 'template', template: 'blocksignlinear' },
  attention: { cls: 'template', template: 'attention' },
  pack_sign: { cls: 'host' },
  scatter_add: { cls: 'host' },
  random_bits: { cls: 'host' },
  constant: { cls: 'host' },
  iterate: { cls: 'host' },
  custom_vjp: { cls: 'host' },
};

const FUSE_RULES = ruleTable;

export function fuseRule<P extends PrimName>(p: P): FuseRule<P> {
  return FUSE_RULES[p] as FuseRule<P>;
}

/** An equation runs on the host when its class says so or it touches f16 (kernels compute f32). */
export function isHost(e: Eqn): boolean {
  const cls = fuseRule(e.prim).cls;
  return (
    cls === 'host' ||
    (cls === 'update' && e.outs[0]!.type.dtype === 'sign') ||
    e.args.some((a) => a.type.dtype === 'f16') ||
    e.outs.some((o) => o.type.dtype === 'f16')
  );
}

/** A dynamic_update_slice scheduled as an update step (plan: in place or copy + write). */
export function isUpdate(e: Eqn): boolean {
  return fuseRule(e.prim).cls === 'update' && !isHost(e);
}
