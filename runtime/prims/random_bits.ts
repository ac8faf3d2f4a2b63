// random_bits: counter-based PRNG. Element i of the output is word (i & 1) of
// threefry2x32-20(key, counter = (i >> 1, 0)); keys are u32[2]. Pure: same key, same bits.
import { alloc, numel } from '../core/tensor.ts';
import { fail, type PrimDef } from './def.ts';

const ROT = [
  [13, 15, 26, 6],
  [17, 29, 16, 24],
] as const;

const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;

/** Threefry-2x32 with 20 rounds (Salmon et al. 2011), as used by JAX. */
export function threefry2x32(k0: number, k1: number, c0: number, c1: number): [number, number] {
  const ks = [k0 >>> 0, k1 >>> 0, (k0 ^ k1 ^ 0x1bd11bda) >>> 0];
  let x0 = (c0 + ks[0]!) >>> 0;
  let x1 = (c1 + ks[1]!) >>> 0;
  for (let i = 0; i < 5; i++) {
    for (const r of ROT[i % 2]!) {
      x0 = (x0 + x1) >>> 0;
      x1 = rotl(x1, r) ^ x0;
    }
    x0 = (x0 + ks[(i + 1) % 3]!) >>> 0;
    x1 = (x1 + ks[(i + 2) % 3]! + i + 1) >>> 0;
  }
  return [x0, x1 >>> 0];
}

export const random_bits: PrimDef<'random_bits'> = {
  name: 'random_bits',
  infer(args, p) {
    if (args.length !== 1 || args[0]!.dtype !== 'u32' || args[0]!.shape.length !== 1 || args[0]!.shape[0] !== 2)
      fail('random_bits', 'expects a key u32[2]', args);
    return [{ dtype: 'u32', shape: p.shape }];
  },
  eval([key], p) {
    const out = alloc('u32', p.shape);
    const [k0, k1] = [key!.data[0]!, key!.data[1]!];
    const n = numel(p.shape);
    for (let j = 0; 2 * j < n; j++) {
      const [a, b] = threefry2x32(k0, k1, j, 0);
      out.data[2 * j] = a;
      if (2 * j + 1 < n) out.data[2 * j + 1] = b;
    }
    return [out];
  },
};
