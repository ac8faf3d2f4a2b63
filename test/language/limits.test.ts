// Hostile programs (issue 17): deep nesting, long operator chains, oversized files, control
// characters, a byte-order mark, imports of things that are not the project's .obt files, empty
// concat/stack, oversized literals, recursion through other modules, and `run` arguments — each a
// diagnostic with file:line:col, never a crash, a hang or another file's contents.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '../../compiler/api.ts';
import { formatDiagnostic } from '../../compiler/syntax/diag.ts';
import { MAX_BRACKETS, MAX_EXPR_DEPTH, MAX_SOURCE_BYTES } from '../../compiler/syntax/limits.ts';
import { main } from '../../cli/main.ts';
import { MAX_ARG_DEPTH, parseArgText } from '../../cli/json_arg.ts';
import { DenseHost } from '../../runtime/core/tensor.ts';
import { obtcChild } from '../helpers/child.ts';

const dir = mkdtempSync(join(tmpdir(), 'obt-limits-'));
// a project of its own: imports are confined to it
writeFileSync(join(dir, 'package.json'), '{}');

/** The diagnostics of a program (rendered), asserting that compiling it did not throw. */
function diags(text: string, path = join(dir, 'main.obt')): string {
  const p = compile(text, { path });
  return p.diagnostics.map((d) => formatDiagnostic(d)).join('\n');
}

