// The layering the architecture promises, checked over every source file: runtime/ (what a compiled
// artifact needs) imports nothing above it; compiler/ nothing from llm/ or cli/; the front end
// (syntax, resolve, types) nothing from the back end; llm/ nothing from cli/; no cycle between
// folders; and what the Wasm/WebGPU artifact loaders and the browser bundle pull in holds no
// compiler file (the page takes only llm/'s tokenizer and sampler).
import { describe, expect, it } from 'vitest';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { closure, cycles, importGraph, ROOT } from './graph.ts';

const graph = importGraph();
const layer = (f: string) => f.split('/')[0]!;

/** Every import edge `from -> to` where `from` matches and `to` is forbidden. */
function violations(from: (f: string) => boolean, forbidden: (to: string) => boolean): string[] {
  const out: string[] = [];
  for (const [f, { local }] of graph) if (from(f)) for (const d of local) if (forbidden(d)) out.push(`${f} -> ${d}`);
  return out;
}

describe('layers', () => {
  it('sees the whole tree', () => {
    for (const l of ['runtime', 'compiler', 'llm', 'cli'])
      expect([...graph.keys()].filter((f) => layer(f) === l).length).toBeGreaterThan(2);
  });

  it('runtime/ imports nothing from compiler/, llm/ or cli/', () => {
    expect(
      violations(
        (f) => layer(f) === 'runtime',
        (d) => ['compiler', 'llm', 'cli'].includes(layer(d)),
      ),
    ).toEqual([]);
  });

  it('compiler/ imports nothing from llm/ or cli/', () => {
    expect(
      violations(
        (f) => layer(f) === 'compiler',
        (d) => ['llm', 'cli'].includes(layer(d)),
      ),
    ).toEqual([]);
  });

  it('llm/ imports nothing from cli/', () => {
    expect(
      violations(
        (f) => layer(f) === 'llm',
        (d) => layer(d) === 'cli',
      ),
    ).toEqual([]);
  });

  it('the front end (syntax, resolve, types) imports nothing of the back end', () => {
    expect(
      violations(
        (f) => /^compiler\/(syntax|resolve|types)\//.test(f),
        (d) => /^compiler\/(fuse|kir|backends|templates|plan)\/|^compiler\/pipeline\.ts$/.test(d),
      ),
    ).toEqual([]);
  });

  it('no import cycle between folders', () => {
    const edges = new Map<string, Set<string>>();
    for (const [f, { local }] of graph) {
      const a = dirname(f);
      if (!edges.has(a)) edges.set(a, new Set());
      for (const d of local) if (dirname(d) !== a) edges.get(a)!.add(dirname(d));
    }
    expect(cycles(edges)).toEqual([]);
  });

  it('the checker finds a planted violation and a planted cycle', () => {
    // the same functions over a made-up graph: the test above would fail on these
    const fake = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
      ['d', new Set(['a'])],
    ]);
    expect(cycles(fake)).toEqual([['a', 'b', 'c']]);
  });
});

describe('artifact loaders and the browser bundle', () => {
  it("obtc's start-up (cli/main.ts: usage, --help, --version, flag errors) loads no compiler pass, binaryen or the grammar", () => {
    // each command's module is imported when it runs; what main.ts itself pulls in is this list
    expect([...closure('cli/main.ts')].filter((f) => !f.startsWith('node:')).sort()).toEqual([
      'cli/flags.ts',
      'cli/main.ts',
      'cli/profile.ts',
      'cli/spec.ts',
      'compiler/core/budget.ts',
      'compiler/resolve/root.ts',
      'compiler/syntax/diag.ts',
      'compiler/types/dim.ts',
      'compiler/types/elab_util.ts',
      'compiler/types/types.ts',
      'llm/defaults.ts',
      'llm/io/model.ts',
      'llm/option_table.ts',
      'llm/options.ts',
      'llm/train_options.ts',
      'runtime/core/dtype.ts',
      'runtime/core/errors.ts',
      'runtime/env/control.js',
      'runtime/env/node_threads.ts',
      'runtime/plan/profile.ts',
    ]);
  });

  for (const entry of ['runtime/wasm/artifact.ts', 'runtime/webgpu/artifact.ts'])
    it(`${entry} loads without any compiler file or binaryen`, () => {
      const files = [...closure(entry)];
      expect(files).toContain('runtime/wasm/program.ts');
      expect(files.filter((f) => f.startsWith('compiler/') || f === 'binaryen' || f === 'ohm-js')).toEqual([]);
    });

  it('the browser page bundles no compiler file (esbuild input list)', async () => {
    const r = await build({
      entryPoints: [join(ROOT, 'examples/browser/main.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.some((f) => f.includes('runtime/webgpu/program.ts'))).toBe(true);
    expect(inputs.filter((f) => /(^|\/)(compiler|cli)\//.test(f) || /node_modules\/(binaryen|zod)/.test(f))).toEqual(
      [],
    );
    // of llm/ only the tokenizers and the sampler (plain code the page encodes prompts and samples
    // with); not the checkers of files (zod)
    expect(inputs.filter((f) => /(^|\/)llm\//.test(f)).sort()).toEqual([
      'llm/io/hf_codec.ts',
      'llm/io/model.ts',
      'llm/io/tokenizer.ts',
      'llm/sampler.ts',
    ]);
  });
});
