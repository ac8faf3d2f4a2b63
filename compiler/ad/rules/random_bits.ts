// VJP rules of the primitives in runtime/prims/random_bits.ts.
import { noGrad, type VjpRule } from './rule.ts';

export const random_bits: VjpRule<'random_bits'> = noGrad;
