// The obtc command-line contract: exit codes, diagnostics (file:line:col, the line, a caret,
// expected vs found), no stack trace for user errors, JSON arguments converted by parameter type;
// strict flags with did-you-mean, per-command help, --version, negative numbers, stdin for -.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { COMMANDS, main } from '../../cli/main.ts';
import { COMMAND_NAMES, COMMAND_SPECS } from '../../cli/spec.ts';

const root = join(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'obtc-'));

async function obtc(...argv: string[]): Promise<{ rc: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const rc = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { rc, out, err };
}

function file(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

describe('obtc check', () => {
  it('accepts the standard library, the model and the examples', async () => {
    const files = [
      'stdlib/nn.obt',
      'stdlib/linear.obt',
      'stdlib/onebit.obt',
      'stdlib/optim.obt',
      'models/llama.obt',
      'examples/train_step.obt',
      'examples/onebit_demo.obt',
    ].map((f) => join(root, f));
    const r = await obtc('check', ...files);
    expect(r.err).toBe('');
    expect(r.rc).toBe(0);
  });

  it('reports a shape error with location, source line, caret and both shapes', async () => {
    const p = file('bad.obt', 'fn f(a: f32[2, 3], b: f32[4]) -> f32[2, 3] {\n  a + b\n}\n');
    const r = await obtc('check', p);
    expect(r.rc).toBe(1);
    expect(r.err).toContain(`${p}:2:3: error: '+': cannot broadcast f32[2, 3] with f32[4]`);
    expect(r.err).toContain('2 |   a + b\n  |   ^^^^^');
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('reports every error of a file, not only the first', async () => {
    const p = file(
      'many.obt',
      'fn f(a: f32[2]) -> f32[2] = a + zz\nfn g(a: f32[2]) -> f32[3] = a\nfn h() -> f32 = nope(1)\n',
    );
    const r = await obtc('check', p);
    expect(r.rc).toBe(1);
    expect(r.err).toContain('many.obt:1:');
    expect(r.err).toContain('many.obt:2:');
    expect(r.err).toContain('many.obt:3:');
  });

  it('reports several errors inside one function', async () => {
    const p = file('many2.obt', 'fn f(a: f32[2]) -> f32[2] {\n  let x = a + q1\n  let y = a * q2\n  a\n}\n');
    const r = await obtc('check', p);
    expect(r.err).toContain('unknown name q1');
    expect(r.err).toContain('unknown name q2');
  });

  it('reports a syntax error with what was expected and found', async () => {
    const p = file('syn.obt', 'fn f(x: f32) -> f32 = x +\n');
    const r = await obtc('check', p);
    expect(r.rc).toBe(1);
    expect(r.err).toMatch(/syn\.obt:2:1: error: syntax error: expected .*, found end of file/);
  });

  it('names a missing file without a stack trace', async () => {
    const r = await obtc('check', join(tmp, 'nope.obt'));
    expect(r.rc).toBe(1);
    expect(r.err).toContain('cannot read');
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe('obtc run', () => {
  const p = file(
    'run.obt',
    'fn f[N](x: f32[N], s: f32) -> f32[N] = x * s\nfn g(x: f32[3]) -> (f32, i32[3]) = (sum(x), i32(x))\nstruct P[N] { a: f32[N], b: f32[N] }\nfn h[N](p: P[N]) -> f32[N] = p.a - p.b\n',
  );

  it('converts JSON arguments by the parameter types and prints JSON', async () => {
    const r = await obtc('run', p, '--entry', 'f', '[1, 2, 3]', '2');
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual([2, 4, 6]);
  });

  it('prints tuples as arrays', async () => {
    const r = await obtc('run', p, '--entry', 'g', '[1.5, 2, 3]');
    expect(JSON.parse(r.out)).toEqual([6.5, [1, 2, 3]]);
  });

  it('takes a struct as a JSON object', async () => {
    const r = await obtc('run', p, '--entry', 'h', '{"a": [5, 5], "b": [1, 2]}');
    expect(JSON.parse(r.out)).toEqual([4, 3]);
  });

  it('names both shapes for an argument of the wrong shape', async () => {
    const r = await obtc('run', p, '--entry', 'g', '[1, 2]');
    expect(r.rc).toBe(1);
    expect(r.err).toContain('argument x: expected f32[3], found f32[2]');
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('rejects a malformed JSON argument and an unknown entry', async () => {
    expect((await obtc('run', p, '--entry', 'g', '[1, 2')).err).toContain('not a JSON literal');
    const r = await obtc('run', p, '--entry', 'zz');
    expect(r.rc).toBe(1);
    expect(r.err).toContain('no function named zz');
  });

  it('prints usage for a bad command line (exit 2)', async () => {
    expect((await obtc('frobnicate')).rc).toBe(2);
    expect((await obtc('run', p)).rc).toBe(2);
  });
});

describe('obtc compile', () => {
  it('prints the AST with positions', async () => {
    const p = file('ast.obt', 'fn f(x: f32[2]) -> f32[2] = x * 2.0\n');
    const r = await obtc('compile', p, '--emit', 'ast');
    expect(r.rc).toBe(0);
    expect(r.out).toMatch(/fn (pub=false )?name="f".* @1:1/);
    expect(r.out).toContain('binary op="*" @1:29');
    const q = file('ast_imports.obt', 'import nn\nimport onebit as ob\nfn f(x: f32[2]) -> f32[2] = silu(x)\n');
    const imports = (await obtc('compile', q, '--emit', 'ast')).out;
    expect(imports).toContain('target: name parts=["nn"]');
    expect(imports).toMatch(/import alias="ob" @2:1\n\s+target: name parts=\["onebit"\]/);
  });

  it('prints verified Core IR for given shapes', async () => {
    const p = join(root, 'test/language/programs/ops.obt');
    const r = await obtc('compile', p, '--entry', 't_rmsnorm', '--emit', 'core', '--shape', 'x=3x8,w=8');
    expect(r.err).toBe('');
    expect(r.out).toMatch(/let %\d+: f32\[3\] = reduce_sum\(%\d+\)\{axes=\[1\]\}/);
    expect(r.out).toMatch(/hash [0-9a-f]{8}/);
  });

  it('prints the fused kernels, the plan and the Wasm text of an entry', async () => {
    const p = join(root, 'test/language/programs/ops.obt');
    const args = ['--entry', 't_rmsnorm', '--shape', 'x=3x8,w=8'];
    const kir = await obtc('compile', p, ...args, '--emit', 'kir');
    expect(kir.err).toBe('');
    // rmsnorm: the mean of squares is one reduction kernel with its epilogue, then one elementwise kernel
    expect(kir.out).toMatch(/loop \[3(, 1)?\] reduce_sum \[8\]/);
    expect(kir.out).toMatch(/store t\d+/);
    const plan = await obtc('compile', p, ...args, '--emit', 'plan');
    expect(plan.out).toMatch(/^plan: \d+ kernels, \d+ buffers, memory \d+ B, peak \d+ B/);
    expect(plan.out).toMatch(/alloc #\d+@\d+ f32\[3, 8\]/);
    const wat = await obtc('compile', p, ...args, '--emit', 'wat');
    expect(wat.out).toContain('(import "env" "memory"');
    expect(wat.out).toMatch(/f32x4|v128/);
  });

  it("runs an entry on the wasm backend with the interpreter's result", async () => {
    const p = join(root, 'test/language/programs/ops.obt');
    const x = '[[0,0,0,0,0],[1,2,3,4,5]]';
    const a = await obtc('run', p, '--entry', 't_softmax', x);
    const b = await obtc('run', p, '--entry', 't_softmax', '--backend', 'wasm', x);
    expect(b.rc, b.err).toBe(0);
    const [ra, rb] = [JSON.parse(a.out) as number[][], JSON.parse(b.out) as number[][]];
    ra.flat().forEach((v, i) => expect(Math.abs(v - rb.flat()[i]!)).toBeLessThan(1e-6));
    // a bad flag value is a user error (exit 1) naming the choices, as in every command
    const bad = await obtc('run', p, '--entry', 't_softmax', '--backend', 'gpu', x);
    expect(bad.rc).toBe(1);
    expect(bad.err).toMatch(/--backend gpu: expected wasm, interp, webgpu/);
  });
});

describe('the command line itself', () => {
  const commands = COMMAND_NAMES;

  it('has a module for every command of the flag table, loaded only when it runs', async () => {
    expect(Object.keys(COMMANDS).sort()).toEqual([...commands].sort());
    expect(Object.keys(COMMAND_SPECS).sort()).toEqual([...commands].sort());
    for (const cmd of commands) expect(typeof (await COMMANDS[cmd]()), cmd).toBe('function');
  });

  it('every command rejects an unknown flag (exit 2) and says which it meant', async () => {
    for (const cmd of commands) {
      const r = await obtc(cmd, '--no-such-flag', 'x');
      expect(r.rc, cmd).toBe(2);
      expect(r.err, cmd).toContain(`obtc ${cmd}: unknown flag --no-such-flag`);
      expect(r.err, cmd).toContain(`usage: obtc ${cmd}`);
    }
    expect((await obtc('generate', '--stepz', '5', '--temperature', '0')).err).toContain('did you mean --steps?');
    expect((await obtc('generate', '--temprature', '0')).err).toContain('did you mean --temperature?');
    expect((await obtc('quantize', '--stpes', '20')).err).toContain('did you mean --steps?');
    // a flag of another command is unknown here too
    expect((await obtc('check', '--steps', '3', 'f.obt')).rc).toBe(2);
    expect((await obtc('genrate')).err).toContain('unknown command genrate (did you mean generate?)');
  });

  it('rejects a missing or unwanted value (exit 2)', async () => {
    const missing = await obtc('generate', '--steps');
    expect(missing.rc).toBe(2);
    expect(missing.err).toContain('--steps needs a value');
    const extra = await obtc('run', 'f.obt', '--entry', 'f', '--f64=yes');
    expect(extra.rc).toBe(2);
    expect(extra.err).toContain('--f64 takes no value');
  });

  it('prints each command’s own help, the whole usage and the version', async () => {
    for (const cmd of commands) {
      const r = await obtc(cmd, '--help');
      expect(r.rc, cmd).toBe(0);
      expect(r.out, cmd).toMatch(new RegExp(`^usage: obtc ${cmd} `));
      expect(r.out, cmd).not.toContain('commands:');
      expect((await obtc('help', cmd)).out).toBe(r.out);
      expect((await obtc(cmd, '-h')).out).toBe(r.out);
    }
    const all = await obtc('--help');
    expect(all.rc).toBe(0);
    for (const cmd of commands) expect(all.out).toContain(`  ${cmd} `);
    const v = await obtc('--version');
    expect(v.rc).toBe(0);
    expect(v.out).toMatch(/^obtc \d+\.\d+\.\d+\n$/);
  });

  it('takes negative numbers as values and as positionals', async () => {
    const p = file('neg.obt', 'pub fn f(x: f32, y: i32) -> f32 = x * f32(y)\n');
    const r = await obtc('run', p, '--entry', 'f', '-1.5', '-2');
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toBe(3);
  });

  it('reads a source from standard input for -', () => {
    const bin = join(root, 'bin/obtc.js');
    const ok = spawnSync(process.execPath, [bin, 'run', '-', '--entry', 'f', '2'], {
      input: 'pub fn f(x: f32) -> f32 = x * 3.0\n',
      encoding: 'utf8',
    });
    expect(ok.stderr).toBe('');
    expect(ok.stdout.trim()).toBe('6');
    const bad = spawnSync(process.execPath, [bin, 'check', '-'], {
      input: 'pub fn f(x: f32) -> f32 = y\n',
      encoding: 'utf8',
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('<stdin>:1:27: error: unknown name y');
  });
});

describe('--json', () => {
  it('check: diagnostics as data (file, line, column, end, message, hint), exit 1 on errors', async () => {
    const bad = file('json_bad.obt', 'pub fn f(x: f32) -> f32 = x + y\n');
    const good = file('json_good.obt', 'pub fn f(x: f32) -> f32 = x\n');
    const r = await obtc('check', good, bad, '--json');
    expect(r.rc).toBe(1);
    expect(r.err).toBe('');
    const j = JSON.parse(r.out) as { ok: boolean; files: { file: string; ok: boolean; diagnostics: unknown[] }[] };
    expect(j.ok).toBe(false);
    expect(j.files.map((f) => f.ok)).toEqual([true, false]);
    expect(j.files[1]!.diagnostics).toEqual([
      {
        severity: 'error',
        message: 'unknown name y',
        file: bad,
        line: 1,
        column: 31,
        endLine: 1,
        endColumn: 32,
        hint: 'did you mean x?',
        notes: [],
      },
    ]);
    expect((await obtc('check', good, '--json')).rc).toBe(0);
  });

  it('quantize: stdout holds only the summary object', async () => {
    const out = join(tmp, 'q.obtm');
    const r = await obtc('quantize', '--steps', '0', '--no-eval', '--json', '--out', out);
    expect(r.rc).toBe(0);
    expect(r.out.trim().split('\n')).toHaveLength(1);
    const j = JSON.parse(r.out) as { method: string; out: string; compression: number; bitsPerLinearWeight: number };
    expect(j).toMatchObject({ method: 'onebit_noln_latw10', out });
    expect(j.compression).toBeGreaterThan(5);
    expect(j.bitsPerLinearWeight).toBeCloseTo(1.436, 2); // signs + g and h at f16 (the default; --fp32: 1.845)
  });

  it('generate and ppl: one object on stdout', async () => {
    const g = await obtc('generate', '--steps', '12', '--temperature', '0', '--json');
    expect(g.rc).toBe(0);
    const j = JSON.parse(g.out) as { text: string; ids: number[]; tokensPerS: number; backend: string };
    expect(j.text.startsWith('Once upon a time')).toBe(true);
    expect(j.ids.length).toBe(12);
    expect(j.backend).toBe('wasm');
    expect(j.tokensPerS).toBeGreaterThan(0);
    const text = file(
      'ppl.txt',
      'Once upon a time, there was a little girl named Lily. She loved to play outside. '.repeat(12),
    );
    const p = await obtc('ppl', '--text', text, '--seq', '32', '--json');
    expect(p.rc).toBe(0);
    const q = JSON.parse(p.out.trim().split('\n').pop()!) as {
      ppl: number;
      tokens: number;
      windows: number;
      seq: number;
    };
    expect(q.seq).toBe(32);
    expect(q.windows).toBeGreaterThan(1);
    expect(q.ppl).toBeGreaterThan(1);
  });
});

describe('obtc run output', () => {
  it('prints f32 values with the fewest digits that read back as the same f32', async () => {
    const p = file('digits.obt', 'pub fn f(x: f32[3]) -> (f32[3], f32, i32) = (x * 0.1, 1.0 / 3.0, 7)\n');
    const r = await obtc('run', p, '--entry', 'f', '[1, 2, 3]');
    expect(r.out.trim()).toBe('[[0.1,0.2,0.3],0.33333334,7]');
    const back = JSON.parse(r.out) as [number[], number, number];
    expect(back[0].map(Math.fround)).toEqual([1, 2, 3].map((k) => Math.fround(k * Math.fround(0.1))));
    expect(Math.fround(back[1])).toBe(Math.fround(1 / 3));
  });
});

describe('obtc run arguments', () => {
  it('rejects a non-integer or out-of-range value for an integer parameter', async () => {
    const p = file('ints.obt', 'pub fn f(n: i32, x: i32[2]) -> i32 = n + x[0]\n');
    const a = await obtc('run', p, '--entry', 'f', '1.5', '[2, 3]');
    expect(a.rc).toBe(1);
    expect(a.err).toContain('argument n: expected i32 values');
    expect(a.err).toContain('found 1.5');
    expect((await obtc('run', p, '--entry', 'f', '1', '[2, 3e10]')).err).toContain('found 30000000000');
    const ok = await obtc('run', p, '--entry', 'f', '1', '[-2, 3]');
    expect(ok.out.trim()).toBe('-1');
  });
});
