// Distillation data from a teacher (obtc sample): stories sampled from the model itself, as
// LLM-QAT and OneBit distil — each from BOS at a temperature (top-p off: the model's own
// distribution at T = 1) until the model emits BOS or EOS; a story that reaches the length limit
// without ending is dropped (as the shipped kd_teacher_samples file was made). The text format is
// the one quantize reads: stories separated by <|endoftext|>.
import type { ModelRunner } from './runner.ts';
import type { Tokenizer } from './io/tokenizer.ts';
import { Sampler } from './sampler.ts';
import type { Progress } from './progress.ts';

export interface SampleOptions {
  stories: number;
  temperature: number;
  /** the longest story in tokens after BOS (at most the model's context) */
  maxTokens: number;
  seed: number;
}

export interface SampleResult {
  text: string;
  /** stories kept, and dropped for reaching maxTokens */
  kept: number;
  dropped: number;
  /** tokens of the kept stories (BOS excluded) */
  tokens: number;
}

export async function sampleStories(
  runner: ModelRunner,
  tokenizer: Tokenizer,
  o: SampleOptions,
  progress?: Pick<Progress, 'update'>,
): Promise<SampleResult> {
  const sampler = new Sampler(o.temperature, 1, o.seed);
  const { bos, eos } = tokenizer.data;
  const stories: string[] = [];
  let dropped = 0;
  let tokens = 0;
  const dec = runner.decoder(o.maxTokens + 1);
  while (stories.length < o.stories) {
    const ids = [bos];
    let ended = false;
    for (let pos = 0; pos <= o.maxTokens; pos++) {
      const next = sampler.sample(await dec.step(ids[ids.length - 1]!, pos), runner.config.vocab);
      if (next === bos || next === eos) {
        ended = true;
        break;
      }
      if (pos === o.maxTokens) break;
      ids.push(next);
    }
    if (ended && ids.length > 1) {
      stories.push(tokenizer.decode(ids).trim());
      tokens += ids.length - 1;
    } else if (!ended) dropped++;
    progress?.update(stories.length, `${tokens} tokens, ${dropped} dropped`);
  }
  return { text: stories.join('\n<|endoftext|>\n') + '\n', kept: stories.length, dropped, tokens };
}
