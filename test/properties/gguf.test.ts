// Fuzzer: GGUF bytes. The shipped stories260K.gguf truncated anywhere, with random bytes and
// hostile integers written into it (its header half the time). Each either loads or fails with a
// one-line user error. Half of the GGUF target's cases (gguf_fields.test.ts, the other half,
// re-writes its metadata and directory).
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelBytes } from '../../llm/load.ts';
import { Tally, share, applyBytes, byteMutation, timeoutFor } from './fuzz.ts';

const file = join(import.meta.dirname, '../../data/stories260K.gguf');
const seed = new Uint8Array(readFileSync(file));
// the header (metadata and tensor directory) ends before the first tensor's data
const HEADER = 8192;

describe('GGUF under mutation', () => {
  it(
    'a mutated stories260K.gguf loads or fails with a user error',
    async () => {
      const t = new Tally('gguf bytes', share(0.5));
      await fc.assert(
        fc.asyncProperty(byteMutation(HEADER), (m) => t.run(() => loadModelBytes(file, applyBytes(seed, m)))),
        t.params,
      );
      console.log(t.summary());
    },
    timeoutFor(share(0.5)),
  );
});
