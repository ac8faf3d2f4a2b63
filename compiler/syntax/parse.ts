// Parser: the ohm grammar in obt.ohm → AST (with spans); syntax errors become diagnostics.
import * as ohm from 'ohm-js';
import { existsSync, readFileSync } from 'node:fs';
import { UserError, type SourceFile, type Span } from './diag.ts';
import type * as A from './ast.ts';
import { expectedInWords, tokenBefore } from './expected.ts';
import { checkDepth, checkSource, sourceText } from './limits.ts';

// the compiled package (npm run build) holds the grammar as an ohm recipe too, built from the same
// obt.ohm: it loads in ~3 ms instead of ~130 ms (ohm parsing the grammar text)
const recipe = new URL('./obt.recipe.json', import.meta.url);
// (makeRecipe is ohm's public loader of toRecipe()'s output; its typings omit it)
const { makeRecipe } = ohm as unknown as { makeRecipe(recipe: unknown): ohm.Grammar };
export const grammar: ohm.Grammar = existsSync(recipe)
  ? makeRecipe(JSON.parse(readFileSync(recipe, 'utf8')))
  : ohm.grammar(readFileSync(new URL('./obt.ohm', import.meta.url), 'utf8'));

type N = ohm.Node;
/** A postfix operator (call, index, field) awaiting its target. */
type PostfixOp = (target: A.Expr, span: Span) => A.Expr;

/** An integer literal's value; one past 2^53 (where doubles stop being exact) is an error. */
function exactInt(n: N, span: Span): number {
  const v = Number(n.sourceString);
  if (!Number.isSafeInteger(v))
    throw new UserError(
      `the integer ${n.sourceString.slice(0, 40)} is larger than 2^53 − 1, the largest obt holds exactly`,
      span,
    );
  return v;
}

/** The file whose match the semantics is building (set by build(); the actions run synchronously
 *  inside it). One semantics for all files: creating one costs about as much as a small parse. */
let file: SourceFile = { path: '', text: '' };

