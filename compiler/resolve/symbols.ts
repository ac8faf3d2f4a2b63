// What name resolution records about a declaration before any type checking: the kind of each
// generic parameter and the struct table's entries (the checker's types refer to them).
import type * as A from '../syntax/ast.ts';

export type GenericKind = { k: 'dim' } | { k: 'type' } | { k: 'ctor'; arity: number } | { k: 'spread' };

export interface StructInfo {
  name: string;
  decl: A.StructDecl;
  moduleId: string;
  params: { name: string; kind: GenericKind }[];
}
