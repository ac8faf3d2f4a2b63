// `obtc lsp` over its stdio protocol, as an editor drives it: initialize, didOpen of a file with an
// error → publishDiagnostics with that error's range, a fix → the diagnostics cleared; hover → the
// type and shape of an expression, a parameter and an imported function's signature; definition
// of a local, of an imported function (in stdlib/nn.obt) and of a sibling module's function;
// completion of names in scope, of a module's members after `alias.` and of stdlib modules after
// `import`; an unsaved sibling document seen by its importer; shutdown and exit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { Client, type Range } from '../helpers/lsp_client.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../arch/graph.ts';

let client: Client;
let dir: string;
const uriOf = (f: string) => pathToFileURL(join(dir, f)).href;

const MAIN = `import nn
import "helpers.obt"

pub fn f(x: f32[4, 8], w: f32[8]) -> f32[4, 8] {
  let y = nn.rmsnorm(x, w, 1e-5);
  y * slu(twice(y))
}
`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'obt-lsp-'));
  writeFileSync(join(dir, 'helpers.obt'), 'pub fn twice[D](v: f32[..., D]) -> f32[..., D] = v + v\n');
  client = new Client(spawn(process.execPath, [join(ROOT, 'bin/obtc.js'), 'lsp', '--stdio'], { stdio: 'pipe' }));
  const init = await client.request<{ capabilities: Record<string, unknown> }>('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(dir).href,
    capabilities: {},
  });
  expect(init.capabilities).toMatchObject({ hoverProvider: true, definitionProvider: true });
  client.send({ method: 'initialized', params: {} });
}, 60_000);

afterAll(() => {
  client?.proc.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('obtc lsp', () => {
  it('publishes an error with its range on open, and clears it once fixed', async () => {
    const uri = uriOf('main.obt');
    const pending = client.diagnostics(uri);
    client.send({
      method: 'textDocument/didOpen',
      params: { textDocument: { uri, languageId: 'obt', version: 1, text: MAIN } },
    });
    const diags = await pending;
    expect(diags).toHaveLength(1);
    expect(diags[0]!.severity).toBe(1);
    expect(diags[0]!.message).toContain('unknown name slu');
    expect(diags[0]!.message).toContain('did you mean silu');
    // `slu` on line 6 (0-based 5), columns 6..9
    expect(diags[0]!.range).toEqual({ start: { line: 5, character: 6 }, end: { line: 5, character: 9 } });

    const fixed = client.diagnostics(uri);
    client.send({
      method: 'textDocument/didChange',
      params: {
        textDocument: { uri, version: 2 },
        contentChanges: [
          { range: { start: { line: 5, character: 6 }, end: { line: 5, character: 9 } }, text: 'nn.silu' },
        ],
      },
    });
    expect(await fixed).toEqual([]);
  });

  it('hover gives the shape of an expression, a parameter, and a function signature', async () => {
    const uri = uriOf('main.obt');
    const hover = async (line: number, character: number) =>
      (
        await client.request<{ contents: { value: string } } | null>('textDocument/hover', {
          textDocument: { uri },
          position: { line, character },
        })
      )?.contents.value;
    expect(await hover(4, 6)).toContain('y: f32[4, 8]'); // the let
    expect(await hover(3, 9)).toContain('x: f32[4, 8]'); // a parameter
    expect(await hover(5, 2)).toContain('y: f32[4, 8]'); // a use
    // (the fixed line is `  y * nn.silu(twice(y))`) the call `twice(y)`: its result at this shape
    expect(await hover(5, 21)).toBe('```obt\nf32[4, 8]\n```');
    expect(await hover(4, 14)).toContain('pub fn rmsnorm[D](x: f32[..., D], w: f32[D]'); // imported
    expect(await hover(0, 0)).toBeUndefined(); // the import keyword: nothing
  });

  it('go to definition: a local, an imported stdlib function, a sibling module function', async () => {
    const uri = uriOf('main.obt');
    const def = (line: number, character: number) =>
      client.request<{ uri: string; range: Range } | null>('textDocument/definition', {
        textDocument: { uri },
        position: { line, character },
      });
    expect(await def(5, 2)).toEqual({
      uri,
      range: { start: { line: 4, character: 6 }, end: { line: 4, character: 7 } },
    });
    const nn = (await def(4, 14))!;
    expect(nn.uri).toBe(pathToFileURL(join(ROOT, 'stdlib/nn.obt')).href);
    const nnLines = readFileSync(join(ROOT, 'stdlib/nn.obt'), 'utf8').split('\n');
    expect(nnLines[nn.range.start.line]).toMatch(/pub fn rmsnorm/);
    expect((await def(5, 16))!.uri).toBe(uriOf('helpers.obt'));
  });

  it('completes names in scope, module members after `alias.`, stdlib modules after import', async () => {
    const uri = uriOf('main.obt');
    const complete = async (line: number, character: number) =>
      (
        await client.request<{ label: string; kind: number }[]>('textDocument/completion', {
          textDocument: { uri },
          position: { line, character },
        })
      ).map((c) => c.label);
    const here = await complete(5, 2);
    for (const n of ['y', 'x', 'w', 'f', 'nn', 'twice', 'rmsnorm', 'exp', 'f32', 'let']) expect(here).toContain(n);
    const members = await complete(4, 13); // after `nn.`
    expect(members).toContain('rmsnorm');
    expect(members).toContain('silu');
    expect(members).not.toContain('y');
    client.send({
      method: 'textDocument/didChange',
      params: {
        textDocument: { uri, version: 3 },
        contentChanges: [
          { range: { start: { line: 2, character: 0 }, end: { line: 2, character: 0 } }, text: 'import ' },
        ],
      },
    });
    const mods = await complete(2, 7);
    for (const n of ['nn', 'linear', 'methods.onebit']) expect(mods).toContain(n);
  });

  it("an importer sees an open sibling document's unsaved text", async () => {
    const a = uriOf('a.obt');
    const b = uriOf('b.obt');
    writeFileSync(join(dir, 'a.obt'), 'pub fn one() -> f32 = 1.0\n');
    const open = (uri: string, text: string) =>
      client.send({
        method: 'textDocument/didOpen',
        params: { textDocument: { uri, languageId: 'obt', version: 1, text } },
      });
    let pending = client.diagnostics(b);
    open(b, 'import "a.obt"\n\npub fn g() -> f32 = one() + two()\n');
    expect((await pending)[0]!.message).toContain('unknown name two');
    // a.obt gains `two` in the editor only (not on disk): b's error goes away
    pending = client.diagnostics(b);
    open(a, 'pub fn one() -> f32 = 1.0\npub fn two() -> f32 = 2.0\n');
    expect(await pending).toEqual([]);
  });

  it('shutdown and exit end the process with code 0', async () => {
    await client.request('shutdown');
    client.send({ method: 'exit' });
    expect(await client.exited).toBe(0);
  });
});
