// Normwise tensor comparison for backend tests: |got - ref| <= tol * max(1, max |ref|) elementwise
// (f32 accumulation order differs between backends, so long sums differ by cancellation; NaN must
// match NaN, infinities must match exactly).
import type { Tensor } from '../../runtime/core/tensor.ts';

/** The first element that differs beyond the tolerance, as a message; undefined when close. */
export function closeNormwise(got: Tensor, ref: Tensor, tol: number): string | undefined {
  if (got.shape.join(',') !== ref.shape.join(',')) return `shape [${got.shape}] vs reference [${ref.shape}]`;
  let scale = 1;
  for (const v of ref.data) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v as number));
  for (let i = 0; i < ref.data.length; i++) {
    const a = ref.data[i] as number;
    const b = got.data[i] as number;
    const ok = Number.isNaN(a) ? Number.isNaN(b) : a === b || Math.abs(a - b) <= tol * scale;
    if (!ok) return `[${i}]: reference ${a}, got ${b} (tolerance ${tol} × ${scale})`;
  }
  return undefined;
}

/** Throws (an assertion failure) when got and ref are not normwise close. */
export function expectClose(got: Tensor, ref: Tensor, tol: number, what: string): void {
  const m = closeNormwise(got, ref, tol);
  if (m) throw new Error(`${what}: ${m}`);
}