function makeSemantics() {
  const sp = (n: N): Span => ({ file, start: n.source.startIdx, end: n.source.endIdx });
  const opt = <T>(n: N): T | undefined => (n.children.length ? (n.children[0]!.ast() as T) : undefined);
  const list = <T>(n: N): T[] => n.asIteration().children.map((c: N) => c.ast() as T);
  // a left-associative chain `a op b op c …` is an iteration in the grammar (no left recursion:
  // ohm grows left-recursive rules by re-evaluation, which made parsing ~34 µs per character);
  // its tree is built here in a loop, left-deep, so a long chain costs no stack
  const leftChain = <T>(node: (op: string, a: T, b: T, span: Span, opSpan: Span) => T) =>
    function (this: ohm.NonterminalNode, first: N, ops: N, rest: N): T {
      let e = first.ast() as T;
      const start = this.source.startIdx;
      // ohm builds a node's `children` anew on every access: read each list once (reading it per
      // operator made a chain of n operators cost n² — 7.5 s for 16 000 `+ x`)
      const rs = rest.children;
      ops.children.forEach((o, i) => {
        const r = rs[i]!;
        e = node(o.sourceString, e, r.ast() as T, { file, start, end: r.source.endIdx }, sp(o));
      });
      return e;
    };
  const chain = leftChain<A.Expr>((op, a, b, span, opSpan) => ({
    kind: 'binary',
    op: op as A.BinOp,
    a,
    b,
    span,
    opSpan,
  }));
  const dimChain = leftChain<A.DimExpr>((op, a, b, span) => ({
    kind: 'bin',
    op: op as '+' | '-' | '*' | '/',
    a,
    b,
    span,
  }));
  const s = grammar.createSemantics();
  s.addOperation<unknown>('ast', {
    Module(items) {
      return { file: file.path, items: items.children.map((c) => c.ast()), span: sp(this) } satisfies A.Module;
    },
    Import_plain(_kw, target, _as, alias): A.ImportDecl {
      return { kind: 'import', target: target.ast(), alias: alias.children[0]?.sourceString, span: sp(this) };
    },
    ImportTarget_path(str) {
      return { kind: 'path', path: str.ast() };
    },
    ImportTarget_name(first, _dots, rest) {
      return { kind: 'name', parts: [first.sourceString, ...rest.children.map((c) => c.sourceString)] };
    },
    StructDecl(pub, _kw, name, gens, _o, fields, _comma, _c): A.StructDecl {
      // `...` (a shape prefix) is a function's generic; a struct's fields have whole shapes
      const spread = gens.children.length
        ? (gens.children[0]!.ast() as A.GenericParam[]).find((g) => g.name === '...')
        : undefined;
      if (spread)
        throw new UserError(
          'a struct cannot be generic over `...`; give its dims names',
          spread.span,
          'e.g. struct S[B, D] { x: f32[B, D] }',
        );
      return {
        kind: 'struct',
        pub: pub.children.length > 0,
        name: name.sourceString,
        generics: gens.children.length ? gens.children[0]!.ast() : [],
        fields: list(fields),
        span: sp(this),
        nameSpan: sp(name),
      };
    },
    Field(name, _c, type) {
      return { name: name.sourceString, type: type.ast(), span: sp(this) };
    },
    FnDecl(pub, _kw, name, gens, _o, params, _comma, _c, ret, grad, body): A.FnDecl {
      return {
        kind: 'fn',
        pub: pub.children.length > 0,
        name: name.sourceString,
        generics: gens.children.length ? gens.children[0]!.ast() : [],
        params: list(params),
        ret: opt(ret),
        gradRule: opt(grad),
        body: body.ast(),
        span: sp(this),
        nameSpan: sp(name),
      };
    },
    RetType(_arrow, t) {
      return t.ast();
    },
    GradRule(_kw, _o, dy, _c, _eq, body) {
      return { dy: dy.sourceString, body: body.ast(), span: sp(this) };
    },
    FnBody_block(b) {
      return b.ast();
    },
    FnBody_expr(_eq, e) {
      return e.ast();
    },
    GenericParams(_o, ps, _c) {
      return list(ps);
    },
    GenericParam_spread(_d): A.GenericParam {
      return { name: '...', span: sp(this) };
    },
    GenericParam_name(n): A.GenericParam {
      return { name: n.sourceString, span: sp(this) };
    },
    Param(name, _c, type, _eq, def): A.Param {
      return { name: name.sourceString, type: type.ast(), default: opt(def), span: sp(this) };
    },
    Type_tuple(_o, elems, _c): A.TypeExpr {
      return { kind: 'tuple', elems: list(elems), span: sp(this) };
    },
    Type_array(_o, elem, _semi, len, _c): A.TypeExpr {
      return { kind: 'array', elem: elem.ast(), len: len.ast(), span: sp(this) };
    },
    Type_applied(name, _o, args, _c): A.TypeExpr {
      return { kind: 'applied', name: name.sourceString, args: list(args), span: sp(this) };
    },
    Type_name(name): A.TypeExpr {
      return { kind: 'name', name: name.sourceString, span: sp(this) };
    },
    TypeArg_spread(_d): A.TypeArg {
      return { kind: 'spread', span: sp(this) };
    },
    TypeArg_type(t): A.TypeArg {
      return { kind: 'type', type: t.ast(), span: sp(this) };
    },
    TypeArg_dim(d): A.TypeArg {
      return { kind: 'dim', dim: d.ast(), span: sp(this) };
    },
    DimExpr: dimChain,
    DimTerm: dimChain,
    DimAtom_paren(_o, d, _c) {
      return d.ast();
    },
    DimAtom_int(i): A.DimExpr {
      return { kind: 'int', value: exactInt(i, sp(this)), span: sp(this) };
    },
    DimAtom_var(v): A.DimExpr {
      return { kind: 'var', name: v.sourceString, span: sp(this) };
    },
    Block(_o, stmts, result, _c): A.Expr {
      return { kind: 'block', stmts: stmts.children.map((c) => c.ast()), result: result.ast(), span: sp(this) };
    },
    Stmt(_let, pat, _colon, type, _eq, value, _semi): A.LetStmt {
      return { pat: pat.ast(), type: opt(type), value: value.ast(), span: sp(this) };
    },
    Pattern_tuple(_o, elems, _c): A.Pattern {
      return { kind: 'tuple', elems: list(elems), span: sp(this) };
    },
    Pattern_name(n): A.Pattern {
      return { kind: 'name', name: n.sourceString, span: sp(this) };
    },
    Lambda(_fn, _o, params, _c, ret, body): A.Expr {
      return { kind: 'lambda', params: list(params), ret: opt(ret), body: body.ast(), span: sp(this) };
    },
    LamBody_block(b) {
      return b.ast();
    },
    LamBody_expr(_eq, e) {
      return e.ast();
    },
    LParam(name, _c, type) {
      return { name: name.sourceString, type: opt(type), span: sp(this) };
    },
    OrExpr: chain,
    AndExpr: chain,
    CmpExpr_cmp(a, op, b): A.Expr {
      return { kind: 'binary', op: op.sourceString as A.BinOp, a: a.ast(), b: b.ast(), span: sp(this), opSpan: sp(op) };
    },
    AddExpr: chain,
    MulExpr: chain,
    PowExpr_pow(a, o, b): A.Expr {
      return { kind: 'binary', op: '**', a: a.ast(), b: b.ast(), span: sp(this), opSpan: sp(o) };
    },
    UnExpr_neg(_m, a): A.Expr {
      return { kind: 'unary', op: '-', a: a.ast(), span: sp(this) };
    },
    UnExpr_not(_m, a): A.Expr {
      return { kind: 'unary', op: '!', a: a.ast(), span: sp(this) };
    },
    // postfix operators fold left onto the primary, in a loop (see Postfix in obt.ohm); each
    // operator's action gives a function from its target (and the whole span) to the expression
    Postfix(first, _spaces, _next, ops): A.Expr {
      let e = first.ast() as A.Expr;
      const start = this.source.startIdx;
      for (const o of ops.children) e = (o.ast() as PostfixOp)(e, { file, start, end: o.source.endIdx });
      return e;
    },
    PostfixOp_call(_o, args, _comma, _c): PostfixOp {
      const as: A.Arg[] = list(args);
      return (fn, span) => ({ kind: 'call', fn, args: as, span });
    },
    PostfixOp_index(_o, items, _c): PostfixOp {
      const is: A.IndexItem[] = list(items);
      return (target, span) => ({ kind: 'index', target, items: is, span });
    },
    PostfixOp_field(_dot, name): PostfixOp {
      return (target, span) => ({ kind: 'field', target, name: name.sourceString, span });
    },
    PostfixOp_tupleField(_dot, i): PostfixOp {
      return (target, span) => ({ kind: 'tupleField', target, index: Number(i.sourceString), span });
    },
    Arg_named(name, _c, value): A.Arg {
      return { name: name.sourceString, value: value.ast(), span: sp(this) };
    },
    Arg_pos(value): A.Arg {
      return { value: value.ast(), span: sp(this) };
    },
    Index_spread(_d): A.IndexItem {
      return { kind: 'spread', span: sp(this) };
    },
    Index_range(start, _c1, stop, _c2, step): A.IndexItem {
      const st = step.children.length ? step.children[0]!.children : [];
      return {
        kind: 'range',
        start: opt(start),
        stop: opt(stop),
        step: st.length ? (st[0]!.ast() as A.Expr) : undefined,
        span: sp(this),
      };
    },
    Index_single(e): A.IndexItem {
      return { kind: 'single', value: e.ast(), span: sp(this) };
    },
    Primary_paren(_o, e, _c) {
      return e.ast();
    },
    Primary_tuple(_o, first, _comma, rest, _c): A.Expr {
      return { kind: 'tuple', elems: [first.ast(), ...list<A.Expr>(rest)], span: sp(this) };
    },
    Primary_unit(_o, _c): A.Expr {
      return { kind: 'tuple', elems: [], span: sp(this) };
    },
    Primary_list(_o, items, _comma, _c): A.Expr {
      return { kind: 'list', items: list(items), span: sp(this) };
    },
    Primary_update(name, _o, _dots, base, _comma, fields, _comma2, _c): A.Expr {
      const fs = fields.children.length ? list<A.Expr>(fields.children[0]!) : [];
      return { kind: 'structLit', name: name.sourceString, base: base.ast(), fields: fs as never, span: sp(this) };
    },
    Primary_typedStruct(name, _o, args, _c, _ob, fields, _comma, _cb): A.Expr {
      return { kind: 'structLit', name: name.sourceString, args: list(args), fields: list(fields), span: sp(this) };
    },
    Primary_structLit(name, _o, fields, _comma, _c): A.Expr {
      return { kind: 'structLit', name: name.sourceString, fields: list(fields), span: sp(this) };
    },
    Primary_block(b) {
      return b.ast();
    },
    Primary_float(f): A.Expr {
      return { kind: 'num', value: Number(f.sourceString), isFloat: true, span: sp(this) };
    },
    Primary_int(i): A.Expr {
      return { kind: 'num', value: exactInt(i, sp(this)), isFloat: false, span: sp(this) };
    },
    Primary_string(s) {
      return { kind: 'str', value: s.ast(), span: sp(this) } satisfies A.Expr;
    },
    Primary_true(_t): A.Expr {
      return { kind: 'bool', value: true, span: sp(this) };
    },
    Primary_false(_t): A.Expr {
      return { kind: 'bool', value: false, span: sp(this) };
    },
    Primary_var(v): A.Expr {
      return { kind: 'var', name: v.sourceString, span: sp(this) };
    },
    ListItem_spread(_d) {
      return { kind: 'spread', span: sp(this) };
    },
    ListItem_expr(e) {
      return e.ast();
    },
    FieldInit(name, _c, value) {
      return { name: name.sourceString, value: value.ast(), span: sp(this) };
    },
    stringLit(_o, chars, _c) {
      return chars.sourceString;
    },
  });
  return s;
}

