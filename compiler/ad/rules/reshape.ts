// VJP rules of the primitives in runtime/prims/reshape.ts.
import type { VjpRule } from './rule.ts';

export const reshape: VjpRule<'reshape'> = (b, [a], _o, _p, [ct]) => {
  return [ct && b.emit('reshape', [ct], { shape: a!.type.shape })];
};
