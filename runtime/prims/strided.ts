// Shared kernel of the data-movement primitives: copy through an affine (strided) index map.
import { alloc, numel, type Tensor } from '../core/tensor.ts';

/** out[idx] = src[offset + Σ idx[j]·srcStrides[j]] for every multi-index idx of outShape. */
export function stridedCopy(
  src: Tensor,
  outShape: number[],
  srcStrides: number[],
  offset: number,
  f64: boolean,
): Tensor {
  const out = alloc(src.dtype, outShape, f64);
  const n = numel(outShape);
  const rank = outShape.length;
  const idx = new Array<number>(rank).fill(0);
  let s = offset;
  const x = src.data;
  const o = out.data;
  for (let i = 0; i < n; i++) {
    o[i] = x[s]!;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      s += srcStrides[d]!;
      if (idx[d]! < outShape[d]!) break;
      s -= srcStrides[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}
