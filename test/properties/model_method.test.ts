// Fuzzer: model files with generated method sources and lying headers (issue 31). The shipped 1-bit
// student's method source is mutated (characters cut and inserted, tokens and hostile declarations
// spliced in: imports by path and by name of files beside the model, a FIFO, tuple and call
// doublings, huge loops) and its header given hostile values; each file either loads — and then
// runs a few tokens on the interpreter — or fails with a user error, within the per-case bounds,
// and no file outside obt's standard library and models/ is opened, read or even looked at on its
// behalf (fs is watched during each case). RUNS / 50 cases (npm run fuzz: 2 000).
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import fs, { mkdtempSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadModelBytes } from '../../llm/load.ts';
import { ModelRunner } from '../../llm/runner.ts';
import { PROJECT_ROOT, STDLIB_DIR } from '../../compiler/resolve/modules.ts';
import { bestHeader, hostileModel, withMethod, type ObtmHeader } from './hostile.ts';
import { HOSTILE_JSON, RUNS, Tally, timeoutFor } from './fuzz.ts';

const runs = Math.max(20, Math.round(RUNS / 50));
const dir = mkdtempSync(join(tmpdir(), 'obt-fuzz-method-'));
const file = join(dir, 'student.obtm');

/** Declarations and imports an attacker splices into a method. */
const HOSTILE_DECLS = [
  'import "secret.obt"',
  'import "fifo.obt"',
  'import secret',
  'import fifo',
  'import models.secret',
  `import "${join(dir, 'secret.obt')}"`,
  'import "../../../../etc/passwd.obt"',
  'import methods.onebit',
  'import nn',
  'import models.llama',
  'fn dup[T](x: T) -> (T, T) = (x, x)\nfn grow(x: f32) -> f32 {\n' +
    Array.from({ length: 20 }, (_, i) => `  let a${i} = dup(${i ? `a${i - 1}` : 'x'})`).join('\n') +
    '\n  x\n}',
  'fn f0(x: f32) -> f32 = x + 1.0\n' +
    Array.from({ length: 24 }, (_, i) => `fn f${i + 1}(x: f32) -> f32 = f${i}(f${i}(x))`).join('\n'),
  `fn big[A, B, C, D, E, F, G, H, I, J, K, L](x: f32[${Array.from({ length: 6 }, (_, i) => `(${'ABCDEFGHIJKL'[2 * i]} + ${'ABCDEFGHIJKL'[2 * i + 1]} + 1)`).join(' * ')}]) -> f32 = 1.0`,
  'pub struct OneBitNoLn[I, O] { s: sign[O, I] }',
  'pub fn apply[I, O](l: OneBitNoLn[I, O], x: f32[..., I]) -> f32[..., O] = x',
];
/** Wrappers of the inference form's apply (what every run calls). */
const WRAPS: ((e: string) => string)[] = [
  (e) => `iterate(2000000000, ${e}, fn(s) { s * 1.0 })`,
  (e) => `iterate(3, ${e}, fn(s) { s * 1.0 })`,
  (e) => `(${e} * f24(1.0))`,
  (e) => `(${e} + ${e})`,
  (e) => `transpose(${e})`,
];
const TOKENS = ['(', ')', '[', ']', '{', '}', ',', ':', '=', '+', '*', '@', 'fn', 'let', 'pub', 'I', 'O', 'f32', '\n'];

