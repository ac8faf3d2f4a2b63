// WGSL reads of f32 inputs held at a 16-bit stored precision (runtime/core/stored.ts): the buffer
// is bound as u32 words, two elements to a word, and every read goes through the kernel's ld<i>
// function, which converts in the shader.
import type { Kernel } from '../../../kir/ir.ts';
import type { Stored } from '../../../../runtime/core/tensor.ts';
import type { Wgsl } from './builder.ts';

/** Element `idx` (a WGSL i32 expression) of input buffer `buf`: a stored one's through its ld
 *  function (storedLoad). */
export function inAt(k: Kernel, buf: number, idx: string): string {
  return k.ins[buf]?.stored ? `ld${buf}(${idx})` : `in${buf}[${idx}]`;
}

/** `ld<i>(j)`: element j of a buffer of 16-bit stored words (two to a u32, the first in the low
 *  half), as an f32: bf16 is the word moved to the high half; an IEEE half is unpack2x16float's
 *  (core WGSL: no shader-f16 needed). */
export function storedLoad(w: Wgsl, i: number, s: Stored): void {
  w.block(`fn ld${i}(j: i32) -> f32`, () => {
    w.line(`let word = in${i}[u32(j) >> 1u];`);
    w.line(
      s === 'bf16'
        ? 'return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (j & 1) == 1));'
        : 'return unpack2x16float(word)[u32(j) & 1u];',
    );
  });
}
