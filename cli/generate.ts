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
  const { config, tokenizer, runner } = await open(flags);
  const max = Math.min(steps, config.seqLen);
  const prompt = tokenizer.encode(str(flags, 'prompt') ?? '', { bos: true });
  if (prompt.length > max) throw new UserError(`the prompt is ${prompt.length} tokens, more than --steps ${max}`);
  const sampler = new Sampler(temperature, topp, seed);
  const dec = runner.decoder(max);
  const json = flags.has('json');
  const idsOnly = flags.has('ids');
  // pieces come from the model's file: shown safe for a terminal unless --raw
  const shown = flags.has('raw') ? (s: string) => s : terminalText;
  const ids: number[] = [];
  let token = prompt[0]!;
  let t0 = 0;
  let out = '';
  const td = new TextDecoder();
  for (let pos = 0; pos < max; pos++) {
    if (pos === 1) t0 = performance.now();
    const logits = await dec.step(token, pos);
    const next = pos + 1 < prompt.length ? prompt[pos + 1]! : sampler.sample(logits, config.vocab);
    if (pos + 1 >= prompt.length && (next === tokenizer.data.bos || next === tokenizer.data.eos)) break;
    ids.push(next);
    if (!idsOnly || json) {
      const piece = td.decode(tokenizer.pieceAfter(token, next), { stream: true });
      out += piece;
      if (!json) io.out(shown(piece));
    }
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
