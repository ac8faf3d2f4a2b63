// VJP rules of the primitives in runtime/prims/gather.ts.
import type { VjpRule } from './rule.ts';
import { zeros } from './util.ts';

export const gather: VjpRule<'gather'> = (b, [x, idx], _o, p, [ct]) => {
  if (!ct) return [undefined, undefined];
  return [b.emit('scatter_add', [zeros(b, x!.type), idx!, ct], { axis: p.axis }), undefined];
};

export const scatter_add: VjpRule<'scatter_add'> = (b, [_x, idx], _o, p, [ct]) => {
  if (!ct) return [undefined, undefined, undefined];
  return [ct, undefined, b.emit('gather', [ct, idx!], { axis: p.axis })];
};
