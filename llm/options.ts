// obtc quantize's options, each declared once: its flag, its value's name, its parser, its default
// and its help. The options object's type, the defaults, the flag set obtc parses, the usage text
// and the reading of the flags are all made from this table (cli/spec.ts and cli/quantize.ts use
// it; obtc ablate reads the same flags). Adding an option is one entry here and its use. Kept free
// of the compiler: obtc's start-up (usage, --help) loads it.
import { DEFAULT_EVAL, DEFAULT_KD_DATA, DEFAULT_METHOD, DEFAULT_WEIGHTS } from './defaults.ts';
import type { Device } from '../compiler/api.ts';
import {
  OptionError,
  agreed,
  count,
  flag,
  nonneg,
  num,
  oneOf,
  optionalText,
  positive,
  positiveInt,
  readTable,
  resumeKeys,
  tableDefaults,
  tableFlags,
  tableUsage,
  text,
  value,
  type Option,
  type OptionsOf,
  type Read,
} from './option_table.ts';

export { OptionError, type FlagValue } from './option_table.ts';

/** The steps of obtc quantize's default budget (npm start's: about 5 minutes on 2 cores). */
export const DEFAULT_STEPS = 3000;

/** Every option, in the usage text's order. The defaults are obtc quantize's recipe: the best
 *  found on stories260K with obtc ablate (docs/ablation/README.md). */
export const QUANTIZE_OPTIONS = {
  method: agreed(text('method', 'NAME|FILE', DEFAULT_METHOD, 'a shipped method (stdlib/methods/) or a method file')),
  weights: text('weights', 'FILE', DEFAULT_WEIGHTS, 'the fp teacher'),
  tokenizer: optionalText('tokenizer', 'FILE', "the teacher's tokenizer (default: embedded, or beside it)"),
  data: text('data', 'FILE', DEFAULT_KD_DATA, 'the distillation text'),
  steps: agreed(
    num(
      'steps',
      'N',
      DEFAULT_STEPS,
      (x) => Number.isInteger(x) && x >= 0,
      'an integer >= 0 (0: no distillation)',
      'distillation steps (0: post-training quantisation)',
    ),
  ),
  batch: agreed(positiveInt('batch', 'N', 2, 'sequences per step')),
  seq: agreed(positiveInt('seq', 'N', 256, 'tokens per sequence')),
  lr: agreed(positive('lr', 'X', 6e-3, 'a positive learning rate', "AdamW's peak learning rate (cosine schedule)")),
  warmup: agreed(
    nonneg(
      'warmup',
      'N',
      (steps) => Math.min(30, Math.floor(steps / 10)),
      'linear warm-up steps (default: 30 or a tenth of the steps)',
    ),
  ),
  alpha: agreed(nonneg('alpha', 'X', 0.3, "the hidden-state MSE term's weight")),
  temperature: agreed(positive('temperature', 'X', 1, 'a positive temperature', "the KL term's softmax temperature")),
  embedding: agreed(
    oneOf(
      'embedding',
      ['trained', 'frozen'] as const,
      'trained',
      'train the embedding and head beside the layers, or freeze them (OneBit)',
    ),
  ),
  clip: agreed(positive('clip', 'X', 1, 'a positive norm', 'the global gradient norm clipped to')),
  wd: agreed(nonneg('wd', 'X', 0.01, "AdamW's weight decay")),
  seed: agreed(num('seed', 'S', 1234, Number.isInteger, 'an integer', 'the seed of the init and the block order')),
  out: text('out', 'FILE', 'student.obtm', "the student's model file"),
  checkpointEvery: count('checkpoint-every', 'N', 25, 'write a resumable checkpoint every N steps (0: never)'),
  resume: flag('resume', 'continue from the checkpoint beside --out'),
  force: flag('force', 'resume a checkpoint that does not record every option it was made with'),
  reference: flag('reference-scaling', "the reference's KL scaling (0.01 · sum over tokens) instead of the mean"),
  evalText: {
    flags: ['eval-text', 'no-eval'],
    arg: 'FILE',
    help: 'the evaluation text of the teacher / init-only / trained perplexities (--no-eval: none)',
    dflt: () => DEFAULT_EVAL,
    read: (get, d) => (get('no-eval') !== undefined ? undefined : (value(get, 'eval-text') ?? d)),
  } as Option<string | undefined>,
  evalSeq: positiveInt('eval-seq', 'N', 256, 'the evaluation window'),
  evalWindows: {
    ...positiveInt('eval-windows', 'N', 1, 'evaluate on the first N windows only (default: all)'),
    dflt: () => undefined,
  } as Option<number | undefined>,
  sampleSteps: count('sample-steps', 'N', 100, 'tokens of the greedy samples printed at the end (0: none)'),
  valEvery: count('val-every', 'N', 0, 'evaluate on the held-back slice every N steps (0: never)'),
  valWindows: positiveInt('val-windows', 'N', 20, "the held-back slice: the evaluation text's last N windows"),
  earlyStop: count(
    'early-stop',
    'P',
    0,
    'stop after P evaluations without a better held-back perplexity; keep the best',
  ),
  fp16: {
    flags: ['fp32', 'fp16'],
    help: 'store f32 tensors as f32 (default: f16)',
    dflt: () => true,
    read: (get, d) => {
      if (get('fp16') !== undefined && get('fp32') !== undefined)
        throw new OptionError('--fp16 and --fp32 exclude each other');
      return get('fp32') !== undefined ? false : get('fp16') !== undefined || d;
    },
  } as Option<boolean>,
} satisfies Record<string, Option<unknown>>;

type Table = typeof QUANTIZE_OPTIONS;

/** obtc quantize's options: one field per table entry, and where it runs. */
export type QuantizeOptions = OptionsOf<Table> & {
  /** where the training step, the initialisation and the evaluation run */
  device: Device;
  /** called after every distillation step (an outer progress bar) */
  onStep?: (step: number) => void;
};

/** The recipe with no flag given, for a step count. */
export function defaultQuantizeOptions(steps = DEFAULT_STEPS): QuantizeOptions {
  return { ...tableDefaults(QUANTIZE_OPTIONS, steps), steps, device: { kind: 'wasm' } };
}

/** The options from flags (the step count first: some defaults scale with it). */
export function readQuantizeOptions(get: Read, device: Device): QuantizeOptions {
  const steps = QUANTIZE_OPTIONS.steps.read(get, DEFAULT_STEPS);
  return { ...readTable(QUANTIZE_OPTIONS, get, defaultQuantizeOptions(steps)), device };
}

/** The options a run resumed from a checkpoint must agree on (the entries marked `agreed`). */
export const RESUME_OPTIONS: (keyof Table)[] = resumeKeys(QUANTIZE_OPTIONS);

/** An option's own flag (`checkpointEvery` → `checkpoint-every`). */
export const flagOf = (k: keyof Table): string => QUANTIZE_OPTIONS[k].flags[0]!;

/** The flags the table declares, and whether each takes a value. */
export const QUANTIZE_FLAGS: Record<string, 'string' | 'boolean'> = tableFlags(QUANTIZE_OPTIONS);

/** The options' lines of the usage text: `--flag ARG  help (default …)`, wrapped at 100 columns. */
export const quantizeOptionsUsage = (indent: string): string =>
  tableUsage(QUANTIZE_OPTIONS, defaultQuantizeOptions(), indent, ['warmup']);
