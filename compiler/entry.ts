// Entries called by name: an entry's contract (runtime/core/contract.ts) from its lowering — each
// parameter's leaves, the result's fields' leaves, the donated parameters — and `bindEntry`, which
// lowers an entry for named arguments (a parameter with a literal default may be left out) and
// returns a NamedEntry that runs it on any backend with named arguments and results. No caller
// counts positions: the flattening is the compiler's, from the entry's types.
import { Diagnostics, UserError } from './syntax/diag.ts';
import { Elab } from './types/elab/elab.ts';
import { leafTypes } from './types/tree.ts';
import { NamedEntry, donatedInputs, type Contract, type Slot } from '../runtime/core/contract.ts';
import type { FnInfo } from './resolve/modules.ts';
import type { Type } from './types/types.ts';
import type * as A from './syntax/ast.ts';
import type { HostValue, Lowered, Program, RunOptions } from './api.ts';

/** The leaves under `name` (a path that is `name`, or `name.…` / `name[…]`), paths made relative. */
function slot(name: string, leaves: { path: string; dtype: string; shape: number[] }[], prefix: string): Slot {
  const root = prefix + name;
  return {
    name,
    leaves: leaves
      .filter((l) => l.path === root || l.path.startsWith(`${root}.`) || l.path.startsWith(`${root}[`))
      .map((l) => ({ path: l.path.slice(root.length).replace(/^\./, ''), dtype: l.dtype as never, shape: l.shape })),
  };
}

/** The result's slots: a struct's fields, a tuple's elements (0, 1, …; a layer tree's by name), or
 *  one `result`. */
function resultSlots(prog: Program, t: Type): Slot[] {
  const fields = new Elab(prog.loaded, new Diagnostics()).fields;
  const leaves = leafTypes(t, fields, '').map((l) => ({ path: l.path, dtype: l.t.dtype, shape: l.t.shape }));
  if (t.k === 'struct') return fields(t).map((f) => slot(f.name, leaves, '.'));
  if (t.k === 'tuple') return t.elems.map((_, i) => slot(t.names?.[i] ?? String(i), leaves, '.'));
  return [{ name: 'result', leaves: leaves.map((l) => ({ ...l, path: l.path.replace(/^\./, '') }) as never) }];
}

/** An entry's contract from its lowering. */
function contractOf(prog: Program, f: FnInfo, low: Lowered, donated: string[] = []): Contract {
  const names = f.decl.params.map((p) => p.name);
  for (const d of donated)
    if (!names.includes(d))
      throw new UserError(`${f.name} has no parameter ${d} to donate (its parameters: ${names.join(', ')})`);
  return {
    entry: f.name,
    params: names.map((n) => slot(n, low.params, '')),
    results: resultSlots(prog, low.resultType),
    donated,
  };
}

/** A literal default (`1e-5`, `-1`, `true`) as a host value; undefined for any other expression. */
function literal(e: A.Expr | undefined): number | boolean | undefined {
  if (!e) return undefined;
  if (e.kind === 'num' || e.kind === 'bool') return e.value;
  if (e.kind === 'unary' && e.op === '-' && e.a.kind === 'num') return -e.a.value;
  return undefined;
}

/** The named arguments in declaration order, literal defaults filled in; an unknown or missing
 *  name is an error naming it. */
function orderedArgs(f: FnInfo, args: Record<string, HostValue>): HostValue[] {
  const names = f.decl.params.map((p) => p.name);
  for (const k of Object.keys(args))
    if (!names.includes(k))
      throw new UserError(`${f.name} has no parameter ${k} (its parameters: ${names.join(', ')})`, f.decl.nameSpan);
  return f.decl.params.map((p) => {
    const v = args[p.name] ?? literal(p.default);
    if (v === undefined)
      throw new UserError(
        `${f.name}: argument ${p.name} is missing${p.default ? ' (its default is not a literal: pass it)' : ''}`,
        p.span,
      );
    return v;
  });
}

export interface BindOptions extends Omit<RunOptions, 'donateArgs'> {
  /** parameters whose buffers runs may overwrite (their results come back in them, resident) */
  donate?: string[];
}

/** A named entry and its lowering (what an artifact is compiled from). */
export type BoundEntry = NamedEntry & { low: Lowered };

/** An entry lowered for these named arguments (dims and layer types as RunOptions give them),
 *  ready to run by name on the chosen backend. */
export function bindEntry(
  prog: Program,
  entry: string,
  args: Record<string, HostValue>,
  opts: BindOptions = {},
): BoundEntry {
  const f = prog.entry(entry);
  const ordered = orderedArgs(f, args);
  const { types, tensors, leaves } = prog.argTypes(f, ordered, opts.dims, opts.f64, opts.types);
  const low = prog.lower(entry, types);
  const contract = contractOf(prog, f, low, opts.donate);
  const exec = prog.executor(low, opts.device ?? { kind: 'interp' }, {
    noFusion: opts.noFusion,
    donate: donatedInputs(contract),
    f64: opts.f64,
  });
  const initial = leaves.map(([a, b]) => tensors.slice(a, b));
  return Object.assign(new NamedEntry(contract, initial, exec), { low });
}
