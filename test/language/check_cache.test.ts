// An imported module that checked without diagnostics is not checked again while its text and its
// imports are unchanged (compiler/types/elab/elab.ts checkProgram); a change to it, or to a module it
// imports, is checked again: its new errors are reported even in functions no one calls.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '../../compiler/api.ts';

const dir = mkdtempSync(join(tmpdir(), 'obt-check-cache-'));
writeFileSync(join(dir, 'package.json'), '{}');
const main = join(dir, 'main.obt');
const mainSrc = 'import "lib.obt" as lib\nfn f(x: f32[4]) -> f32[4] = lib.twice(x)\n';
const messages = () => compile(mainSrc, { path: main }).diagnostics.map((d) => d.message);

describe('checking imported modules once', () => {
  it('re-checks a changed module and a module whose import changed', () => {
    writeFileSync(join(dir, 'base.obt'), 'pub fn one() -> f32 = 1.0\n');
    writeFileSync(
      join(dir, 'lib.obt'),
      'import "base.obt" as base\npub fn twice(x: f32[4]) -> f32[4] = x * 2.0\nfn unused() -> f32 = base.one()\n',
    );
    expect(messages()).toEqual([]);
    expect(messages()).toEqual([]); // now from the cache of clean modules
    // an error in a function nobody calls, in the imported module
    writeFileSync(
      join(dir, 'lib.obt'),
      'import "base.obt" as base\npub fn twice(x: f32[4]) -> f32[4] = x * 2.0\nfn unused() -> f32 = base.one() + true\n',
    );
    expect(messages().join('\n')).toMatch(/bool|f32/);
    writeFileSync(
      join(dir, 'lib.obt'),
      'import "base.obt" as base\npub fn twice(x: f32[4]) -> f32[4] = x * 2.0\nfn unused() -> f32 = base.one()\n',
    );
    expect(messages()).toEqual([]);
    // lib.obt unchanged, but what it calls changed under it: lib is checked again
    writeFileSync(join(dir, 'base.obt'), 'pub fn one() -> i32 = 1\n');
    expect(messages().join('\n')).toMatch(/i32|f32/);
  });
});
