// The elaborator's state and the types of its values: struct fields, placeholders of a type,
// values built from / flattened to tensor leaves. The base of the elaborator's three files
// (values.ts ← calls.ts ← elab.ts in compiler/types/elab/: one class split by concern).
import { Diagnostics, InternalError, UserError, type Span } from '../../syntax/diag.ts';
import type * as A from '../../syntax/ast.ts';
import type { FnInfo, ModuleInfo, Program } from '../../resolve/modules.ts';
import { CoreBuilder } from './builder.ts';
import { VarSupply, type Atom, type TensorType } from '../../../runtime/core/ir.ts';
import { dimValue } from '../dim.ts';
import type { Type } from '../types.ts';
import { structFieldTypes, type Bindings } from '../unify.ts';
import { ERRV, type Scope, type Val } from './vals.ts';
import * as ops from './ops.ts';
import { buildTree, leafTypes, type FieldsOf } from '../tree.ts';

export interface Fx {
  module: ModuleInfo;
  env: Bindings; // generic names: dims, types, '...'
  scope: Scope;
  /** description of the instantiation being checked, for notes */
  inst?: string;
}

/** Sentinel thrown to abandon a function after its errors were reported. */
export class Reported extends Error {}

export abstract class ElabValues implements ops.OpCtx {
  b?: CoreBuilder;
  /** Told every expression's value and every name a parameter, `let` or lambda binds, as checking
   *  meets them (the language server's hover; compiler/ide.ts). */
  observe?: (span: Span, v: Val) => void;
  readonly supply = new VarSupply();
  protected readonly checking = new Map<string, Type | 'busy'>();
  protected depth = 0;
  /** functions whose bodies are being checked (recursion detection) */
  protected readonly active: FnInfo[] = [];
  /** Calls seen while checking: caller → callee → the first such call's span (a cycle is recursion). */
  protected readonly callGraph = new Map<FnInfo, Map<FnInfo, Span>>();

  constructor(
    readonly prog: Program,
    readonly diags: Diagnostics,
  ) {}

  /** The walk over an expression (elab.ts). */
  abstract expr(e: A.Expr, fx: Fx): Val;

  // ---------------------------------------------------------------------------------------------
  // Types of values

  structFields(t: Extract<Type, { k: 'struct' }>): { name: string; t: Type; span: Span }[] {
    return structFieldTypes(t, !!this.b);
  }

  /** A value of a type with no atoms (checking). */
  placeholder(t: Type): Val {
    switch (t.k) {
      case 'tensor':
        return ops.tval(t.dtype, t.shape);
      case 'tuple':
        return { k: 'tuple', t, elems: t.elems.map((e) => this.placeholder(e)) };
      case 'array':
        return { k: 'array', t };
      case 'struct':
        return { k: 'struct', t };
      case 'fn':
        return ERRV;
      case 'error':
        return ERRV;
    }
  }

  fieldsOf(v: Extract<Val, { k: 'struct' }>): Map<string, Val> {
    if (!v.fields) {
      v.fields = new Map(this.structFields(v.t).map((f) => [f.name, this.placeholder(f.t)]));
    }
    return v.fields;
  }

  /** One element of an array (any element when checking). */
  arrayElem(v: Extract<Val, { k: 'array' }>, i: number | undefined, span: Span): Val {
    if (v.elems) {
      if (i === undefined) return v.elems[0] ?? this.placeholder(v.t.elem);
      if (i < 0 || i >= v.elems.length)
        throw new UserError(`index ${i} is out of range for an array of length ${v.elems.length}`, span);
      return v.elems[i]!;
    }
    const n = dimValue(v.t.len);
    if (i !== undefined && n !== undefined && (i < 0 || i >= n))
      throw new UserError(`index ${i} is out of range for an array of length ${n}`, span);
    return this.placeholder(v.t.elem);
  }

  /** Builds a value from Core leaves in flattening order (lowering). */
  fromLeaves(t: Type, next: () => Atom): Val {
    return buildTree<Val>(t, this.fields, {
      tensor: (dtype, shape) => ops.tval(dtype, shape, next()),
      tuple: (elems, tt) => ({ k: 'tuple', t: tt, elems }),
      array: (elems, tt) => ({ k: 'array', t: tt, elems }),
      struct: (fs, tt) => ({ k: 'struct', t: tt, fields: new Map(fs) }),
    });
  }

  /** structFields as the value-tree walks take it. */
  readonly fields: FieldsOf = (t) => this.structFields(t);

  /** A value of type t made of fresh parameters of a builder (one per leaf). */
  paramValue(b: CoreBuilder, t: Type, name: string): Val {
    const vars = this.leafTypes(t, name).map((l) => b.param(l.t));
    let k = 0;
    return this.fromLeaves(t, () => vars[k++]!);
  }

  /** Leaf tensor types and path names of a type (flattening order). */
  leafTypes(t: Type, path: string): { path: string; t: TensorType }[] {
    return leafTypes(t, this.fields, path);
  }

  /** All tensor atoms of a value in flattening order (lowering). */
  atoms(v: Val, out: Atom[] = []): Atom[] {
    switch (v.k) {
      case 'tensor':
        out.push(ops.atomOf(this, v));
        break;
      case 'tuple':
        v.elems.forEach((e) => this.atoms(e, out));
        break;
      case 'array':
        (v.elems ?? []).forEach((e) => this.atoms(e, out));
        break;
      case 'struct':
        for (const f of this.fieldsOf(v).values()) this.atoms(f, out);
        break;
      case 'error':
        throw new InternalError('lowering an erroneous value');
      default:
        throw new UserError(`a ${v.k === 'closure' ? 'function' : v.k} cannot be stored in a tensor program value`);
    }
    return out;
  }
}
