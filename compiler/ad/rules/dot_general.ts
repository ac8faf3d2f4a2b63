// VJP rules of the primitives in runtime/prims/dot_general.ts.
import type { VjpRule } from './rule.ts';
import { free } from '../../../runtime/prims/dot_general.ts';

export const dot_general: VjpRule<'dot_general'> = (b, [a, bb], _o, p, [ct]) => {
  if (!ct) return [undefined, undefined];
  const ra = a!.type.shape.length;
  const rb = bb!.type.shape.length;
  const [ba, bbat] = p.batch;
  const [ca, cb] = p.contract;
  const fa = free(ra, [...ba, ...ca]);
  const fb = free(rb, [...bbat, ...cb]);
  const nb = ba.length;
  const ctBatch = ba.map((_, i) => i);
  const ctA = fa.map((_, i) => nb + i);
  const ctB = fb.map((_, i) => nb + fa.length + i);
  // d a = ct · b over b's free axes: result axes [batch, free a, b's contracted axes in b order]
  const da = b.emit('dot_general', [ct, bb!], { batch: [ctBatch, bbat], contract: [ctB, fb] });
  const cbSorted = [...cb].sort((x, y) => x - y);
  const daAxes = [...ba, ...fa, ...cbSorted.map((x) => ca[cb.indexOf(x)]!)];
  const dbv = b.emit('dot_general', [ct, a!], { batch: [ctBatch, ba], contract: [ctA, fa] });
  const caSorted = [...ca].sort((x, y) => x - y);
  const dbAxes = [...bbat, ...fb, ...caSorted.map((x) => cb[ca.indexOf(x)]!)];
  const back = (v: typeof da, axes: number[]) => {
    const perm = axes.map((_, j) => axes.indexOf(j));
    return perm.every((x, i) => x === i) ? v : b.emit('transpose', [v], { perm });
  };
  return [back(da, daAxes), back(dbv, dbAxes)];
};
