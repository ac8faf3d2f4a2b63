// obtc generate and obtc ppl: load a checkpoint (default: the shipped stories260K), run
// models/llama.obt on the reference interpreter.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../resolve/modules.ts';
import { UserError } from '../diag.ts';
import { loadModel } from '../../runtime/io/load.ts';
import { LlamaRunner, DEFAULT_MODEL } from '../../runtime/llm.ts';
import { Sampler } from '../../runtime/sampler.ts';
import { Progress } from '../../runtime/progress.ts';
import { formatPpl, perplexity, tokenStream } from '../../runtime/ppl.ts';
import type { CliIO } from './main.ts';

export const DEFAULT_WEIGHTS = join(PROJECT_ROOT, 'data/stories260K.bin');

type Flags = Map<string, string | true>;

function str(flags: Flags, k: string): string | undefined {
  const v = flags.get(k);
  if (v === true) throw new UserError(`--${k} needs a value`);
  return v;
}

function num(flags: Flags, k: string, dflt: number, ok: (x: number) => boolean, what: string): number {
  const v = str(flags, k);
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isFinite(x) || !ok(x)) throw new UserError(`--${k} ${v}: expected ${what}`);
  return x;
}

async function open(flags: Flags) {
  const m = await loadModel(str(flags, 'weights') ?? DEFAULT_WEIGHTS, str(flags, 'tokenizer'));
  return { ...m, runner: LlamaRunner.fromFile(m, str(flags, 'model') ?? DEFAULT_MODEL) };
}

export async function generateCmd(flags: Flags, io: CliIO): Promise<number> {
  const steps = num(flags, 'steps', 256, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  const temperature = num(flags, 'temperature', 1.0, (x) => x >= 0, 'a temperature >= 0');
  const topp = num(flags, 'top-p', 0.9, (x) => x >= 0 && x <= 1, 'a probability in [0, 1]');
  const seed = num(flags, 'seed', Date.now() % 2 ** 31, Number.isInteger, 'an integer');
  const { config, tokenizer, runner } = await open(flags);
  const max = Math.min(steps, config.seqLen);
  const prompt = tokenizer.encode(str(flags, 'prompt') ?? '', { bos: true });
  if (prompt.length > max) throw new UserError(`the prompt is ${prompt.length} tokens, more than --steps ${max}`);
  const sampler = new Sampler(temperature, topp, seed);
  const dec = runner.decoder(max);
  const idsOnly = flags.has('ids');
  const ids: number[] = [];
  let token = prompt[0]!;
  let t0 = 0;
  let out = '';
  const td = new TextDecoder();
  for (let pos = 0; pos < max; pos++) {
    if (pos === 1) t0 = performance.now();
    const logits = dec.step(token, pos);
    const next = pos + 1 < prompt.length ? prompt[pos + 1]! : sampler.sample(logits, config.vocab);
    if (pos + 1 >= prompt.length && (next === tokenizer.data.bos || next === tokenizer.data.eos)) break;
    ids.push(next);
    if (!idsOnly) {
      const piece = td.decode(tokenizer.pieceAfter(token, next), { stream: true });
      out += piece;
      io.out(piece);
    }
    token = next;
  }
  if (idsOnly) io.out(ids.join(' ') + '\n');
  else io.out(td.decode() + '\n');
  const secs = (performance.now() - t0) / 1000;
  if (ids.length > 1) io.err(`achieved tok/s: ${((ids.length - 1) / secs).toFixed(2)} (${ids.length} tokens, reference interpreter)\n`);
  void out;
  return 0;
}

export async function pplCmd(flags: Flags, io: CliIO): Promise<number> {
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
  const windows = stream.length >= seq + 1 ? Math.floor((stream.length - seq - 1) / seq) + 1 : 0;
  if (!windows) throw new UserError(`${textFile} has ${stream.length} tokens, fewer than one window of ${seq + 1}`);
  const t0 = performance.now();
  const r = perplexity(stream, seq, config.vocab, (ids) => runner.logits(ids), new Progress('ppl', windows, { write: (s: string) => io.err(s), isTTY: process.stderr.isTTY }));
  io.err(`${r.targets} targets in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  io.out(formatPpl(r) + '\n');
  return 0;
}
