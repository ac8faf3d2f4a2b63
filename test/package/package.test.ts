// The npm package as a user gets it: `npm pack` (which builds dist/), the tarball installed into an
// empty folder, then obtc and the three entry points used from there — compiled JavaScript only
// (no tsx, no TypeScript sources in the package), the kernel cache in the user's cache directory,
// the runtime entry loading an artifact with the compiler's packages removed, and WebGPU's
// optional package absent with a clear message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../arch/graph.ts';
import { Client } from '../helpers/lsp_client.ts';

let dir: string;
let files: string[];
const env = () => ({ ...process.env, XDG_CACHE_HOME: join(dir, 'cache'), OBT_CACHE_DIR: undefined });

function sh(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? dir, env: env(), encoding: 'utf8', input: opts.input });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** obtc as a user runs it from the folder it was installed in */
const obtc = (...args: string[]) => sh('npx', ['--no', '--', 'obtc', ...args]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'obt-pack-'));
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  ) as { filename: string; files: { path: string }[] }[];
  files = packed[0]!.files.map((f) => f.path);
  execFileSync('npm', ['init', '-y'], { cwd: dir, stdio: 'ignore' });
  execFileSync(
    'npm',
    ['install', `./${packed[0]!.filename}`, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
    { cwd: dir, stdio: 'ignore' },
  );
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds compiled JavaScript, declarations and the data, and no tests, benchmarks, CI or TypeScript sources', () => {
    for (const f of [
      'bin/obtc.js',
      'dist/cli/main.js',
      'dist/compiler/index.js',
      'dist/compiler/index.d.ts',
      'dist/runtime/index.d.ts',
      'dist/llm/index.d.ts',
      'dist/compiler/syntax/obt.recipe.json',
      'dist/page/app.js',
      'stdlib/nn.obt',
      'models/llama.obt',
      'data/stories260K.bin',
      'LICENSE',
    ])
      expect(files).toContain(f);
    expect(files.filter((f) => /^(test|bench|\.ci|cli|compiler|runtime|llm|scripts)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    // what an install pulls: the four runtime dependencies, no tsx, esbuild or webgpu
    const installed = readdirSync(join(dir, 'node_modules')).filter((f) => !f.startsWith('.'));
    expect(installed).toContain('binaryen');
    for (const p of ['tsx', 'esbuild', 'webgpu', 'typescript', 'vitest']) expect(installed).not.toContain(p);
  });

  it('npx obtc --version and --help answer, a mistyped flag is exit 2 with a did-you-mean', () => {
    const v = obtc('--version');
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/^obtc \d+\.\d+\.\d+/);
    expect(obtc('generate', '--help').out).toContain('--steps');
    const bad = obtc('generate', '--stepz', '4');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('did you mean --steps');
  });

  it('npx obtc generate --steps 4 runs the shipped model, caching kernels in $XDG_CACHE_HOME/obt', () => {
    const r = obtc('generate', '--steps', '4', '--seed', '1', '--json');
    expect(r.err).not.toMatch(/internal|tsx/);
    expect(r.code).toBe(0);
    const o = JSON.parse(r.out) as { ids: number[]; backend: string };
    expect(o.backend).toBe('wasm');
    expect(o.ids.length).toBeGreaterThan(0);
    expect(readdirSync(join(dir, 'cache/obt/wasm')).length).toBeGreaterThan(5);
    expect(existsSync(join(dir, 'node_modules/obt/.obt-cache'))).toBe(false);
  });

  it('npx obtc lsp answers from the compiled package (its analysis thread runs dist/ without tsx)', async () => {
    const c = new Client(
      spawn(process.execPath, [join(dir, 'node_modules/obt/bin/obtc.js'), 'lsp', '--stdio'], { cwd: dir, env: env() }),
    );
    try {
      await c.request('initialize', { processId: process.pid, rootUri: pathToFileURL(dir).href, capabilities: {} });
      const uri = pathToFileURL(join(dir, 'p.obt')).href;
      const diags = c.diagnostics(uri);
      c.send({
        method: 'textDocument/didOpen',
        params: { textDocument: { uri, languageId: 'obt', version: 1, text: 'pub fn f(x: f32[3]) -> f32 = slu(x)\n' } },
      });
      expect((await diags)[0]?.message).toContain('unknown name slu');
    } finally {
      c.proc.kill();
    }
  }, 60_000);

  it("import { compile } from 'obt' in a plain .mjs file compiles and runs on Wasm", () => {
    writeFileSync(
      join(dir, 'use.mjs'),
      `import { compile } from 'obt';
const p = compile('pub fn f(x: f32[3]) -> f32 = sum(x * x)\\n', { path: 'f.obt' });
if (!p.ok) throw new Error('diagnostics');
const bad = compile('fn g() -> f32 = slu(1.0)\\n', { path: 'g.obt' });
console.log(JSON.stringify({ v: (await p.run('f', [[1, 2, 3]], { device: { kind: 'wasm' } })).tensors[0].data[0], bad: bad.ok }));
`,
    );
    const r = sh('node', ['use.mjs']);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual({ v: 14, bad: false });
  });

  it("'obt/llm' loads the shipped model", () => {
    const r = sh('node', [
      '--input-type=module',
      '-e',
      `import { loadModel, DEFAULT_WEIGHTS } from 'obt/llm';
const m = await loadModel(DEFAULT_WEIGHTS); console.log(m.config.dim, m.config.vocab);`,
    ]);
    expect(r.err).toBe('');
    expect(r.out.trim()).toBe('64 512');
  });

  it('the three entry points have declarations TypeScript resolves (a wrong argument is a type error)', () => {
    writeFileSync(
      join(dir, 'use.ts'),
      `import { compile, type Program } from 'obt';
import { loadModel, type LoadedModel } from 'obt/llm';
import { loadArtifact, type Manifest } from 'obt/runtime';
const p: Program = compile('fn f() -> f32 = 1.0\\n', { path: 'f.obt' });
export const ok: boolean = p.ok;
export const m: Promise<LoadedModel> = loadModel('stories260K.bin');
export const inputs = (mf: Manifest): number => mf.inputs.length;
export const art = () => loadArtifact('art').program;
// @ts-expect-error compile takes the source text, not a number (an untyped entry would accept it)
compile(42);
`,
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        files: ['use.ts'],
      }),
    );
    const r = sh('node', [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
    expect(r.out + r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it("'obt/runtime' runs a compiled artifact with binaryen and ohm-js uninstalled", () => {
    writeFileSync(join(dir, 'sq.obt'), 'pub fn sq(x: f32[4]) -> f32[4] = x * x + 1.0\n');
    const c = obtc('compile', 'sq.obt', '--entry', 'sq', '--target', 'wasm', '-o', 'art', '--shape', 'x=4');
    expect(c.err).toBe('');
    expect(c.code).toBe(0);
    const nm = join(dir, 'node_modules');
    for (const p of ['binaryen', 'ohm-js']) renameSync(join(nm, p), join(dir, `${p}.away`));
    try {
      const r = sh('node', [
        '--input-type=module',
        '-e',
        `import { loadArtifact, fromNested } from 'obt/runtime';
const { program } = loadArtifact('art');
console.log(JSON.stringify([...program.run([fromNested([1, 2, 3, 4], 'f32')])[0].data]));`,
      ]);
      expect(r.err).toBe('');
      expect(JSON.parse(r.out)).toEqual([2, 5, 10, 17]);
    } finally {
      for (const p of ['binaryen', 'ohm-js']) renameSync(join(dir, `${p}.away`), join(nm, p));
    }
  });

  it('--backend webgpu without the optional webgpu package: one line saying what to install, exit 1', () => {
    const r = obtc('generate', '--steps', '2', '--backend', 'webgpu');
    expect(r.code).toBe(1);
    expect(r.err).toContain('npm install webgpu');
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});
