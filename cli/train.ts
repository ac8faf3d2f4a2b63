// obtc train: a language model from a text, from a random initialisation (llm/pretrain.ts) — full
// precision, or its linear layers in a method's training form from step 0 or from --quantize-from;
// nanoGPT's flag names and CPU configuration by default. --json: one object on stdout at the end.
import { UserError } from '../compiler/syntax/diag.ts';
import { OptionError } from '../llm/option_table.ts';
import { trainModel } from '../llm/pretrain.ts';
import { readTrainOptions } from '../llm/train_options.ts';
import { nodeGpuDevice } from '../runtime/env/node_gpu.ts';
import { backendOf, deviceOf, type Command } from './args.ts';

export const trainCmd: Command = async (_pos, flags, io) => {
  const gpu = backendOf(flags) === 'webgpu' ? await nodeGpuDevice() : undefined;
  let o;
  try {
    o = readTrainOptions((k) => flags.get(k), deviceOf(flags, gpu));
  } catch (e) {
    if (e instanceof OptionError) throw new UserError(e.message);
    throw e;
  }
  const json = flags.has('json');
  const r = await trainModel(o, (s) => io.err(s));
  const last = r.evals[r.evals.length - 1];
  if (json) {
    io.out(
      JSON.stringify({
        out: r.out,
        params: r.params,
        steps: r.losses.length,
        trainLoss: last?.train,
        valLoss: last?.val,
        lastStepLoss: r.losses[r.losses.length - 1],
        tokensPerS: r.tokensPerS,
        seconds: r.seconds,
        bytes: r.bytes,
      }) + '\n',
    );
    return 0;
  }
  io.out(
    `${r.out}: ${r.params} parameters, ${r.bytes} bytes; step ${last?.step}: train loss ${last?.train.toFixed(4)}, val loss ${last?.val.toFixed(4)}; ${r.tokensPerS.toFixed(0)} tokens/s; ${r.seconds.toFixed(1)} s (curves: ${r.out}.loss.svg)\n`,
  );
  return 0;
};
