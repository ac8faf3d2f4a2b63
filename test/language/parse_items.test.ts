// Item-level parsing (compiler/syntax/parse.ts parseByItems) agrees with parsing the whole text:
// on the shipped programs and on mutations of them (cuts inside comments, bodies and strings
// included) the pieces give the whole parse's AST, spans included, or defer to it.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseByItems, parseWhole } from '../../compiler/syntax/parse.ts';
import { UserError } from '../../compiler/syntax/diag.ts';

const root = join(import.meta.dirname, '../..');
const seeds = [
  'stdlib/nn.obt',
  'stdlib/onebit.obt',
  'models/llama.obt',
  ...readdirSync(join(root, 'test/language/conformance'))
    .filter((f) => f.endsWith('.obt'))
    .map((f) => `test/language/conformance/${f}`),
].map((p) => readFileSync(join(root, p), 'utf8'));

function whole(text: string) {
  const file = { path: 'items.obt', text };
  try {
    return { file, ast: parseWhole(file) };
  } catch (e) {
    if (e instanceof UserError) return { file, ast: undefined };
    throw e;
  }
}

describe('parsing by items', () => {
  it('gives the whole parse on every shipped program', () => {
    for (const text of seeds) {
      const w = whole(text);
      const p = parseByItems(w.file, text);
      expect(p).toBeDefined();
      expect(p).toEqual(w.ast);
    }
  });

  it('cuts that are not between items defer to the whole parse', () => {
    const inComment = 'fn a() -> f32 = 1.0\n/* note:\nfn b() -> f32 = 2.0\n*/\nfn c() -> f32 = 3.0\n';
    const inBody = 'fn a() -> f32 {\n  let f = fn(x: f32) -> f32 = x\n  f(1.0)\n}\nfn c() -> f32 = 3.0\n';
    const atCol0 = 'fn a() -> f32 {\nlet f =\nfn(x: f32) -> f32 = x\nf(1.0)\n}\n';
    for (const text of [inComment, inBody, atCol0]) {
      const w = whole(text);
      expect(w.ast).toBeDefined();
      expect(parseByItems(w.file, text) ?? w.ast).toEqual(w.ast);
    }
  });

  it('mutations: the pieces agree with the whole parse or defer to it', () => {
    const ins = [
      '',
      ' ',
      '\n',
      '\nfn ',
      '\npub ',
      '\nstruct ',
      '\nimport ',
      '/*',
      '*/',
      '//',
      '"',
      '{',
      '}',
      '(',
      'fn',
      'x',
    ];
    fc.assert(
      fc.property(fc.nat(seeds.length - 1), fc.nat(), fc.nat(12), fc.constantFrom(...ins), (k, at, len, s) => {
        const src = seeds[k]!;
        const i = at % (src.length + 1);
        const text = src.slice(0, i) + s + src.slice(i + len);
        const w = whole(text);
        const p = parseByItems(w.file, text);
        if (p) expect(p).toEqual(w.ast);
      }),
      { numRuns: 400 },
    );
  });
});
