// npm run build (also run by prepare and prepack): the package's compiled form in dist/ — the
// TypeScript sources of compiler/, runtime/, llm/ and cli/ as ESM JavaScript with .d.ts beside
// each (tsc, tsconfig.build.json: relative `.ts` imports rewritten to `.js`), the grammar (obt.ohm
// and its ohm recipe, which the parser loads faster), the checkpoint name maps (llm/io/names/), and
// the browser page's two bundled scripts (dist/page/, which `obtc serve` copies
// in the installed package; it ships neither the page's TypeScript nor esbuild).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const t0 = performance.now();
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: ['ignore', 2, 2] });
copyFileSync(join(root, 'compiler/syntax/obt.ohm'), join(dist, 'compiler/syntax/obt.ohm'));
// the checkpoint name maps (data the loaders read beside their code)
mkdirSync(join(dist, 'llm/io/names'), { recursive: true });
for (const f of readdirSync(join(root, 'llm/io/names')))
  copyFileSync(join(root, 'llm/io/names', f), join(dist, 'llm/io/names', f));
const { grammar } = await import('../dist/compiler/syntax/parse.js'); // from obt.ohm: no recipe yet
writeFileSync(join(dist, 'compiler/syntax/obt.recipe.json'), grammar.toRecipe());
mkdirSync(join(dist, 'page'));
const { pageBundles } = await import('../dist/cli/serve.js');
await pageBundles(join(dist, 'page'));
console.error(`obt: built dist/ in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
