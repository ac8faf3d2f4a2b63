// What a diagnostic says, beyond "it fails": syntax errors name what was expected in words with
// the token before it ("expected an expression after `=`"); an unknown name gets a did-you-mean
// over everything in scope — imported modules' public functions included — or, when a stdlib
// module has it, "add `import nn`"; a float literal where an integer goes says so; a callee's
// dim parameter still unknown in a mismatch is named as the callee's.
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/api.ts';
import { lineCol, type Diagnostic } from '../../compiler/syntax/diag.ts';

function first(src: string): Diagnostic & { at: string } {
  const p = compile(src, { path: 'd.obt' });
  const d = p.diagnostics.find((x) => x.severity === 'error');
  expect(d, `no error for:\n${src}`).toBeTruthy();
  const lc = d!.span ? lineCol(d!.span.file, d!.span.start) : { line: 0, col: 0 };
  return { ...d!, at: `${lc.line}:${lc.col}` };
}

describe('syntax errors in words', () => {
  const cases: [string, string, string][] = [
    ['pub fn f(x: f32) -> f32 =\n', 'expected an expression after `=`, found end of file', '2:1'],
    ['pub fn f(x: f32) -> f32 = x +\n', 'expected an expression after `+`, found end of file', '2:1'],
    ['pub fn f(x: f32) -> f32 { let y = ; y }\n', 'expected an expression after `=`, found `;`', '1:35'],
    ['pub fn f(x: ) -> f32 = 1.0\n', 'expected a type after `:`, found `)`', '1:13'],
    ['pub fn f(x: f32[3, ]) -> f32 = 1.0\n', 'expected a dimension or a type after `,`, found `]`', '1:20'],
    ['pub fn (x: f32) -> f32 = x\n', 'expected a name after `fn`, found `(`', '1:8'],
    ['fun f() = 1\n', 'expected a new declaration (`fn`, `struct` or `import`), found `fun`', '1:1'],
    [
      'pub fn f(x: f32[3]) -> f32 = sum(x\n',
      'expected `)`, `,`, `:` or an operator after `x`, found end of file',
      '2:1',
    ],
    ['pub struct S { a: f32 b: f32 }\n', 'expected `}`, `,` or `[` after `f32`, found `b`', '1:23'],
    ['import\n', 'expected a name or a string after `import`, found end of file', '2:1'],
    ['pub fn f(x: f32) -> f32 { let = 1; x }\n', 'expected a name or `(` after `let`, found `=`', '1:31'],
    ['pub fn f() -> f32 = g("abc)\n', 'this string is not closed on its line', '1:23'],
  ];
  for (const [src, msg, at] of cases)
    it(JSON.stringify(src.trim()), () => {
      const d = first(src);
      expect(d.message).toBe(`syntax error: ${msg}`);
      expect(d.at).toBe(at);
    });
});

describe('unknown names', () => {
  it('did-you-mean reaches an imported module’s public functions and the module names', () => {
    expect(first('import nn\npub fn f(x: f32[3]) -> f32[3] = slu(x)\n').hint).toBe('did you mean silu?');
    expect(first('import nn\npub fn f(x: f32[3]) -> f32[3] = nm.silu(x)\n').hint).toBe('did you mean nn?');
    const m = first('import nn\npub fn f(x: f32[3]) -> f32[3] = nn.sofmax(x)\n');
    expect(m.message).toBe('module nn has no public function sofmax');
    expect(m.hint).toBe('did you mean nn.softmax?');
  });

  it('names the stdlib module to import when the name is right but not imported', () => {
    const d = first('pub fn f(x: f32[3]) -> f32[3] = silu(x)\n');
    expect(d.message).toBe('unknown name silu');
    expect(d.hint).toBe('silu is in the stdlib module nn: add `import nn`');
    // a name no module has gets neither
    expect(first('pub fn f(x: f32[3]) -> f32[3] = qqqqzz(x)\n').hint).toBeUndefined();
  });
});

describe('integers', () => {
  it('a float literal where an i32 goes is named as such', () => {
    const d = first('pub fn f() -> i32 { let k: i32 = 2.5; k }\n');
    expect(d.message).toBe('let k: expected i32, found the non-integer literal 2.5');
    expect(d.hint).toBe('an i32 holds integers only');
    expect(first('pub fn f() -> i32 = 3.0\n').hint).toBe('write it without the decimal point: 3');
    expect(first('fn g(k: i32) -> i32 = k\npub fn f() -> i32 = g(2.5)\n').message).toBe(
      'g: argument k: expected i32, found f32 (the non-integer literal 2.5)',
    );
  });
});

describe('dims in messages', () => {
  it('solved dims are shown by value; a callee’s unknown one is named as its', () => {
    expect(
      first('fn g[N](a: f32[N], b: f32[N]) -> f32[N] = a + b\npub fn f(x: f32[3], y: f32[4]) -> f32[3] = g(x, y)\n')
        .message,
    ).toBe('g: argument b: expected f32[3], found f32[4]');
    expect(first('fn g[N](a: f32[N]) -> f32[N] = a\npub fn f[N](x: f32[N, 2]) -> f32[N] = g(x)\n').message).toBe(
      "g: argument a: expected f32[N] (N: g's dim parameter), found f32[N, 2]",
    );
  });
});

describe('tensor sizes', () => {
  it('a tensor over 2^31 - 1 elements is refused before running (Wasm summed it to 0)', () => {
    const p = compile('pub fn e() -> f32 = sum(ones([2147483648]))\n', { path: 'e.obt' });
    expect(() => p.runSync('e', [], { device: { kind: 'wasm' } })).toThrow(
      /f32\[2147483648\]: 2147483648 elements \(8\.0 GiB\)/,
    );
    expect(() => p.runSync('e', [], { device: { kind: 'interp' } })).toThrow(/2\^31 - 1/);
  });
});

describe('dims divide exactly once their sizes are known, literals as integers', () => {
  // checked with symbols, `I / 128` is exact; lowering at I = 64 must not make it 0 (an empty
  // reshape far from the cause) but say the division is not exact, where it is
  const src = `
fn blocks[O, I](w: f32[O, I]) -> f32[O] = sum(reshape(w, [O, I / 128, 128]), axis: [1, 2])
pub fn wide(w: f32[2, 256]) -> f32[2] = blocks(w)
pub fn narrow(w: f32[2, 64]) -> f32[2] = blocks(w)
pub fn lit() -> i32 = 7 / 2
`;
  const p = compile(src, { path: 'div.obt' });
  it('an exact one runs; 7 / 2 is 3', () => {
    expect(p.ok).toBe(true);
    const w = { dtype: 'f32' as const, shape: [2, 256], data: new Float32Array(512).fill(1) };
    expect(Array.from(p.runSync('wide', [w]).tensors[0]!.data)).toEqual([256, 256]);
    expect(Array.from(p.runSync('lit', []).tensors[0]!.data)).toEqual([3]);
  });
  it('64 / 128 is an error at the division', () => {
    const w = { dtype: 'f32' as const, shape: [2, 64], data: new Float32Array(128) };
    let err: (Error & { diag?: Diagnostic }) | undefined;
    try {
      p.runSync('narrow', [w]);
    } catch (e) {
      err = e as Error & { diag?: Diagnostic };
    }
    expect(err?.message).toMatch(/integer division 64 \/ 128 is not exact/);
    const lc = lineCol(err!.diag!.span!.file, err!.diag!.span!.start);
    expect(`${lc.line}:${lc.col}`).toBe('2:62');
  });
});
