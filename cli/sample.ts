// obtc sample: distillation data sampled from a teacher (llm/samples.ts) into a text file that
// obtc quantize --data reads; a progress bar and a summary line (stories, tokens, dropped).
import { writeFileSync } from 'node:fs';
import { sampleStories } from '../llm/samples.ts';
import { Progress } from '../llm/progress.ts';
import { open } from './generate.ts';
import { num, str, Usage, type Command } from './args.ts';

export const sampleCmd: Command = async (_pos, flags, io) => {
  const out = str(flags, 'out');
  if (!out) throw new Usage('sample needs --out FILE');
  const stories = num(flags, 'stories', 1000, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  const temperature = num(flags, 'temperature', 1, (x) => x > 0, 'a positive temperature');
  const seed = num(flags, 'seed', 1, Number.isInteger, 'an integer');
  const { config, tokenizer, runner } = await open(flags);
  const maxTokens = num(
    flags,
    'max-tokens',
    config.seqLen - 1,
    (x) => Number.isInteger(x) && x > 0 && x < config.seqLen,
    `an integer in 1..${config.seqLen - 1} (the model's context is ${config.seqLen})`,
  );
  const bar = new Progress('sample', stories, { write: (s: string) => io.err(s), isTTY: process.stderr.isTTY });
  const r = await sampleStories(runner, tokenizer, { stories, temperature, maxTokens, seed }, bar);
  writeFileSync(out, r.text);
  io.out(
    `${out}: ${r.kept} stories, ${r.tokens} tokens (${r.dropped} reached ${maxTokens} tokens unfinished and were dropped); temperature ${temperature}, seed ${seed}\n`,
  );
  return 0;
};
