// The TextMate grammar (editors/vscode/syntaxes/obt.tmLanguage.json) through VS Code's own engine
// (vscode-textmate with the oniguruma regex library): a sample's keywords, dtypes, numbers,
// comments, strings, builtins and declarations get their scopes; the builtin list is the
// checker's; every shipped .obt file tokenises without an unclosed comment or string running to
// its end; the VS Code extension's manifest points at files that exist.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import vsctm from 'vscode-textmate';
import oniguruma from 'vscode-oniguruma';
import { ROOT } from '../arch/graph.ts';
import { BUILTINS } from '../../compiler/types/elab/builtins.ts';
import { DTYPES } from '../../runtime/core/dtype.ts';

const GRAMMAR = join(ROOT, 'editors/vscode/syntaxes/obt.tmLanguage.json');
const require = createRequire(import.meta.url);

async function loadGrammar(): Promise<vsctm.IGrammar> {
  const wasm = readFileSync(join(require.resolve('vscode-oniguruma'), '../onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (s: string[]) => new oniguruma.OnigScanner(s),
      createOnigString: (s: string) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scope) =>
      scope === 'source.obt' ? vsctm.parseRawGrammar(readFileSync(GRAMMAR, 'utf8'), GRAMMAR) : null,
  });
  return (await registry.loadGrammar('source.obt'))!;
}

/** Every token of a text: its text and innermost scope, line by line. */
function tokenize(g: vsctm.IGrammar, text: string): { text: string; scope: string; line: number }[] {
  const out: { text: string; scope: string; line: number }[] = [];
  let state = vsctm.INITIAL;
  text.split('\n').forEach((line, i) => {
    const r = g.tokenizeLine(line, state);
    for (const t of r.tokens)
      out.push({ text: line.slice(t.startIndex, t.endIndex), scope: t.scopes.at(-1)!, line: i });
    state = r.ruleStack;
  });
  return out;
}

const SAMPLE = `// a line comment
import nn as n
/* a block
   comment */
pub struct Dense[I, O] { w: f32[O, I] }

pub fn f[D](x: f32[..., D], k: i32, s: sign[D, D]) -> f32[..., D] grad(dy) = dy {
  let y = exp(x) * 2.5e-3 + 1.0;
  let z = n.silu(y) ** 2;
  where(k >= 3 && true, z, sum(y, axis: 0) / 64)
}
`;

describe('the TextMate grammar', () => {
  it('scopes keywords, dtypes, numbers, comments, strings, builtins and declarations', async () => {
    const toks = tokenize(await loadGrammar(), SAMPLE);
    const scopeOf = (text: string, line?: number) =>
      toks.find((t) => t.text === text && (line === undefined || t.line === line))?.scope;
    expect(scopeOf('// a line comment')).toBe('comment.line.double-slash.obt');
    expect(toks.filter((t) => t.line === 3 && t.text.includes('comment'))[0]?.scope).toBe('comment.block.obt');
    expect(scopeOf('import')).toBe('keyword.control.import.obt');
    expect(scopeOf('nn')).toBe('entity.name.namespace.obt');
    expect(scopeOf('as')).toBe('keyword.control.import.as.obt');
    expect(scopeOf('pub', 4)).toBe('storage.modifier.pub.obt');
    expect(scopeOf('struct')).toBe('storage.type.struct.obt');
    expect(scopeOf('Dense')).toBe('entity.name.type.struct.obt');
    expect(scopeOf('fn')).toBe('storage.type.function.obt');
    expect(scopeOf('f', 6)).toBe('entity.name.function.obt');
    expect(scopeOf('let', 7)).toBe('storage.type.let.obt');
    expect(scopeOf('y', 7)).toBe('variable.other.declaration.obt');
    expect(scopeOf('grad')).toBe('keyword.other.grad.obt');
    for (const d of ['f32', 'i32', 'sign']) expect(scopeOf(d)).toBe('storage.type.primitive.obt');
    expect(scopeOf('2.5e-3')).toBe('constant.numeric.float.obt');
    expect(scopeOf('1.0')).toBe('constant.numeric.float.obt');
    expect(scopeOf('64')).toBe('constant.numeric.integer.obt');
    expect(scopeOf('3')).toBe('constant.numeric.integer.obt');
    expect(scopeOf('true')).toBe('constant.language.boolean.obt');
    for (const b of ['exp', 'where', 'sum']) expect(scopeOf(b)).toBe('support.function.builtin.obt');
    expect(scopeOf('silu')).toBe('entity.name.function.call.obt');
    expect(scopeOf('**')).toBe('keyword.operator.obt');
    expect(scopeOf('->')).toBe('keyword.operator.arrow.obt');
    expect(scopeOf('...')).toBe('keyword.operator.spread.obt');
    // a word that merely contains a keyword or a dtype is not one
    const t2 = tokenize(await loadGrammar(), 'fn letters(f32x: f32) -> f32 = f32x');
    expect(t2.find((t) => t.text.startsWith('letters'))?.scope).toBe('entity.name.function.obt');
    expect(t2.filter((t) => t.scope === 'storage.type.primitive.obt').map((t) => t.text)).toEqual(['f32', 'f32']);
    const t3 = tokenize(await loadGrammar(), 'import "../lib/util.obt"');
    expect(t3.find((t) => t.text.includes('util'))?.scope).toBe('string.quoted.double.obt');
  });

  it("lists exactly the checker's builtins and dtypes", () => {
    const g = JSON.parse(readFileSync(GRAMMAR, 'utf8')) as {
      repository: Record<string, { patterns: { match?: string; name?: string }[] }>;
    };
    const builtinRe = g.repository.calls!.patterns.find((p) => p.name === 'support.function.builtin.obt')!.match!;
    const listed = /\\b\(([^)]*)\)/.exec(builtinRe)![1]!.split('|').sort();
    expect(listed).toEqual(
      Object.keys(BUILTINS)
        .filter((k) => !k.startsWith('$'))
        .sort(),
    );
    const dtypeRe = g.repository.types!.patterns[0]!.match!;
    expect(/\(([^)]*)\)/.exec(dtypeRe)![1]!.split('|').sort()).toEqual([...DTYPES].sort());
  });

  it('every shipped .obt file ends outside any comment or string', async () => {
    const g = await loadGrammar();
    const files: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d, { withFileTypes: true }))
        if (f.isDirectory()) walk(join(d, f.name));
        else if (f.name.endsWith('.obt')) files.push(join(d, f.name));
    };
    for (const d of ['stdlib', 'models', 'examples']) walk(join(ROOT, d));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const toks = tokenize(g, readFileSync(f, 'utf8') + '\nx');
      expect(toks.at(-1)!.scope, f).toBe('source.obt');
    }
  });

  it("the VS Code extension's manifest names the grammar, its configuration and its entry", () => {
    const dir = join(ROOT, 'editors/vscode');
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      main: string;
      contributes: {
        languages: { id: string; extensions: string[]; configuration: string }[];
        grammars: { path: string; scopeName: string }[];
      };
    };
    expect(pkg.contributes.languages[0]).toMatchObject({ id: 'obt', extensions: ['.obt'] });
    expect(pkg.contributes.grammars[0]!.scopeName).toBe('source.obt');
    for (const f of [pkg.main, pkg.contributes.grammars[0]!.path, pkg.contributes.languages[0]!.configuration])
      expect(existsSync(join(dir, f)), f).toBe(true);
    const conf = JSON.parse(readFileSync(join(dir, 'language-configuration.json'), 'utf8')) as {
      comments: { lineComment: string };
    };
    expect(conf.comments.lineComment).toBe('//');
  });
});