const semantics = makeSemantics();

/** The AST of a successful match of a file's text (a module, or what the start rule matched). */
function build<T = A.Module>(of: SourceFile, m: ohm.MatchResult): T {
  const outer = file;
  file = of;
  try {
    return semantics(m).ast() as T;
  } finally {
    file = outer;
  }
}

/** A type written as text (a driver's `Llama[Dense, V, D, F, H, KV, L]`), as the grammar reads a
 *  type in a signature; a syntax error says what was expected. */
export function parseType(text: string, path = '<type>'): A.TypeExpr {
  if (text.length > 4096) throw new UserError(`a type of ${text.length} characters; at most 4096`);
  const m = grammar.match(text, 'Type');
  if (m.failed())
    throw new UserError(`syntax error in the type ${JSON.stringify(text)}: expected ${describeExpected(m)}`);
  return build<A.TypeExpr>({ path, text }, m);
}

function describeExpected(m: ohm.MatchResult): string {
  const fails = (m as unknown as { getRightmostFailures(): { type: string; getText(): string }[] })
    .getRightmostFailures()
    .map((f) => ({ type: f.type, text: f.getText() }));
  return expectedInWords(fails);
}

const cache = new Map<string, A.Module>();
const CACHE_MAX = 64;

/** Parses one source file; a syntax error is raised as a UserError at the failure position.
 *  ASTs are immutable, so parses of an identical file (path and text) are shared. */