async function obtc(args: string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  if (stdin !== undefined) {
    // standard input needs a process of its own
    try {
      const out = execFileSync(process.execPath, [join(import.meta.dirname, '../../bin/obtc.js'), ...args], {
        input: stdin,
        encoding: 'utf8',
      });
      return { code: 0, out, err: '' };
    } catch (e) {
      const x = e as { status: number; stdout: string; stderr: string };
      return { code: x.status, out: x.stdout, err: x.stderr };
    }
  }
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('nesting and size', () => {
  it(`brackets nested ${MAX_BRACKETS + 1} deep (80 used to overflow the parser's stack)`, () => {
    const n = 80;
    expect(diags(`fn f() -> f32 = ${'('.repeat(n)}1.0${')'.repeat(n)}`)).toMatch(
      new RegExp(`main\\.obt:1:${17 + MAX_BRACKETS}: error: brackets nested more than ${MAX_BRACKETS} deep`),
    );
    expect(diags(`fn f() -> f32 = ${'('.repeat(MAX_BRACKETS)}1.0${')'.repeat(MAX_BRACKETS)}`)).toBe('');
  });
  it('an 850-term + chain is a depth diagnostic; a 200-term chain runs', async () => {
    expect(diags(`fn f() -> f32 = ${Array(850).fill('1.0').join(' + ')}`)).toMatch(
      new RegExp(`nests more than ${MAX_EXPR_DEPTH} levels deep`),
    );
    const p = compile(`fn f() -> f32 = ${Array(200).fill('1.0').join(' + ')}`, { path: 'chain.obt' });
    expect((await p.run('f', [], { device: { kind: 'wasm' } })).value).toMatchObject({ data: Float32Array.of(200) });
  });
  it('a 5 MB file is refused at once by the size limit', () => {
    const t0 = performance.now();
    expect(diags(`// ${'x'.repeat(5_000_000)}\nfn f() -> f32 = 1.0\n`)).toMatch(
      new RegExp(`main\\.obt:1:1: error: this file has 50000\\d\\d characters; .*at most ${MAX_SOURCE_BYTES}`),
    );
    expect(performance.now() - t0).toBeLessThan(2000);
  });
  it('an integer literal past 2^53', () =>
    expect(diags('fn f() -> f32 = sum(ones([9007199254740993]))')).toMatch(
      /1:27: error: the integer 9007199254740993/,
    ));
});

describe('the compile budget', () => {
  const doubling = (n: number) =>
    'fn f0(x: f32) -> f32 = x + 1.0\n' +
    Array.from({ length: n }, (_, i) => `fn f${i + 1}(x: f32) -> f32 = f${i}(f${i}(x))`).join('\n') +
    `\nfn main() -> f32 = f${n}(0.0)\n`;
  it('2^18 inlined calls: a diagnostic at the call naming the limit; --compile-budget 4 runs it', async () => {
    const f = join(dir, 'doubling.obt');
    writeFileSync(f, doubling(17));
    const r = await obtc(['run', f, '--entry', 'main', '--backend', 'interp']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/doubling\.obt:\d+:\d+: error: compile budget exceeded: .*at most 131072 inlined calls/);
    expect(r.err).toMatch(/--compile-budget X/);
    const ok = await obtc(['run', f, '--entry', 'main', '--backend', 'interp', '--compile-budget', '4']);
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(ok.out)).toBe(2 ** 17);
  });
  it('a dimension product of 2^24 terms, checked in a moment', () => {
    const vars = Array.from({ length: 48 }, (_, i) => `V${i}`);
    const prod = Array.from({ length: 24 }, (_, i) => `(V${2 * i} + V${2 * i + 1})`).join(' * ');
    expect(diags(`fn f[${vars.join(', ')}](x: f32[${prod}]) -> f32 = 1.0`)).toMatch(
      /compile budget exceeded: a product of dimension expressions expands to this many terms: \d+; at most 1024 /,
    );
  });
  it('a power of a dim past 64 is a diagnostic (printing D^(2^30) would spell it out)', () =>
    expect(diags(`fn g[M](x: f32[${Array(70).fill('M').join(' * ')}]) -> f32 = 1.0`)).toMatch(
      /raises M to the power 65; at most 64/,
    ));
  it("a flat chain parses in linear time (reading ohm's children per operator made it quadratic)", () => {
    const t = (n: number) => {
      const text = `fn f(x: f32) -> f32 = x${' + x'.repeat(n)}\n`;
      let best = Infinity;
      for (let i = 0; i < 2; i++) {
        const t0 = performance.now();
        diags(text, join(dir, `chain${n}-${i}.obt`));
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    t(500);
    // four times the operators: ~4× the time when linear, 16× when quadratic
    expect(t(16_000) / t(4_000)).toBeLessThan(8);
  });
});

describe('characters', () => {
  it('a UTF-8 byte-order mark is read as a space', () => expect(diags('\ufefffn f() -> f32 = 1.0\n')).toBe(''));
  it('control characters are a diagnostic, shown as pictures, never echoed raw', () => {
    const d = diags('fn f() -> f32 = 1.0 \u0001\u0000 x\n');
    expect(d).toMatch(/main\.obt:1:21: error: a control character \(U\+0001\) in the source/);
    expect(d).toContain('1.0 ␁␀ x');
    expect(d.includes('\u0000') || d.includes('\u0001')).toBe(false);
  });
  it('a long line is cut around the caret', () => {
    const d = diags(`fn f() -> f32 = ${'1.0 + '.repeat(100)}q\n`);
    const snippet = d.split('\n')[1]!;
    expect(snippet.length).toBeLessThan(120);
    expect(snippet).toContain('…');
  });
});

describe('imports', () => {
  const refused = (target: string) => diags(`import "${target}"\nfn f() -> f32 = 1.0\n`);
  it('a file that is not .obt (its contents never echoed)', () => {
    const d = refused('/etc/passwd');
    expect(d).toMatch(/main\.obt:1:1: error: cannot import "\/etc\/passwd": a module is a \.obt file/);
    expect(d).not.toContain('root:');
  });
  it('a device', () => expect(refused('/dev/zero')).toMatch(/cannot import "\/dev\/zero"/));
  it('a directory', () => {
    mkdirSync(join(dir, 'sub.obt'));
    expect(refused('sub.obt')).toMatch(/cannot import "sub\.obt": it is a directory/);
  });
  it('a FIFO (which would hang a read)', () => {
    execFileSync('mkfifo', [join(dir, 'pipe.obt')]);
    expect(refused('pipe.obt')).toMatch(/cannot import "pipe\.obt": it is not a regular file/);
  });
  it('a file outside the project, directly or through a symbolic link', () => {
    const outside = mkdtempSync(join(tmpdir(), 'obt-outside-'));
    writeFileSync(join(outside, 'x.obt'), 'pub fn g() -> f32 = 1.0\n');
    symlinkSync(join(outside, 'x.obt'), join(dir, 'link.obt'));
    expect(refused(join(outside, 'x.obt'))).toMatch(/it is outside the project/);
    expect(refused('link.obt')).toMatch(/cannot import "link\.obt": it is outside the project/);
  });
  it('a sibling .obt file of the project still imports', () => {
    writeFileSync(join(dir, 'lib.obt'), 'pub fn g() -> f32 = 2.0\n');
    expect(diags('import "lib.obt"\nfn f() -> f32 = g()\n')).toBe('');
  });
});

describe('checker', () => {
  it('concat and stack of an empty list (found by the fuzzer: crashed the checker)', () => {
    expect(diags('fn f() -> f32[0] = concat([])')).toMatch(/1:27: error: concat of an empty list/);
    expect(diags('fn f() -> f32[0] = stack([])')).toMatch(/1:26: error: stack of an empty list/);
  });
  it('a struct generic over `...` (found by npm run fuzz: crashed kind inference)', () =>
    expect(diags('pub struct T[I, ...] { q: f32[I] }\nfn f(t: T[2, 3]) -> f32 = 1.0\n')).toMatch(
      /1:17: error: a struct cannot be generic over `\.\.\.`/,
    ));
  it('recursion through another module is found by check, not only by run', () => {
    writeFileSync(join(dir, 'ra.obt'), 'import "rb.obt"\npub fn f(x: f32) -> f32 = rb.g(x)\n');
    writeFileSync(join(dir, 'rb.obt'), 'import "ra.obt"\npub fn g(x: f32) -> f32 = ra.f(x)\n');
    expect(diags('import "ra.obt"\nfn h(x: f32) -> f32 = f(x)\n')).toMatch(
      /rb\.obt:2:27: error: f → g → f: f calls itself through g; recursion is not supported/,
    );
  });
  it('a tensor larger than a backend can hold is refused before anything is allocated', async () => {
    for (const backend of ['interp', 'wasm'] as const) {
      const r = await obtc(
        ['run', '-', '--entry', 'f', '--backend', backend],
        'fn f() -> f32 = sum(ones([100000, 100000]))\n',
      );
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/f32\[100000, 100000\]: 10000000000 elements .*more than the 2147483647/);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });
});

describe('run arguments', () => {
  const src = join(dir, 'args.obt');
  writeFileSync(src, 'fn f(x: f32[3]) -> f32[3] = x * 2.0\nfn g(n: i32) -> i32 = n + 1\nfn u(n: u32) -> u32 = n\n');
  const run = (entry: string, ...args: string[]) => obtc(['run', src, '--entry', entry, ...args]);
  it('integers: a fraction, a value out of range, a negative u32 name the parameter', async () => {
    for (const [e, a] of [
      ['g', '1.7'],
      ['g', '4294967297'],
      ['u', '-1'],
    ] as const) {
      const r = await run(e, a);
      expect(r.code, a).toBe(1);
      expect(r.err).toMatch(/argument n: expected [iu]32 values/);
    }
  });
  it('nan, inf and -inf as printed', async () => {
    const r = await run('f', '[nan, inf, -inf]');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual(['nan', 'inf', '-inf']);
  });
  it('nan and inf are not integers or bools; 1e400 and 1e39 (for an f32) are out of range, not inf', async () => {
    const src2 = join(dir, 'args2.obt');
    writeFileSync(
      src2,
      'fn g(n: i32) -> i32 = n + 1\nfn b(x: bool[2]) -> bool[2] = x\nfn f(x: f32[2]) -> f32[2] = x\n',
    );
    const r2 = (entry: string, a: string) => obtc(['run', src2, '--entry', entry, a]);
    for (const [e, a, re] of [
      ['g', 'nan', /argument n: expected i32 values .*found nan/],
      ['g', '-inf', /argument n: expected i32 values .*found -inf/],
      ['b', '[inf, true]', /argument x: expected bool values \(true or false\), found inf/],
      ['b', '[2, 0]', /argument x: expected bool values \(true or false\), found 2/],
      ['f', '[1e400, 1]', /argument 1: 1e400 is out of range for a number \(write inf or -inf/],
      ['f', '[1e39, 1]', /argument x: 1e\+39 is out of range for f32/],
    ] as const) {
      const r = await r2(e, a);
      expect(r.code, a).toBe(1);
      expect(r.err, a).toMatch(re);
    }
    expect(JSON.parse((await r2('f', '[nan, -inf]')).out)).toEqual(['nan', '-inf']);
    expect(JSON.parse((await r2('b', '[true, false]')).out)).toEqual([true, false]);
  });
  it('10^5-deep nesting is a user error naming the limit (was: Maximum call stack size exceeded)', async () => {
    const deep = join(dir, 'deep.json');
    writeFileSync(deep, '['.repeat(100_000) + ']'.repeat(100_000));
    const r = await run('f', `@${deep}`);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`argument 1: it nests deeper than ${MAX_ARG_DEPTH} levels`));
  });
  it('a large numeric argument is read flat (one Float64Array, no JS arrays): 18 MB in bounded memory', async () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => `[${(i % 97) / 7}, ${-(i % 13)}]`);
    const text = `[${rows.join(', ')}]`;
    const v = parseArgText(text, 0);
    expect(v).toBeInstanceOf(DenseHost);
    expect((v as DenseHost).shape).toEqual([200_000, 2]);
    expect((v as DenseHost).data[2 * 1234]).toBe((1234 % 97) / 7);
    // a tuple and an array of tensors split a dense block into its rows
    const tup = join(dir, 'tuple.obt');
    writeFileSync(tup, 'fn t(p: (f32[2], f32[2])) -> f32[2] = p.0 + p.1\n');
    expect(JSON.parse((await obtc(['run', tup, '--entry', 't', '[[1, 2], [3, 4]]'])).out)).toEqual([4, 6]);
    const big = join(dir, 'big.json');
    writeFileSync(big, `[${Array.from({ length: 9 }, () => text).join(', ')}]`);
    const sum = join(dir, 'sum.obt');
    writeFileSync(sum, 'fn s(x: f32[9, 200000, 2]) -> f32 = sum(x)\n');
    const r = await obtcChild(['run', sum, '--entry', 's', `@${big}`]);
    expect(r.rc, r.err).toBe(0);
    expect(r.maxRssMiB).toBeLessThan(400); // JSON.parse's nested arrays: ~470 MiB here
  });
  it('@FILE and - (standard input) for large arguments', async () => {
    const big = join(dir, 'x.json');
    writeFileSync(big, JSON.stringify([1, 2, 3]) + ' '.repeat(200_000));
    expect((await run('f', `@${big}`)).out.trim()).toBe('[2,4,6]');
    const r = await obtc(['run', src, '--entry', 'f', '-'], '[4, 5, 6]');
    expect(r.out.trim()).toBe('[8,10,12]');
    expect((await run('f', `@${dir}`)).err).toMatch(/argument 1: .* is not a regular file/);
  });
});
