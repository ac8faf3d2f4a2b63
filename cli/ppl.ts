// obtc ppl --text FILE [--seq 256]: perplexity by the README's protocol; the last line of stdout is
// ppl=… ce=… tokens=… windows=….
import { readFileSync } from 'node:fs';
import { UserError } from '../compiler/syntax/diag.ts';
import { Progress } from '../llm/progress.ts';
import { checkFinitePpl, formatPpl, perplexity, tokenStream, windowCount } from '../llm/eval.ts';
import { num, str, type Command } from './args.ts';
import { open } from './generate.ts';
import { DEFAULT_WEIGHTS } from '../llm/defaults.ts';

export const pplCmd: Command = async (_pos, flags, io) => {
  const textFile = str(flags, 'text');
  if (!textFile) throw new UserError('ppl needs --text FILE');
  const seq = num(flags, 'seq', 256, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  let text: string;
  try {
    text = readFileSync(textFile, 'utf8');
  } catch {
    throw new UserError(`cannot read ${textFile}`);
  }
  const { config, tokenizer, runner } = await open(flags);
  if (seq > config.seqLen) io.err(`note: --seq ${seq} is longer than the model's training context ${config.seqLen}\n`);
  const stream = tokenStream(text, tokenizer);
  const windows = windowCount(stream.length, seq);
  if (!windows) throw new UserError(`${textFile} has ${stream.length} tokens, fewer than one window of ${seq + 1}`);
  const t0 = performance.now();
  const r0 = await perplexity(
    stream,
    seq,
    (ids, targets) => runner.nll(ids, targets),
    new Progress('ppl', windows, { write: (s: string) => io.err(s), isTTY: process.stderr.isTTY }),
  );
  const r = checkFinitePpl(r0, str(flags, 'weights') ?? DEFAULT_WEIGHTS);
  io.err(`${r.targets} targets in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  io.out(
    (flags.has('json')
      ? JSON.stringify({ ppl: r.ppl, ce: r.ce, tokens: r.tokens, windows: r.windows, seq, text: textFile })
      : formatPpl(r)) + '\n',
  );
  return 0;
};
