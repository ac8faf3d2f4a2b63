// What name resolution records about a declaration before any type checking: the kind of each
// generic parameter and the struct table's entries (the checker's types refer to them).
import type * as A from '../syntax/ast.ts';
import type { ModuleInfo } from './modules.ts';

export type GenericKind = { k: 'dim' } | { k: 'type' } | { k: 'ctor'; arity: number } | { k: 'spread' };

export interface StructInfo {
  name: string;
  decl: A.StructDecl;
  /** the module that declares it (its field types resolve there) */
  module: ModuleInfo;
  params: { name: string; kind: GenericKind }[];
}

/** The built-in type former `Layers[M]`: the layers of a model type M (see compiler/types/layers.ts). */
export const LAYERS_TYPE = 'Layers';
