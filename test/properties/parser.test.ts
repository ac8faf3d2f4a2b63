// fast-check properties: the parser and checker never throw on random or mutated input; they
// only return diagnostics. One target of RUNS cases (npm run fuzz: 100 000): 35% token soup, 15%
// random strings, 50% mutated real programs (the ones that reach the checker).
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../compiler/api.ts';
import { CompileError } from '../../compiler/syntax/diag.ts';
import { Tally, share, timeoutFor } from './fuzz.ts';

const seeds = [
  'stdlib/nn.obt',
  'stdlib/onebit.obt',
  'stdlib/linear.obt',
  'models/llama.obt',
  ...readdirSync(join(import.meta.dirname, '../language/conformance'))
    .filter((f) => f.endsWith('.obt'))
    .map((f) => `test/language/conformance/${f}`),
].map((p) => readFileSync(join(import.meta.dirname, '../..', p), 'utf8'));
const tokens = [
  'fn',
  'let',
  'struct',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ',',
  ':',
  '->',
  '=',
  '+',
  '*',
  '@',
  '...',
  'f32',
  'i32',
  'sign',
  'x',
  'D',
  '1',
  '2.5',
  '"ij->j"',
  '\n',
  'grad(dy)',
  'sum',
  'iterate',
  'import nn',
  ';',
  '-',
  '**',
  'where',
  'fold',
  'as',
  'import "x.obt" as m',
  'pub',
  'true',
  'Dense {',
  '..',
  '#',
  '?',
];

/** Compiles a program: diagnostics are a clear error, any exception fails the property. `path`:
 *  one per seed, so the parser's incremental matching re-matches only around a mutation. */
function check(t: Tally, src: string, path = 'fuzz.obt'): Promise<void> {
  return t.run(() => {
    const p = compile(src, { path });
    if (!p.ok) throw new CompileError(p.diagnostics);
  });
}

describe('parser and checker robustness', () => {
  it(
    'never throw on random token soup',
    async () => {
      const t = new Tally('programs: token soup', share(0.35));
      await fc.assert(
        fc.asyncProperty(fc.array(fc.constantFrom(...tokens), { maxLength: 40 }), (ts) => check(t, ts.join(' '))),
        t.params,
      );
      console.log(t.summary());
    },
    timeoutFor(share(0.35), 5),
  );
  it(
    'never throw on random strings',
    async () => {
      const t = new Tally('programs: random strings', share(0.15));
      await fc.assert(
        fc.asyncProperty(fc.string({ maxLength: 200 }), (s) => check(t, s)),
        t.params,
      );
      console.log(t.summary());
    },
    timeoutFor(share(0.15), 5),
  );
  it(
    'never throw on mutated real programs',
    async () => {
      const t = new Tally('programs: mutated real programs', share(0.5));
      const mut = fc.tuple(fc.nat(seeds.length - 1), fc.nat(), fc.nat(20), fc.constantFrom(...tokens, '', ' '));
      await fc.assert(
        fc.asyncProperty(mut, ([k, at, len, ins]) => {
          const s = seeds[k]!;
          const i = at % (s.length + 1);
          return check(t, s.slice(0, i) + ins + s.slice(i + len), `fuzz-${k}.obt`);
        }),
        t.params,
      );
      console.log(t.summary());
    },
    timeoutFor(share(0.5), 60),
  );
});
