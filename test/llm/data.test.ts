// The shipped data files are the ones data/README.md describes (sha256 and size).
import { expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(import.meta.dirname, '../../data');
const readme = readFileSync(join(dir, 'README.md'), 'utf8');
const rows = [...readme.matchAll(/^\| `([^`]+)` \| ([\d,]+) \| `([0-9a-f]{64})` \|/gm)];

it('data/README.md lists the five shipped files', () => {
  expect(rows.map((r) => r[1]).sort()).toEqual([
    'kd_teacher_samples_t1_seed1234.txt',
    'stories260K.bin',
    'stories260K.gguf',
    'tinystories_valid_eval.txt',
    'tok512.bin',
  ]);
});

for (const [, name, size, hash] of rows) {
  it(`${name} has the documented size and sha256`, () => {
    const b = readFileSync(join(dir, name!));
    expect(b.byteLength).toBe(Number(size!.replace(/,/g, '')));
    expect(createHash('sha256').update(b).digest('hex')).toBe(hash);
  });
}
