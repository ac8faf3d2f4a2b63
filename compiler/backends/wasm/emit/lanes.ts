// Integer index nodes along a kernel's vector axis as "a base plus constant lane offsets", so that
// indices that are not affine there (RoPE's pair index d / 2 and parity d % 2, a pad's stride
// test, a stack's interleave) still vectorise: their 4 lanes are the lane-0 value plus constants
// (an add), and a load at them is one or two v128 loads and a shuffle instead of four scalar loads.
//
// Every vector the Wasm emitters evaluate starts at a vector-axis index that is a multiple of 4
// (loop kernels' lane loops run from 0 or from a 4-aligned thread slice in steps of 4; the dot's
// vector epilogue from a thread's first column, a multiple of NR = 4), which is what makes
// d / 2 and d % 2 predictable per lane. A pattern claims: lane l's value is B + c[l] with B a
// multiple of `align` (Infinity: B = 0), every lane's value in [lo, hi]. Claims that divide need
// the range known and non-negative (so i32 division truncates like floor and nothing wrapped).
import type { KNode } from '../../../kir/ir.ts';

/** The byte indices of an i8x16.shuffle picking 4-byte lanes (0–3 of the first operand, 4–7 of the
 *  second). */
export const laneBytes = (lanes: number[]): number[] => lanes.flatMap((l) => [0, 1, 2, 3].map((b) => 4 * l + b));

export interface LanePattern {
  c: [number, number, number, number];
  align: number;
  lo: number;
  hi: number;
}

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;
const UNKNOWN: [number, number] = [-Infinity, Infinity];

const gcd = (a: number, b: number): number => {
  if (a === Infinity) return b;
  if (b === Infinity) return a;
  while (b) [a, b] = [b, a % b];
  return Math.abs(a);
};
/** a range that may have left i32 (wrapped) is unknown */
const fit = (lo: number, hi: number): [number, number] =>
  lo >= I32_MIN && hi <= I32_MAX && lo <= hi ? [lo, hi] : UNKNOWN;
const uniform = (p: LanePattern) => p.c.every((x) => x === p.c[0]);
const constOf = (p: LanePattern) => (p.align === Infinity && uniform(p) ? p.c[0] : undefined);
const map4 = (c: number[], f: (x: number) => number) => c.map(f) as LanePattern['c'];
const known = (p: LanePattern) => p.lo >= 0 && p.hi <= I32_MAX;
/** a value the same in every lane: B = the value, no offsets */
const same = (lo: number, hi: number, align = 1): LanePattern => ({ c: [0, 0, 0, 0], align, lo, hi });

/** x / k (k > 0) of a known non-negative pattern */
function div(p: LanePattern, k: number): LanePattern | undefined {
  const [lo, hi] = [Math.floor(p.lo / k), Math.floor(p.hi / k)];
  // B = qk: ⌊(qk + c)/k⌋ = q + ⌊c/k⌋
  if (p.align === Infinity || p.align % k === 0)
    return { c: map4(p.c, (x) => Math.floor(x / k)), align: p.align === Infinity ? Infinity : p.align / k, lo, hi };
  // B a multiple of A, A | k, 0 ≤ c < A: every lane has the same quotient
  if (uniform(p) || (k % p.align === 0 && p.c.every((x) => x >= 0 && x < p.align))) return same(lo, hi);
  return undefined;
}

/** x mod k (k > 0) of a known non-negative pattern */
function rem(p: LanePattern, k: number): LanePattern | undefined {
  const m = (x: number) => ((x % k) + k) % k;
  if (p.align === Infinity || p.align % k === 0) {
    const c = map4(p.c, m);
    return { c, align: Infinity, lo: Math.min(...c), hi: Math.max(...c) };
  }
  // B mod k is a multiple of A no greater than k − A; adding c < A stays below k
  if (k % p.align === 0 && p.c.every((x) => x >= 0 && x < p.align)) return { c: p.c, align: p.align, lo: 0, hi: k - 1 };
  if (uniform(p)) return same(0, k - 1);
  return undefined;
}

