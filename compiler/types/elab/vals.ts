// Values of the elaborator: a type plus, when lowering, the Core atoms behind it (a pytree of
// tensors), plus compile-time knowledge (static scalars, weak literal dtypes, closures).
import type { Atom } from '../../../runtime/core/ir.ts';
import type * as A from '../../syntax/ast.ts';
import type { Dim } from '../dim.ts';
import { dimValue } from '../dim.ts';
import type { Type } from '../types.ts';
import type { FnInfo, ModuleInfo } from '../../resolve/modules.ts';
import type { Bindings } from '../unify.ts';
import type { Span } from '../../syntax/diag.ts';

/** A scalar known at compile time: an integer dim expression, a float, or a boolean. */
export type Static = { k: 'int'; d: Dim } | { k: 'float'; v: number } | { k: 'bool'; v: boolean };

export type Scope = Map<string, Val>;

export type Val =
  | { k: 'tensor'; t: Extract<Type, { k: 'tensor' }>; atom?: Atom; st?: Static; weak?: boolean }
  | { k: 'tuple'; t: Extract<Type, { k: 'tuple' }>; elems: Val[] }
  | { k: 'array'; t: Extract<Type, { k: 'array' }>; elems?: Val[] }
  | { k: 'struct'; t: Extract<Type, { k: 'struct' }>; fields?: Map<string, Val> }
  | {
      k: 'closure';
      t: { k: 'fn' };
      name: string;
      /** a lambda with the scope and generic environment it closes over */
      lam?: Extract<A.Expr, { kind: 'lambda' }>;
      scope: Scope;
      env: Bindings;
      module: ModuleInfo;
      /** or a named top-level function (an overload set) */
      fns?: FnInfo[];
      /** or a builtin */
      builtin?: string;
    }
  | {
      k: 'list';
      t: { k: 'fn' };
      items: ({ spread: true; span: Span } | { spread: false; v: Val; span: Span })[];
      span: Span;
    }
  | { k: 'str'; t: { k: 'fn' }; v: string }
  | { k: 'module'; t: { k: 'fn' }; m: ModuleInfo }
  | { k: 'error'; t: { k: 'error' } };

export const ERRV: Val = { k: 'error', t: { k: 'error' } };

export function staticNumber(s: Static | undefined): number | undefined {
  if (!s) return undefined;
  if (s.k === 'int') return dimValue(s.d);
  if (s.k === 'float') return s.v;
  return s.v ? 1 : 0;
}
