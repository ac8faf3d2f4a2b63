// Plans as JSON (compiled artifacts): typed arrays in host equations' parameters are tagged, the
// Kernel IR is dropped. No Node modules: the browser page decodes plans with it too.
import type { Plan } from './plan.ts';
import { UserError } from '../core/errors.ts';

const TYPED = { Float32Array, Float64Array, Int32Array, Uint32Array, Uint8Array } as const;

/** JSON for a plan: typed arrays (host equations' constants) tagged, Kernel IR dropped. */
export function encodePlan(p: Plan): string {
  const plan = { ...p, kernels: p.kernels.map(({ hash, desc, scratch, par }) => ({ hash, desc, scratch, par })) };
  return JSON.stringify(plan, (_k, v: unknown) => {
    if (ArrayBuffer.isView(v) && !(v instanceof DataView))
      return { __typed: v.constructor.name, data: Array.from(v as unknown as ArrayLike<number>) };
    if (typeof v === 'bigint') return { __bigint: v.toString() };
    return v;
  });
}

export function decodePlan(text: string): Plan {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v && typeof v === 'object' && '__typed' in v) {
      const t = v as { __typed: keyof typeof TYPED; data: number[] };
      const C = TYPED[t.__typed];
      if (!C) throw new UserError(`plan.json: unknown typed array ${String(t.__typed)}`);
      return C.from(t.data);
    }
    if (v && typeof v === 'object' && '__bigint' in v) return BigInt((v as { __bigint: string }).__bigint);
    return v;
  }) as Plan;
}
