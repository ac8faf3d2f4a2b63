// obtc train's options for a tiny run in a test: a 2-block, 16-channel model of context 8 on a
// text file, a few steps (the fields a test changes given in `more`).
import { defaultTrainOptions, type TrainOptions } from '../../llm/train_options.ts';

export const tinyTrainOptions = (text: string, out: string, more: Partial<TrainOptions> = {}): TrainOptions => ({
  ...defaultTrainOptions(),
  text,
  nLayer: 2,
  nHead: 2,
  nEmbd: 16,
  blockSize: 8,
  batchSize: 3,
  maxIters: 8,
  warmupIters: 2,
  evalInterval: 4,
  evalIters: 2,
  checkpointEvery: 2,
  out,
  ...more,
});
