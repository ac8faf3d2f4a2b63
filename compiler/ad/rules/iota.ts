// VJP rules of the primitives in runtime/prims/iota.ts.
import { noGrad, type VjpRule } from './rule.ts';

export const iota: VjpRule<'iota'> = noGrad;

export const constant: VjpRule<'constant'> = noGrad;
