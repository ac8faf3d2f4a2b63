// Where obt's own files are (stdlib/, models/, data/, package.json): the nearest folder above this
// module that holds package.json — the checkout when running the TypeScript sources, the installed
// package when running the compiled dist/ (whose modules sit one folder deeper). Imports nothing
// of the compiler, so that obtc's start-up can read its version without loading it.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'stdlib'))) return d;
    if (dirname(d) === d) throw new Error(`obt: no package.json with stdlib/ above ${from}`);
  }
}

export const PROJECT_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