function scale(p: LanePattern, k: number): LanePattern {
  const [a, b] = [p.lo * k, p.hi * k];
  const [lo, hi] = fit(Math.min(a, b), Math.max(a, b));
  // offsets exact mod 2^32 (as the i32 arithmetic); a huge alignment keeps its power-of-2 part
  const align = k === 0 ? Infinity : p.align * Math.abs(k);
  return {
    c: map4(p.c, (x) => Math.imul(x, k)),
    align: align > 2 ** 30 && align !== Infinity ? gcd(align, 2 ** 30) : align,
    lo,
    hi,
  };
}

/** The node's lane pattern along vector axis `vaxis` (extent(axis): an axis's loop extent), or
 *  undefined when it is not of that form (a load along the axis, a float, a comparison, ...). */
export function lanePattern(
  n: KNode,
  vaxis: number,
  extent: (axis: number) => number | undefined,
  memo = new Map<KNode, LanePattern | undefined>(),
): LanePattern | undefined {
  if (memo.has(n)) return memo.get(n);
  const p = patternOf(n, vaxis, extent, memo);
  memo.set(n, p);
  return p;
}

function patternOf(
  n: KNode,
  vaxis: number,
  extent: (axis: number) => number | undefined,
  memo: Map<KNode, LanePattern | undefined>,
): LanePattern | undefined {
  if (n.dtype !== 'i32' && n.dtype !== 'u32') return undefined;
  const varies = (n.deps & (1 << vaxis)) !== 0;
  const sub = (x: KNode) => lanePattern(x, vaxis, extent, memo);
  switch (n.op) {
    case 'const':
      return { c: [n.value, n.value, n.value, n.value], align: Infinity, lo: n.value, hi: n.value };
    case 'idx': {
      const e = extent(n.axis);
      const [lo, hi] = e === undefined ? UNKNOWN : [0, e - 1];
      return n.axis === vaxis ? { c: [0, 1, 2, 3], align: 4, lo, hi } : same(lo, hi);
    }
    case 'cvt':
      // i32 ↔ u32 keep their bits (a known range is below 2^31 either way)
      return sub(n.a) ?? (varies ? undefined : same(...UNKNOWN));
    case 'bin': {
      const a = sub(n.a);
      const b = sub(n.b);
      if (!a || !b) return varies ? undefined : same(...UNKNOWN);
      const kb = constOf(b);
      const ka = constOf(a);
      switch (n.f) {
        case 'add':
        case 'sub': {
          const s = n.f === 'add' ? 1 : -1;
          const [lo, hi] = s > 0 ? fit(a.lo + b.lo, a.hi + b.hi) : fit(a.lo - b.hi, a.hi - b.lo);
          const c = a.c.map((x, l) => (x + s * b.c[l]!) | 0) as LanePattern['c'];
          return { c, align: gcd(a.align, b.align), lo, hi };
        }
        case 'mul':
          if (kb !== undefined) return scale(a, kb);
          if (ka !== undefined) return scale(b, ka);
          break;
        case 'shl':
          if (kb !== undefined && kb >= 0 && kb < 31) return scale(a, 2 ** kb);
          break;
        case 'div':
          if (kb !== undefined && kb > 0 && known(a)) return div(a, kb);
          break;
        case 'shr':
          if (kb !== undefined && kb >= 0 && kb < 31 && known(a)) return div(a, 2 ** kb);
          break;
        case 'rem':
          if (kb !== undefined && kb > 0 && known(a)) return rem(a, kb);
          break;
        case 'and':
          // a mask of low bits: mod 2^s
          if (kb !== undefined && kb > 0 && (kb & (kb + 1)) === 0 && known(a)) return rem(a, kb + 1);
          break;
        default:
          break;
      }
      return varies ? undefined : same(...UNKNOWN);
    }
    default:
      // anything else (a load, a select, ...): fine while it is the same in every lane
      return varies ? undefined : same(...UNKNOWN);
  }
}
