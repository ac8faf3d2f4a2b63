// Postfix operators (calls, indexing, fields) as the grammar's iteration parses them: they nest
// left to right with each span from the primary's start to the operator's end, a call's "(" or an
// index's "[" on the next line starts a new expression, and a field's "." may follow a line break.
import { describe, expect, it } from 'vitest';
import { parseWhole } from '../../compiler/syntax/parse.ts';
import { compile } from '../../compiler/api.ts';
import type * as A from '../../compiler/syntax/ast.ts';

function body(src: string): { text: string; e: A.Expr } {
  const m = parseWhole({ path: 'p.obt', text: src });
  const fn = m.items.find((i): i is A.FnDecl => 'body' in i)!;
  return { text: src, e: fn.body };
}

/** The expression as nested kinds with each node's source text: call(index(field(a))) … */
function shape(text: string, e: A.Expr): string {
  const src = text.slice(e.span.start, e.span.end);
  switch (e.kind) {
    case 'call':
      return `call(${shape(text, e.fn)}; ${e.args.length})<${src}>`;
    case 'index':
      return `index(${shape(text, e.target)}; ${e.items.length})<${src}>`;
    case 'field':
      return `field(${shape(text, e.target)}.${e.name})<${src}>`;
    case 'tupleField':
      return `tupleField(${shape(text, e.target)}.${e.index})<${src}>`;
    default:
      return `${e.kind}<${src}>`;
  }
}

describe('postfix operators', () => {
  it('nest left to right, each span from the primary to the operator', () => {
    const { text, e } = body('fn f() = m.w(x, y)[0, 1:2].1\n');
    expect(shape(text, e)).toBe(
      'tupleField(index(call(field(var<m>.w)<m.w>; 2)<m.w(x, y)>; 2)<m.w(x, y)[0, 1:2]>.1)<m.w(x, y)[0, 1:2].1>',
    );
  });

  it('a call or an index stays on its callee’s line; spaces before it on that line are allowed', () => {
    expect(shape(...(Object.values(body('fn f() = g  (x) [1]\n')) as [string, A.Expr]))).toBe(
      'index(call(var<g>; 1)<g  (x)>; 1)<g  (x) [1]>',
    );
    // on the next line "(x)" is another expression: a block's last expression is then `g`, and
    // `(x)` is left over
    const p = compile('pub fn f(x: f32) -> f32 {\n  let g = x\n  g\n  (x)\n}\n', { path: 'p.obt' });
    const d = p.diagnostics.find((x) => x.severity === 'error');
    expect(d?.message).toMatch(/^syntax error: expected .*`}`/);
    const ok = compile('pub fn f(x: f32) -> f32 {\n  let g = (x)\n  g\n}\n', { path: 'p.obt' });
    expect(ok.diagnostics).toEqual([]);
  });

  it('a field may follow a line break', () => {
    const { text, e } = body('fn f() = s\n  .a\n  .b\n');
    expect(shape(text, e)).toBe('field(field(var<s>.a)<s\n  .a>.b)<s\n  .a\n  .b>');
  });

  it('a long chain costs no stack', () => {
    const n = 20_000;
    const { e } = body(`fn f() = x${'.a'.repeat(n)}\n`);
    let depth = 0;
    for (let x: A.Expr = e; x.kind === 'field'; x = x.target) depth++;
    expect(depth).toBe(n);
  });
});
