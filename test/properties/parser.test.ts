// fast-check properties: the parser and checker never throw on random or mutated input; they
// only return diagnostics. OBT_FUZZ_RUNS raises the case count (npm run fuzz: 100 000).
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../compiler/api.ts';

const runs = Number(process.env.OBT_FUZZ_RUNS ?? 1500);
const timeout = Math.max(120_000, runs * 60);
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

function noThrow(src: string): void {
  const p = compile(src, { path: 'fuzz.obt' });
  void p.diagnostics.length;
}

describe('parser and checker robustness', () => {
  it(
    'never throw on random token soup',
    () => {
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...tokens), { maxLength: 40 }), (ts) => noThrow(ts.join(' '))),
        { numRuns: runs },
      );
    },
    timeout,
  );
  it(
    'never throw on random strings',
    () => {
      fc.assert(fc.property(fc.string({ maxLength: 200 }), noThrow), { numRuns: Math.ceil(runs / 3) });
    },
    timeout,
  );
  it(
    'never throw on mutated real programs',
    () => {
      const mut = fc.tuple(fc.nat(seeds.length - 1), fc.nat(), fc.nat(20), fc.constantFrom(...tokens, '', ' '));
      fc.assert(
        fc.property(mut, ([k, at, len, ins]) => {
          const s = seeds[k]!;
          const i = at % (s.length + 1);
          noThrow(s.slice(0, i) + ins + s.slice(i + len));
        }),
        { numRuns: runs },
      );
    },
    timeout,
  );
});