export function parseModule(file: SourceFile): A.Module {
  const key = `${file.path}\u0000${file.text}`;
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key); // least recently used first out: the stdlib stays while programs change
    cache.set(key, hit);
    return hit;
  }
  const m = parseUncached(file);
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, m);
  return m;
}

function parseUncached(file: SourceFile): A.Module {
  checkSource(file, file.text);
  const text = sourceText(file.text);
  let ast: A.Module;
  try {
    ast = parseByItems(file, text) ?? matchAndBuild(file, text);
  } catch (e) {
    // a safety net under the limits above: any nesting they let through that still overflows the
    // parser's stack is a diagnostic, never a crash
    if (e instanceof RangeError && /call stack/.test(e.message))
      throw new UserError(
        'this program nests too deeply to parse',
        { file, start: 0, end: 0 },
        'name the inner parts with `let`',
      );
    throw e;
  }
  checkDepth(file, ast);
  return ast;
}

/** Incremental matching: per path, ohm's matcher for the last text parsed there keeps its memo
 *  table, and a new text is applied as one edit (the range between the common prefix and suffix),
 *  so re-parsing after a local change re-matches about the changed part (an editor's keystrokes, a
 *  fuzzer's mutations). The memo tables cost a few KB per character: at most INCREMENTAL_CHARS
 *  characters are kept in all, least recently used first out. */
const matchers = new Map<string, { m: ohm.Matcher; text: string }>();
const INCREMENTAL_CHARS = 64 << 10;

function matchModule(path: string, text: string): ohm.MatchResult {
  if (text.length > INCREMENTAL_CHARS / 4) return grammar.match(text, 'Module');
  let e = matchers.get(path);
  matchers.delete(path);
  e ??= { m: grammar.matcher(), text: '' };
  let kept = text.length;
  for (const [k, x] of [...matchers].reverse()) {
    if (kept + x.text.length > INCREMENTAL_CHARS) matchers.delete(k);
    else kept += x.text.length;
  }
  matchers.set(path, e);
  const a = e.text;
  const lim = Math.min(a.length, text.length);
  let p = 0;
  while (p < lim && a.charCodeAt(p) === text.charCodeAt(p)) p++;
  let q = 0;
  while (q < lim - p && a.charCodeAt(a.length - 1 - q) === text.charCodeAt(text.length - 1 - q)) q++;
  e.m.replaceInputRange(p, a.length - q, text.slice(p, text.length - q));
  e.text = text;
  return e.m.match('Module');
}

