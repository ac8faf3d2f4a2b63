// What every backend can hold, checked on an entry's Core IR before anything is compiled or
// allocated: a tensor (a parameter, a result or any intermediate value, in nested bodies too) has
// at most MAX_ELEMENTS elements — the Wasm kernels index with i32, WebGPU with u32 and the
// interpreter's typed arrays stop near there — so a reduction over 2³¹ elements is refused with
// the expression that makes it instead of silently summing nothing (it returned the identity).
import { UserError } from '../syntax/diag.ts';
import { formatBytes } from '../../runtime/core/errors.ts';
import type { Func, Var } from '../../runtime/core/ir.ts';
import { storageSize } from '../../runtime/core/tensor.ts';

const MAX_ELEMENTS = 2 ** 31 - 1;

const shapeStr = (v: Var) => `${v.type.dtype}[${v.type.shape.join(', ')}]`;

/** Raises a UserError for the first tensor of f (or of a nested body) over the element limit. */
export function checkTensorSizes(f: Func, entry: string): void {
  const check = (v: Var, what: string) => {
    const n = v.type.shape.reduce((a, b) => a * b, 1);
    if (n <= MAX_ELEMENTS) return;
    const bytes = storageSize(v.type.dtype, v.type.shape) * 4; // 4-byte elements (or sign words)
    throw new UserError(
      `${what} is ${shapeStr(v)}: ${n} elements (${formatBytes(bytes)}), more than the ${MAX_ELEMENTS} (2^31 - 1) a tensor may have on any obt backend`,
      undefined,
      'split the computation (e.g. reduce in chunks with fold) or make the tensor smaller',
    );
  };
  const walk = (g: Func) => {
    g.params.forEach((p, i) => check(p, `${entry}: parameter ${p.hint ?? i + 1}`));
    for (const e of g.eqns) {
      for (const o of e.outs) check(o, `${e.src ? `${e.src}: ` : ''}the result of ${e.prim}`);
      for (const v of Object.values(e.params as Record<string, unknown>))
        if (v && typeof v === 'object' && 'eqns' in (v as object)) walk(v as Func);
    }
  };
  walk(f);
}
