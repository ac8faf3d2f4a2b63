// VJP rules of the primitives in runtime/prims/dynamic_slice.ts.
import type { VjpRule } from './rule.ts';
import { zeros } from './util.ts';

export const dynamic_slice: VjpRule<'dynamic_slice'> = (b, [x, ...starts], _o, _p, [ct]) => {
  if (!ct) return [undefined, ...starts.map(() => undefined)];
  return [b.emit('dynamic_update_slice', [zeros(b, x!.type), ct, ...starts], {}), ...starts.map(() => undefined)];
};

export const dynamic_update_slice: VjpRule<'dynamic_update_slice'> = (b, [_x, u, ...starts], _o, _p, [ct]) => {
  if (!ct) return [undefined, undefined, ...starts.map(() => undefined)];
  return [
    b.emit('dynamic_update_slice', [ct, zeros(b, u!.type), ...starts], {}),
    b.emit('dynamic_slice', [ct, ...starts], { sizes: u!.type.shape }),
    ...starts.map(() => undefined),
  ];
};