/** Item-level reuse: the text is cut before every line that starts with `fn`, `pub`, `struct` or
 *  `import`, and each piece is parsed alone, its AST cached by the piece's text with spans relative
 *  to it, so re-parsing after a local change parses about one item (an editor's keystrokes, a
 *  fuzzer's mutations), incrementally (matchModule, per place in the file). A piece that parses
 *  completely ends where the whole parse's item ends: no item can continue with a line starting
 *  with one of those keywords. When any piece fails (a cut
 *  inside a comment or a body, or a syntax error) the whole text is parsed instead, so diagnostics
 *  are always the whole parse's. test/language/parse_items.test.ts checks pieces ≡ whole. */
const ITEM_START = /\n(?=(?:pub|fn|struct|import)(?![\p{L}0-9_]))/gu;
const pieces = new Map<string, { file: SourceFile; ast: A.Module } | null>();
const PIECE_CHARS = 256 << 10;
let pieceChars = 0;

/** The whole file's AST from its pieces, or undefined when it has one piece or one fails. */
export function parseByItems(file: SourceFile, text: string): A.Module | undefined {
  const cuts = [0];
  for (const m of text.matchAll(ITEM_START)) cuts.push(m.index + 1);
  if (cuts.length < 2) return undefined;
  cuts.push(text.length);
  const items: A.Item[] = [];
  let start = 0;
  for (let i = 0; i + 1 < cuts.length; i++) {
    const p = parsePiece(file.path, i, text.slice(cuts[i], cuts[i + 1]));
    if (!p) return undefined;
    const moved = rebase(p.ast, p.file, file, cuts[i]!);
    if (i === 0) start = moved.span.start;
    items.push(...moved.items);
  }
  return { file: file.path, items, span: { file, start, end: text.length } };
}

function parsePiece(path: string, index: number, text: string): { file: SourceFile; ast: A.Module } | null {
  const hit = pieces.get(text);
  if (hit !== undefined) {
    pieces.delete(text); // most recently used last
    pieces.set(text, hit);
    return hit;
  }
  let out: { file: SourceFile; ast: A.Module } | null = null;
  const file = { path, text };
  try {
    // the matcher of the piece at this place in this file: its last text is most likely this
    // piece before the change
    const m = matchModule(`${path}\0${index}`, text);
    if (m.succeeded()) out = { file, ast: build(file, m) };
  } catch (e) {
    if (!(e instanceof UserError || e instanceof RangeError)) throw e; // the whole parse reports it
  }
  for (const k of pieces.keys()) {
    if (pieceChars + text.length <= PIECE_CHARS) break;
    pieceChars -= k.length;
    pieces.delete(k);
  }
  pieces.set(text, out);
  pieceChars += text.length;
  return out;
}

/** A copy of an AST with every span of `from` moved by `by` characters into `to`. */
function rebase<T>(v: T, from: SourceFile, to: SourceFile, by: number): T {
  if (Array.isArray(v)) return v.map((x) => rebase(x, from, to, by)) as T;
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if (o.file === from) return { file: to, start: (o.start as number) + by, end: (o.end as number) + by } as T;
  const out: Record<string, unknown> = {};
  for (const k in o) out[k] = rebase(o[k], from, to, by);
  return out as T;
}

/** The whole text parsed at once (what parseByItems must agree with). */
export const parseWhole = (file: SourceFile): A.Module => matchAndBuild(file, sourceText(file.text));

function matchAndBuild(file: SourceFile, text: string): A.Module {
  const m = matchModule(file.path, text);
  if (m.failed()) {
    const pos = (m as unknown as { getRightmostFailurePosition(): number }).getRightmostFailurePosition();
    const found =
      pos >= file.text.length ? 'end of file' : `\`${file.text.slice(pos).match(/^(\w+|\S)/)?.[0] ?? file.text[pos]}\``;
    const span = { file, start: pos, end: Math.min(pos + 1, file.text.length) };
    if (file.text[pos] === '"') throw new UserError('syntax error: this string is not closed on its line', span);
    const after = tokenBefore(file.text, pos);
    throw new UserError(
      `syntax error: expected ${describeExpected(m)}${after ? ` after \`${after}\`` : ''}, found ${found}`,
      {
        file,
        start: pos,
        end: Math.min(pos + 1, file.text.length),
      },
    );
  }
  return build(file, m);
}
