// The documentation a user reads stays inside the repository: every relative link in README.md,
// docs/, data/ and editors/ resolves to a file that exists, and none points above the checkout
// (../shared is the developers' folder, not the user's).
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './graph.ts';

function markdownFiles(): string[] {
  const out = [join(ROOT, 'README.md')];
  const walk = (d: string) => {
    for (const f of readdirSync(d, { withFileTypes: true }))
      if (f.isDirectory()) walk(join(d, f.name));
      else if (f.name.endsWith('.md')) out.push(join(d, f.name));
  };
  for (const d of ['docs', 'data', 'editors']) walk(join(ROOT, d));
  return out;
}

describe('documentation links', () => {
  const files = markdownFiles();
  it('finds the documents', () => expect(files.length).toBeGreaterThan(4));
  for (const f of files)
    it(`${relative(ROOT, f)}: every relative link resolves inside the repository`, () => {
      const text = readFileSync(f, 'utf8');
      // links outside code: fenced blocks and inline code hold program text like x[..., 0](y)
      const prose = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
      const bad: string[] = [];
      for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split('#')[0]!;
        if (!target || /^[a-z]+:/i.test(target)) continue; // a URL or an anchor
        const abs = resolve(dirname(f), target);
        if (!abs.startsWith(ROOT + '/') || !existsSync(abs)) bad.push(target);
      }
      expect(bad).toEqual([]);
      expect(text.match(/\.\.\/shared\/(?!peers\/onebit_torch_ref\.py)/g) ?? []).toEqual([]);
    });
});
