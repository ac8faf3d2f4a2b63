// Host value trees: tensors as leaves of nested arrays (tuples, arrays of structs) and plain
// objects (structs), as the API takes arguments and returns results, and as state files and the
// packed format store them. Leaf paths are written `a.b[2].c`. The typed view of the same trees
// (what a Type flattens to) is compiler/types/tree.ts.
import type { Tensor } from './tensor.ts';

export type Tree<L = Tensor> = L | Tree<L>[] | { [k: string]: Tree<L> };

export function isTensor(v: unknown): v is Tensor {
  return !!v && typeof v === 'object' && 'data' in v && 'dtype' in v && 'shape' in v;
}

const joinPath = (path: string, key: string | number) =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;

/** Every leaf with its path, depth first (arrays by index, objects in key order). Values that are
 *  neither leaves, arrays nor objects (numbers, strings: options stored beside tensors) are skipped. */
export function treeLeaves<L = Tensor>(
  v: unknown,
  isLeaf: (x: unknown) => x is L = isTensor as never,
  path = '',
): { path: string; leaf: L }[] {
  const out: { path: string; leaf: L }[] = [];
  const go = (x: unknown, p: string): void => {
    if (isLeaf(x)) out.push({ path: p, leaf: x });
    else if (Array.isArray(x)) x.forEach((e, i) => go(e, joinPath(p, i)));
    else if (x && typeof x === 'object') for (const [k, e] of Object.entries(x)) go(e, joinPath(p, k));
  };
  go(v, path);
  return out;
}

/** The same tree with every leaf replaced by f(leaf, path); other values are kept as they are. */
export function mapTree<L, M>(
  v: unknown,
  isLeaf: (x: unknown) => x is L,
  f: (leaf: L, path: string) => M,
  path = '',
): unknown {
  if (isLeaf(v)) return f(v, path);
  if (Array.isArray(v)) return v.map((e, i) => mapTree(e, isLeaf, f, joinPath(path, i)));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, mapTree(e, isLeaf, f, joinPath(path, k))]));
  return v;
}

/** The first non-finite float (f32/f16) element of a host tree, by leaf path and index. */
export function firstNonFinite(v: unknown): { path: string; index: number; value: number } | undefined {
  for (const { path, leaf } of treeLeaves(v)) {
    // a tensor read from a file where it lies is checked in the pass that reads it
    if ((leaf.dtype !== 'f32' && leaf.dtype !== 'f16') || leaf.source) continue;
    const d = leaf.data as ArrayLike<number>;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return { path, index: i, value: d[i]! };
  }
  return undefined;
}
