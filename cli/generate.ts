// obtc generate: text from a checkpoint (default: the shipped stories260K) with models/llama.obt on
// the Wasm backend, WebGPU or the interpreter; tokens/s on stderr. `open` loads a model for the
// other LLM commands too.
import { UserError } from '../compiler/syntax/diag.ts';
import { terminalText } from '../runtime/core/errors.ts';
import { loadModel } from '../llm/load.ts';
import { ModelRunner } from '../llm/runner.ts';
import { Sampler } from '../llm/sampler.ts';
import { DEFAULT_WEIGHTS } from '../llm/defaults.ts';
import { num, openDevice, str, type Command, type Flags } from './args.ts';
import { deviceName } from '../compiler/api.ts';

/** The model of --weights/--tokenizer with a runner on --backend (its architecture's `.obt` file,
 *  or --model FILE). */
export async function open(flags: Flags) {
  const m = await loadModel(str(flags, 'weights') ?? DEFAULT_WEIGHTS, str(flags, 'tokenizer'));
  return { ...m, runner: ModelRunner.fromFile(m, await openDevice(flags), str(flags, 'model')) };
}

export const generateCmd: Command = async (_pos, flags, io) => {
  const steps = num(flags, 'steps', 256, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  const temperature = num(flags, 'temperature', 1.0, (x) => x >= 0, 'a temperature >= 0');
  const topp = num(flags, 'top-p', 0.9, (x) => x >= 0 && x <= 1, 'a probability in [0, 1]');
  const seed = num(flags, 'seed', Date.now() % 2 ** 31, Number.isInteger, 'an integer');
  const { arch, config, tokenizer, runner } = await open(flags);
  // a model whose positions are a learned table of seqLen rows generates past it as nanoGPT does:
  // each new token sees the last seqLen tokens (the cache refilled from them); RoPE models stop there
  const sliding = arch.positions === 'learned';
  const max = sliding ? steps : Math.min(steps, config.seqLen);
  const window = Math.min(max, config.seqLen);
  // a tokenizer without BOS (characters) starts from the prompt, by default a newline (nanoGPT's
  // sample.py), or the first piece when the vocabulary has none
  let promptText = str(flags, 'prompt') ?? '';
  if (!tokenizer.hasBos && !promptText)
    promptText = tokenizer.data.pieces.includes('\n') ? '\n' : tokenizer.data.pieces[0]!;
  const prompt = tokenizer.encode(promptText, { bos: true });
  if (prompt.length > max) throw new UserError(`the prompt is ${prompt.length} tokens, more than --steps ${max}`);
  const sampler = new Sampler(temperature, topp, seed);
  let dec = runner.decoder(window);
  const json = flags.has('json');
  const idsOnly = flags.has('ids');
  // pieces come from the model's file: shown safe for a terminal unless --raw
  const shown = flags.has('raw') ? (s: string) => s : terminalText;
  const ids: number[] = [];
  let token = prompt[0]!;
  let t0 = 0;
  let out = '';
  const td = new TextDecoder();
  const emit = (prev: number, next: number) => {
    if (!idsOnly || json) {
      const piece = td.decode(tokenizer.pieceAfter(prev, next), { stream: true });
      out += piece;
      if (!json) io.out(shown(piece));
    }
  };
  // the prompt's first token is text too when it is not BOS
  if (!tokenizer.hasBos) {
    ids.push(token);
    emit(-1, token);
  }
  const context = [token];
  for (let pos = 0, at = 0; pos < max; pos++, at++) {
    if (pos === 1) t0 = performance.now();
    if (at === window) {
      // the window is full: a fresh cache from the last window - 1 tokens, then this one
      dec = runner.decoder(window);
      const keep = context.slice(-window);
      for (let i = 0; i + 1 < keep.length; i++) await dec.step(keep[i]!, i);
      at = keep.length - 1;
    }
    const logits = await dec.step(token, at);
    const next = pos + 1 < prompt.length ? prompt[pos + 1]! : sampler.sample(logits, config.vocab);
    if (pos + 1 >= prompt.length && tokenizer.hasBos && (next === tokenizer.data.bos || next === tokenizer.data.eos))
      break;
    ids.push(next);
    context.push(next);
    emit(token, next);
    token = next;
  }
  const tail = td.decode();
  out += tail;
  const secs = (performance.now() - t0) / 1000;
  const tokS = ids.length > 1 ? (ids.length - 1) / secs : undefined;
  if (json)
    io.out(
      JSON.stringify({ text: out, ids, prompt: [...prompt], tokensPerS: tokS, backend: runner.device.kind }) + '\n',
    );
  else if (idsOnly) io.out(ids.join(' ') + '\n');
  else io.out(shown(tail) + '\n');
  if (ids.length > 1)
    io.err(`achieved tok/s: ${tokS!.toFixed(2)} (${ids.length} tokens, ${deviceName(runner.device)})\n`);
  return 0;
};
