// Central finite differences: d loss / d t[i], perturbing one element of a tensor in place.
import type { Tensor } from '../../runtime/core/tensor.ts';

export function centralDiff(loss: () => number, t: Tensor, i: number, h = 1e-6): number {
  const save = t.data[i]!;
  t.data[i] = save + h;
  const a = loss();
  t.data[i] = save - h;
  const b = loss();
  t.data[i] = save;
  return (a - b) / (2 * h);
}
