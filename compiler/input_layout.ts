// What a compiled program is specialised on in its inputs beside their types: which are held at
// a 16-bit stored precision and which are the same tensor (compiler/api.ts's executors).
import type { Stored, Tensor } from '../runtime/core/tensor.ts';

/** The cache key part of a layout. */
export const layoutKey = (stored?: unknown[], alias?: unknown[]): string =>
  [stored, alias].map((xs) => xs?.map((x) => x ?? '').join(',') ?? '').join('|');

/** What a compiled program is specialised on in its inputs: each one's stored precision
 *  (runtime/core/stored.ts: kernels read those 16 bits and convert) and which are the same tensor
 *  (one buffer holds it: a tied embedding and head). An executor compiles for the inputs it first
 *  runs with; a later run whose inputs differ in either gets the program for those. Donated
 *  parameters are taken as f32 and never share a buffer. */
export class InputLayout {
  private readonly donated: Set<number>;
  private stored: (Stored | undefined)[] = [];
  private pairs: [number, number][] = [];
  /** donate: parameters donated; kernels: the stored formats the backend's kernels read (others
   *  are uploaded widened) */
  constructor(
    donate: number[] | undefined,
    private readonly kernels: ReadonlySet<Stored>,
  ) {
    this.donated = new Set(donate);
  }

  private storedOf(t: Tensor, i: number): Stored | undefined {
    return this.donated.has(i) || !t.stored || !this.kernels.has(t.stored) ? undefined : t.stored;
  }

  /** Whether inputs have the layout the last `of` saw (checked every run: no allocation). */
  same(inputs: Tensor[]): boolean {
    return (
      inputs.every((t, i) => this.storedOf(t, i) === this.stored[i]) &&
      this.pairs.every(([i, j]) => inputs[i] === inputs[j])
    );
  }

  /** The layout of these inputs (remembered for `same`). */
  of(inputs: Tensor[]): { stored: (Stored | undefined)[]; alias: (number | undefined)[] } {
    this.stored = inputs.map((t, i) => this.storedOf(t, i));
    const first = new Map<Tensor, number>();
    const alias = inputs.map((t, i) => {
      if (this.donated.has(i)) return undefined;
      const j = first.get(t);
      if (j === undefined) first.set(t, i);
      return j;
    });
    this.pairs = alias.flatMap((j, i) => (j === undefined ? [] : [[i, j] as [number, number]]));
    return { stored: this.stored, alias };
  }
}
