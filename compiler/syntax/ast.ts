// The .obt abstract syntax tree. Every node keeps the source span it was parsed from.
import type { Span } from './diag.ts';

export interface Module {
  file: string;
  items: Item[];
  span: Span;
}

export type Item = ImportDecl | StructDecl | FnDecl;

export interface ImportDecl {
  kind: 'import';
  /** `nn` / `a.b` (a stdlib or sibling module) or a quoted relative path. */
  target: { kind: 'name'; parts: string[] } | { kind: 'path'; path: string };
  alias?: string;
  span: Span;
}

export interface GenericParam {
  name: string; // '...' for the rank-polymorphic prefix
  span: Span;
}

export interface StructDecl {
  kind: 'struct';
  pub: boolean;
  name: string;
  generics: GenericParam[];
  fields: { name: string; type: TypeExpr; span: Span }[];
  span: Span;
  nameSpan: Span;
}

export interface Param {
  name: string;
  type: TypeExpr;
  default?: Expr;
  span: Span;
}

export interface FnDecl {
  kind: 'fn';
  pub: boolean;
  name: string;
  generics: GenericParam[];
  params: Param[];
  ret?: TypeExpr;
  gradRule?: { dy: string; body: Expr; span: Span };
  body: Expr;
  span: Span;
  nameSpan: Span;
}

// ---- types ----
export type TypeExpr =
  | { kind: 'tuple'; elems: TypeExpr[]; span: Span }
  | { kind: 'array'; elem: TypeExpr; len: DimExpr; span: Span }
  | { kind: 'applied'; name: string; args: TypeArg[]; span: Span }
  | { kind: 'name'; name: string; span: Span };

export type TypeArg =
  | { kind: 'spread'; span: Span }
  | { kind: 'type'; type: TypeExpr; span: Span }
  | { kind: 'dim'; dim: DimExpr; span: Span };

export type DimExpr =
  | { kind: 'int'; value: number; span: Span }
  | { kind: 'var'; name: string; span: Span }
  | { kind: 'bin'; op: '+' | '-' | '*' | '/'; a: DimExpr; b: DimExpr; span: Span };

// ---- expressions ----
export type Pattern = { kind: 'name'; name: string; span: Span } | { kind: 'tuple'; elems: Pattern[]; span: Span };

export interface LetStmt {
  pat: Pattern;
  type?: TypeExpr;
  value: Expr;
  span: Span;
}

export interface Arg {
  name?: string;
  value: Expr;
  span: Span;
}

export type IndexItem =
  | { kind: 'spread'; span: Span }
  | { kind: 'range'; start?: Expr; stop?: Expr; step?: Expr; span: Span }
  | { kind: 'single'; value: Expr; span: Span };

export type BinOp = '+' | '-' | '*' | '/' | '%' | '@' | '**' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '&&' | '||';

export type Expr =
  | { kind: 'num'; value: number; isFloat: boolean; span: Span }
  | { kind: 'bool'; value: boolean; span: Span }
  | { kind: 'str'; value: string; span: Span }
  | { kind: 'var'; name: string; span: Span }
  | { kind: 'binary'; op: BinOp; a: Expr; b: Expr; span: Span; opSpan: Span }
  | { kind: 'unary'; op: '-' | '!'; a: Expr; span: Span }
  | { kind: 'call'; fn: Expr; args: Arg[]; span: Span }
  | { kind: 'index'; target: Expr; items: IndexItem[]; span: Span }
  | { kind: 'field'; target: Expr; name: string; span: Span }
  | { kind: 'tupleField'; target: Expr; index: number; span: Span }
  | { kind: 'tuple'; elems: Expr[]; span: Span }
  | { kind: 'list'; items: ({ kind: 'spread'; span: Span } | Expr)[]; span: Span }
  | {
      kind: 'structLit';
      name: string;
      args?: TypeArg[];
      base?: Expr;
      fields: { name: string; value: Expr; span: Span }[];
      span: Span;
    }
  | { kind: 'block'; stmts: LetStmt[]; result: Expr; span: Span }
  | { kind: 'lambda'; params: { name: string; type?: TypeExpr; span: Span }[]; ret?: TypeExpr; body: Expr; span: Span };

export type ListItemSpread = { kind: 'spread'; span: Span };
