// obtc train's options, each declared once (llm/option_table.ts makes the options object, the
// defaults, the flags and the usage text from this table). The size and schedule flags are named
// after nanoGPT's configuration keys (n_layer → --n-layer) so a nanoGPT command carries over, and
// their defaults are nanoGPT's CPU configuration of shakespeare_char (its README: 4 layers, 4
// heads, 128 channels, block 64, batch 12, 2000 iterations, dropout 0; config/train_shakespeare_char.py:
// learning rate 1e-3 decaying to 1e-4, beta2 0.99, 100 warm-up iterations; train.py: weight decay
// 0.1, beta1 0.9, clipping at 1.0, seed 1337). Kept free of the compiler.
import type { Device } from '../compiler/api.ts';
import { DEFAULT_TRAIN_TEXT } from './defaults.ts';
import {
  agreed,
  count,
  flag,
  nonneg,
  num,
  optionalText,
  positive,
  positiveInt,
  readTable,
  resumeKeys,
  tableDefaults,
  tableFlags,
  tableUsage,
  text,
  type Option,
  type OptionsOf,
  type Read,
} from './option_table.ts';

/** nanoGPT's max_iters for the CPU run. */
export const DEFAULT_ITERS = 2000;

const optionalCount = (flag: string, help: string): Option<number | undefined> => ({
  ...count(flag, 'N', 0, help),
  dflt: () => undefined,
});

export const TRAIN_OPTIONS = {
  text: agreed(
    text('text', 'FILE', DEFAULT_TRAIN_TEXT, 'the training text: its first 90 % trains, the last 10 % validates'),
  ),
  model: agreed(
    text(
      'model',
      'NAME|FILE',
      'gpt',
      "the architecture: gpt (nanoGPT's), gpt_bias (its bias=True), llama, another in llm/io/names/, or your own .obt file (docs/training.md); it must define init",
    ),
  ),
  bias: agreed(
    flag('bias', "nanoGPT's bias=True: a bias in every Linear and LayerNorm of the blocks (--model gpt: gpt_bias)"),
  ),
  method: agreed(
    optionalText(
      'method',
      'NAME|FILE',
      "the linear layers' method (stdlib/methods/ or a file), in its training form (default: none, full precision)",
    ),
  ),
  quantizeFrom: agreed(
    count(
      'quantize-from',
      'STEP',
      0,
      "with --method: full precision before STEP, the method's init of the layers there, its training form after",
    ),
  ),
  tokenizer: agreed(
    text('tokenizer', 'char|FILE', 'char', "characters of the text (nanoGPT's shakespeare_char), or a tokenizer file"),
  ),
  nLayer: agreed(positiveInt('n-layer', 'N', 4, 'blocks')),
  nHead: agreed(positiveInt('n-head', 'N', 4, 'attention heads')),
  nEmbd: agreed(positiveInt('n-embd', 'N', 128, 'channels')),
  nHidden: agreed(
    optionalCount(
      'n-hidden',
      "the MLP's width (default: 4 · n-embd for gpt; 8/3 · n-embd rounded up to a multiple of 32 for llama)",
    ),
  ),
  blockSize: agreed(positiveInt('block-size', 'N', 64, 'tokens per sequence (the context)')),
  batchSize: agreed(positiveInt('batch-size', 'N', 12, 'sequences per step')),
  maxIters: agreed(positiveInt('max-iters', 'N', DEFAULT_ITERS, 'training steps')),
  learningRate: agreed(positive('learning-rate', 'X', 1e-3, 'a positive learning rate', "AdamW's peak learning rate")),
  minLr: agreed(nonneg('min-lr', 'X', 1e-4, 'the learning rate the cosine decays to')),
  warmupIters: agreed(count('warmup-iters', 'N', 100, 'linear warm-up steps')),
  lrDecayIters: agreed(optionalCount('lr-decay-iters', 'the step the cosine reaches min-lr (default: max-iters)')),
  weightDecay: agreed(nonneg('weight-decay', 'X', 0.1, "AdamW's weight decay (matrices and embeddings only)")),
  beta1: agreed(num('beta1', 'X', 0.9, (x) => x >= 0 && x < 1, 'a number in [0, 1)', "AdamW's beta1")),
  beta2: agreed(num('beta2', 'X', 0.99, (x) => x >= 0 && x < 1, 'a number in [0, 1)', "AdamW's beta2")),
  gradClip: agreed(nonneg('grad-clip', 'X', 1, 'the global gradient norm clipped to (0: no clipping)')),
  evalInterval: positiveInt('eval-interval', 'N', 250, 'estimate the training and validation loss every N steps'),
  evalIters: positiveInt('eval-iters', 'N', 20, 'batches of the fixed evaluation sample of each split'),
  seed: agreed(num('seed', 'S', 1337, Number.isInteger, 'an integer', 'the seed of the init and the batches')),
  out: text('out', 'FILE', 'model.obtm', 'the model file written at the end'),
  checkpointEvery: count('checkpoint-every', 'N', 250, 'write a resumable checkpoint every N steps (0: never)'),
  resume: flag('resume', 'continue from the checkpoint beside --out'),
  fp16: flag('fp16', "store the model's f32 tensors as f16 (default: f32)"),
} satisfies Record<string, Option<unknown>>;

type Table = typeof TRAIN_OPTIONS;

/** obtc train's options, and where it runs. */
export type TrainOptions = OptionsOf<Table> & {
  device: Device;
  /** stop after this step (as an interruption would; the checkpoint is written): tests */
  stopAfter?: number;
};

export function defaultTrainOptions(): TrainOptions {
  return { ...tableDefaults(TRAIN_OPTIONS, DEFAULT_ITERS), device: { kind: 'wasm' } };
}

export function readTrainOptions(get: Read, device: Device): TrainOptions {
  return { ...readTable(TRAIN_OPTIONS, get, defaultTrainOptions()), device };
}

/** The options a resumed run must agree on. */
export const TRAIN_RESUME_OPTIONS: (keyof Table)[] = resumeKeys(TRAIN_OPTIONS);

export const trainFlagOf = (k: keyof Table): string => TRAIN_OPTIONS[k].flags[0]!;

export const TRAIN_FLAGS: Record<string, 'string' | 'boolean'> = tableFlags(TRAIN_OPTIONS);

export const trainOptionsUsage = (indent: string): string => tableUsage(TRAIN_OPTIONS, defaultTrainOptions(), indent);
