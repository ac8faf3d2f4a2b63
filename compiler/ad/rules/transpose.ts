// VJP rules of the primitives in runtime/prims/transpose.ts.
import type { VjpRule } from './rule.ts';

export const transpose: VjpRule<'transpose'> = (b, _a, _o, p, [ct]) => {
  if (!ct) return [undefined];
  const inv = p.perm.map((_, i) => p.perm.indexOf(i));
  return [b.emit('transpose', [ct], { perm: inv })];
};
