// A template kernel: a contraction with a hand-scheduled inner loop (dot, signlinear) whose
// same-shape elementwise consumers fuse as its epilogue. One record holds everything the compiler
// knows of a template: how fusion builds its kernel, how the Wasm and WGSL back ends emit it. A
// new template is a folder in compiler/templates/ (its record) plus one line in its index.ts, a Kernel IR record in
// kir/ir.ts and the fusion class of its primitive.
import type { Eqn, Var } from '../../runtime/core/ir.ts';
import type { PrimName } from '../../runtime/core/prim_names.ts';
import type { ExprCtx, KBuf, KNode, Kernel, KDType } from '../kir/ir.ts';
import type { WasmTemplate } from './wasm/emit/common.ts';
import type { WgslTemplate } from './webgpu/emit/kernel.ts';

/** The fields every kernel has, as fusion found them (the template adds its own). */
export interface KernelCommon {
  shape: number[];
  outDtype: KDType;
  ins: KBuf[];
  out: KNode;
}

export interface Template<K extends Kernel, P extends PrimName = PrimName> {
  kind: K['kind'];
  /** the Core primitive it computes */
  prim: P;
  fuse: {
    /** operand positions that get buffers (the rest, read element by element by the epilogue, fuse) */
    buffers: readonly number[];
    /** the epilogue's value at the output's own index given the contraction value `acc`
     *  (signlinear: acc ⊙ h[o]) */
    epilogue(cx: ExprCtx, e: Eqn<P>, acc: KNode, index: KNode[]): KNode;
    /** the kernel record; `buf` binds a materialised operand to an input buffer */
    kernel(e: Eqn<P>, common: KernelCommon, buf: (v: Var) => number): K;
  };
  wasm: WasmTemplate<K>;
  wgsl: WgslTemplate<K>;
}
