// Questions drivers ask of a program's types instead of keeping tables of their own: the leaves of
// a model type at given sizes (each tensor's path, dtype and shape — what a checkpoint must hold,
// what a parameter count sums) and which subtrees are its layers (the values of its layer-type
// parameter: what a method quantises). `Llama[Dense, V, D, F, H, KV, L]` at a config's sizes gives
// `emb f32[V, D]`, a block's projection weights `blocks[0].<layer>.w f32[D, D]`, …, and the layers `blocks[0].<layer>`.
import { Diagnostics, UserError } from './syntax/diag.ts';
import { parseType } from './syntax/parse.ts';
import { Elab } from './types/elab/elab.ts';
import { dimConst, dimValue } from './types/dim.ts';
import { concreteShape, typeToString, type Type } from './types/types.ts';
import { newBindings, resolveType } from './types/unify.ts';
import type { Leaf } from '../runtime/core/contract.ts';
import type { Program } from './api.ts';
import type { TypeExpr } from './syntax/ast.ts';
import type { ModuleInfo } from './resolve/modules.ts';

export interface TypeLeaves {
  /** the type as resolved, e.g. `Llama[Dense, 512, 64, 172, 8, 4, 5]` */
  type: string;
  leaves: Leaf[];
  /** the subtrees whose type is the value of the outer struct's layer-type parameter */
  layers: { path: string; leaves: Leaf[] }[];
}

const join = (path: string, key: string | number) =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;

/** The leaves and layers of a type named in the program's root file (its imports' types by
 *  `module.Name`), its dims given by name. */
export function typeLeaves(prog: Program, typeText: string, dims: Record<string, number>): TypeLeaves {
  return leavesOf(prog, parseType(typeText), prog.loaded.root, dims, typeText);
}

/** The leaves of an entry's parameter at given dims: `decode`'s `cache` at S = 256 is what an
 *  empty cache must hold (a driver allocates it without knowing the model's cache layout). */
export function paramLeaves(prog: Program, entry: string, param: string, dims: Record<string, number>): TypeLeaves {
  const f = prog.entry(entry);
  const p = f.decl.params.find((x) => x.name === param);
  if (!p)
    throw new UserError(
      `${entry} has no parameter ${param} (its parameters: ${f.decl.params.map((x) => x.name).join(', ')})`,
      f.decl.nameSpan,
    );
  return leavesOf(prog, p.type, f.module, dims, `${entry}'s ${param}`);
}

function leavesOf(
  prog: Program,
  te: TypeExpr,
  module: ModuleInfo,
  dims: Record<string, number>,
  typeText: string,
): TypeLeaves {
  const b = newBindings(module, new Map(), true);
  for (const [k, n] of Object.entries(dims)) b.dims.set(k, dimConst(n));
  const t = resolveType(te, b);
  const fields = new Elab(prog.loaded, new Diagnostics()).fields;
  // the outer struct's layer type: its one layer-type (constructor) argument
  const layer =
    t.k === 'struct' ? t.args.find((a, i) => t.s.params[i]?.kind.k === 'ctor' && a.k === 'ctor') : undefined;
  const layerStruct = layer?.k === 'ctor' ? layer.s : undefined;
  const leaves: Leaf[] = [];
  const layers: TypeLeaves['layers'] = [];
  const walk = (u: Type, path: string): void => {
    switch (u.k) {
      case 'tensor': {
        const shape = concreteShape(u.shape);
        if (!shape) throw new UserError(`${typeText}: ${path || 'the value'} has a shape that is not known`);
        leaves.push({ path, dtype: u.dtype, shape });
        return;
      }
      case 'struct': {
        const first = leaves.length;
        for (const f of fields(u)) walk(f.t, join(path, f.name));
        if (layerStruct && u.s === layerStruct) layers.push({ path, leaves: leaves.slice(first) });
        return;
      }
      case 'tuple':
        u.elems.forEach((e, i) => walk(e, u.names ? join(path, u.names[i]!) : join(path, i)));
        return;
      case 'array': {
        const n = dimValue(u.len);
        if (n === undefined) throw new UserError(`${typeText}: ${path || 'the value'} has a length that is not known`);
        for (let i = 0; i < n; i++) walk(u.elem, join(path, i));
        return;
      }
      default:
        throw new UserError(`${typeText}: a ${typeToString(u)} has no tensors`);
    }
  };
  walk(t, '');
  return { type: typeToString(t), leaves, layers };
}
