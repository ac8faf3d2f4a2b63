// The files the project ships and the LLM commands use when none is given (see data/README.md).
import { join } from 'node:path';
import { PROJECT_ROOT } from '../compiler/resolve/root.ts';

/** stories260K in llama2.c format (the default teacher). */
export const DEFAULT_WEIGHTS = join(PROJECT_ROOT, 'data/stories260K.bin');
/** the teacher's own samples: the distillation data */
export const DEFAULT_KD_DATA = join(PROJECT_ROOT, 'data/kd_teacher_samples_t1_seed1234.txt');
/** TinyStories validation text: the perplexity protocol's evaluation text */
export const DEFAULT_EVAL = join(PROJECT_ROOT, 'data/tinystories_valid_eval.txt');
/** the best 1-bit student found (docs/ablation/README.md; its recipe in data/README.md): the
 *  student obtc serve shows beside the teacher unless --weights names another */
export const DEFAULT_STUDENT = join(PROJECT_ROOT, 'data/stories260K-1bit-best.obtm');
/** the quantisation method obtc quantize uses when --method names none (the best found:
 *  docs/ablation/README.md) */
export const DEFAULT_METHOD = 'onebit_noln_latw10';
/** tiny Shakespeare: obtc train's default text (nanoGPT's shakespeare_char) */
export const DEFAULT_TRAIN_TEXT = join(PROJECT_ROOT, 'data/tinyshakespeare.txt');
