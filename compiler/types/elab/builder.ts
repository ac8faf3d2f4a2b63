// Core IR builder used by lowering. A child builder (for iterate and custom_vjp bodies) turns any
// outer variable it is handed into a parameter of its own, so nested bodies are closed.
import { InternalError, spanLocation, type Span } from '../../syntax/diag.ts';
import { PRIMS } from '../../../runtime/prims/registry.ts';
import type { PrimDef } from '../../../runtime/prims/def.ts';
import type { PrimName, PrimParams } from '../../../runtime/core/prim_names.ts';
import { VarSupply, type Atom, type Eqn, type Func, type TensorType, type Var } from '../../../runtime/core/ir.ts';
import { inlineInto } from '../../ad/vjp.ts';
import { spend } from '../../core/budget.ts';

export class CoreBuilder {
  readonly eqns: Eqn[] = [];
  readonly params: Var[] = [];
  private readonly own = new Set<number>();
  /** outer var id -> our capture parameter */
  readonly captures = new Map<number, { outer: Var; inner: Var }>();
  /** the source expression being lowered (shared with child builders): each equation records
   *  its location, computed once per expression that emits */
  readonly at: { span?: Span; memo?: { span: Span; src: string } };

  constructor(
    readonly supply: VarSupply,
    readonly parent?: CoreBuilder,
    readonly allowCapture = true,
  ) {
    this.at = parent?.at ?? {};
  }

  param(type: TensorType, hint?: string): Var {
    const v = this.supply.fresh(type, hint);
    this.params.push(v);
    this.own.add(v.id);
    return v;
  }

  /** Translates an atom into this builder's scope (capturing outer variables). */
  use(a: Atom): Atom {
    if (a.kind === 'lit' || this.own.has(a.id)) return a;
    const c = this.captures.get(a.id);
    if (c) return c.inner;
    if (!this.parent) throw new InternalError(`variable %${a.id} escapes its scope`);
    if (!this.allowCapture) throw new InternalError(`a closed body refers to outer variable %${a.id}`);
    const inner = this.supply.fresh(a.type, a.hint);
    this.captures.set(a.id, { outer: a, inner });
    this.own.add(inner.id);
    return inner;
  }

  emit<P extends PrimName>(prim: P, args: Atom[], params: PrimParams[P], hint?: string): Var[] {
    spend('equations', this.at.span);
    const inArgs = args.map((a) => this.use(a));
    const outTypes = (PRIMS[prim] as PrimDef<P>).infer(
      inArgs.map((a) => a.type),
      params,
    );
    const outs = outTypes.map((t) => this.supply.fresh(t, hint));
    for (const o of outs) this.own.add(o.id);
    this.eqns.push({ prim, args: inArgs, params, outs, src: this.src() } as Eqn);
    return outs;
  }

  private src(): string | undefined {
    const at = this.at;
    if (!at.span) return undefined;
    if (at.memo?.span !== at.span) at.memo = { span: at.span, src: spanLocation(at.span) };
    return at.memo.src;
  }

  emit1<P extends PrimName>(prim: P, args: Atom[], params: PrimParams[P], hint?: string): Var {
    return this.emit(prim, args, params, hint)[0]!;
  }

  /** Inlines a closed Func with renamed variables; returns its results. */
  inline(g: Func, args: Atom[]): Atom[] {
    spend('equations', this.at.span, g.eqns.length);
    const start = this.eqns.length;
    const res = inlineInto(
      this.eqns,
      this.supply,
      g,
      args.map((a) => this.use(a)),
    );
    for (let i = start; i < this.eqns.length; i++) for (const o of this.eqns[i]!.outs) this.own.add(o.id);
    return res;
  }

  /** Finishes a body: captured outer variables become trailing (or leading, see order) params. */
  finish(results: Atom[], capturesFirst = false): { func: Func; captured: Var[] } {
    const res = results.map((r) => this.use(r));
    const caps = [...this.captures.values()];
    const params = capturesFirst
      ? [...caps.map((c) => c.inner), ...this.params]
      : [...this.params, ...caps.map((c) => c.inner)];
    return { func: { params, eqns: this.eqns, results: res }, captured: caps.map((c) => c.outer) };
  }
}
