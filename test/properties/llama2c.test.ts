// Fuzzer: llama2.c checkpoints and tokenizer files. The shipped stories260K.bin and tok512.bin,
// truncated anywhere, with random bytes written over them and hostile integers in their headers,
// either load or fail with a one-line user error, within the time and memory bounds.
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelBytes } from '../../llm/load.ts';
import { parseTokenizerBin, Tokenizer } from '../../llm/io/tokenizer.ts';
import { RUNS, Tally, applyBytes, byteMutation, timeoutFor } from './fuzz.ts';

const data = join(import.meta.dirname, '../../data');
const bin = new Uint8Array(readFileSync(join(data, 'stories260K.bin')));
const tok = new Uint8Array(readFileSync(join(data, 'tok512.bin')));

describe('llama2.c formats under mutation', () => {
  it(
    'a mutated stories260K.bin loads or fails with a user error',
    async () => {
      const t = new Tally('llama2c .bin', RUNS);
      // the 28-byte header is where the hostile integers go; flips and truncation land anywhere
      await fc.assert(
        fc.asyncProperty(byteMutation(28), (m) =>
          t.run(() => loadModelBytes(join(data, 'stories260K.bin'), applyBytes(bin, m))),
        ),
        t.params,
      );
      console.log(t.summary());
    },
    timeoutFor(RUNS),
  );
  it(
    'a mutated tok512.bin parses (and encodes) or fails with a user error',
    async () => {
      const t = new Tally('llama2c tokenizer', RUNS);
      await fc.assert(
        fc.asyncProperty(byteMutation(tok.length), (m) =>
          t.run(() => {
            const td = parseTokenizerBin('tok512.bin', applyBytes(tok, m), 512);
            new Tokenizer(td).encode('Once upon a time, a cat sat.');
          }),
        ),
        t.params,
      );
      console.log(t.summary());
    },
    timeoutFor(RUNS, 5),
  );
});