const sourceEdit = fc.oneof(
  fc.record({ k: fc.constant('cut' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ k: fc.constant('token' as const), at: fc.nat(), s: fc.constantFrom(...TOKENS) }),
  fc.record({ k: fc.constant('decl' as const), s: fc.constantFrom(...HOSTILE_DECLS) }),
  fc.record({ k: fc.constant('wrap' as const), i: fc.nat({ max: WRAPS.length - 1 }) }),
);
type SourceEdit = typeof sourceEdit extends fc.Arbitrary<infer T> ? T : never;

const CONFIG_KEYS = ['dim', 'hidden', 'layers', 'heads', 'kvHeads', 'vocab', 'seqLen', 'eps', 'ropeTheta'];
const headerEdit = fc.oneof(
  fc.record({
    k: fc.constant('config' as const),
    key: fc.constantFrom(...CONFIG_KEYS),
    v: fc.constantFrom(...HOSTILE_JSON, 1e-300, 1e9, 256, 4, 8),
  }),
  fc.record({ k: fc.constant('name' as const), v: fc.constantFrom('/../../x', 'a b', 'ok_name', '', 'x'.repeat(80)) }),
  fc.record({
    k: fc.constant('forms' as const),
    train: fc.constantFrom('OneBitNoLnTrain', 'Nope', 'Dense'),
    infer: fc.constantFrom('OneBitNoLn', 'OneBitNoLnTrain', 'Dense', 'Nope'),
  }),
  fc.record({
    k: fc.constant('piece' as const),
    at: fc.nat({ max: 511 }),
    v: fc.constantFrom('\u001b[2J', '\u0007', '\u009b31m', 'x'.repeat(300)),
  }),
);
type HeaderEdit = typeof headerEdit extends fc.Arbitrary<infer T> ? T : never;

function applyEdits(h: ObtmHeader, src: SourceEdit[], hdr: HeaderEdit[]): void {
  for (const e of src) {
    const s = h.method.source;
    if (e.k === 'cut') {
      const at = e.at % (s.length + 1);
      h.method.source = s.slice(0, at) + s.slice(at + e.n);
    } else if (e.k === 'token') {
      const at = e.at % (s.length + 1);
      h.method.source = s.slice(0, at) + ' ' + e.s + ' ' + s.slice(at);
    } else if (e.k === 'decl') h.method.source = e.s + '\n' + s;
    else {
      try {
        withMethod(h, '', WRAPS[e.i]);
      } catch {
        /* the apply was cut: nothing to wrap */
      }
    }
  }
  for (const e of hdr) {
    if (e.k === 'config') (h.config as Record<string, unknown>)[e.key] = e.v;
    else if (e.k === 'name') h.method.name = e.v;
    else if (e.k === 'forms') {
      h.method.train = e.train;
      h.method.infer = e.infer;
      h.layer = e.infer;
    } else h.tokenizer.pieces[e.at] = e.v;
  }
}

/** Every path fs is asked about while `f` runs (readFileSync, openSync, statSync, existsSync, …). */
async function watchingFs<T>(f: () => Promise<T>): Promise<{ value: T; paths: string[] }> {
  const names = [
    'readFileSync',
    'openSync',
    'statSync',
    'lstatSync',
    'existsSync',
    'realpathSync',
    'readdirSync',
  ] as const;
  const saved = names.map((n) => fs[n]);
  const paths: string[] = [];
  names.forEach((n, i) => {
    const orig = saved[i] as (...a: unknown[]) => unknown;
    (fs as unknown as Record<string, unknown>)[n] = (...a: unknown[]) => {
      if (typeof a[0] === 'string') paths.push(resolve(a[0]));
      return orig.apply(fs, a);
    };
  });
  syncBuiltinESMExports();
  try {
    return { value: await f(), paths };
  } finally {
    names.forEach((n, i) => ((fs as unknown as Record<string, unknown>)[n] = saved[i]));
    syncBuiltinESMExports();
  }
}

/** What obt may look at while loading and running a model file: its own library, never the user's
 *  (models/llama.obt's `import nn` also looks for obt's own root's nn.obt). */
const allowed = (p: string) =>
  (dirname(p) === PROJECT_ROOT && p.endsWith('.obt')) ||
  p.startsWith(STDLIB_DIR + '/') ||
  p.startsWith(join(PROJECT_ROOT, 'models') + '/') ||
  p === join(PROJECT_ROOT, 'models') ||
  p === join(PROJECT_ROOT, 'package.json') ||
  p === join(PROJECT_ROOT, 'stdlib') ||
  p === PROJECT_ROOT;

describe('model files with generated methods and lying headers', () => {
  beforeAll(() => {
    writeFileSync(join(dir, 'secret.obt'), 'fn f() -> f32 = SECRET 1.0\n');
    execFileSync('mkfifo', [join(dir, 'fifo.obt')]);
    bestHeader(); // the seed file read once, outside the watched cases
  });

  it(
    'load and run, or fail with a user error; nothing outside obt is looked at',
    async () => {
      const t = new Tally('model files: generated methods, lying headers', runs);
      await fc.assert(
        fc.asyncProperty(
          fc.array(sourceEdit, { maxLength: 4 }),
          fc.array(headerEdit, { maxLength: 2 }),
          fc.boolean(),
          async (src, hdr, run) => {
            const bytes = hostileModel((h) => applyEdits(h, src, hdr));
            const { paths } = await watchingFs(() =>
              t.run(async () => {
                const m = await loadModelBytes(file, bytes);
                if (run) await ModelRunner.fromFile(m, { kind: 'interp' }).logits([m.tokenizer.data.bos, 5, 6]);
              }),
            );
            const outside = paths.filter((p) => !allowed(p));
            expect(outside.join(' '), 'paths looked at on behalf of a model file').toBe('');
          },
        ),
        t.params,
      );
      console.log(t.summary());
    },
    timeoutFor(runs, 400),
  );
});
