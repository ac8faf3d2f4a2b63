// ggml's definitions of its 1-bit and ternary types, transcribed loop for loop from ggml-quants.c
// (dequantize_row_q1_0, dequantize_row_tq1_0, dequantize_row_tq2_0 and quantize_row_tq1_0_ref /
// quantize_row_tq2_0_ref) of the llama.cpp the tests run — ggml-org/llama.cpp tag v0.4.0 (a
// snapshot of 2026-09-12), the source node-llama-cpp 3.21.1 ships in llama/gitRelease.bundle and
// its prebuilt binaries are built from: block_q1_0 { ggml_half d; uint8_t qs[16] } (QK1_0 = 128,
// vec_dot with Q8_0 activations), GGML_TYPE_TQ1_0 = 34, TQ2_0 = 35, Q1_0 = 41. Independent of obt's
// codecs (llm/io/gguf_lowbit.ts): the tests check those against these and against llama.cpp itself.
import { halfToFloat } from '../../runtime/core/stored.ts';
import { floatToHalf } from '../../runtime/core/stored_encode.ts';

const fp16 = (b: Uint8Array, at: number) => halfToFloat(b[at]! | (b[at + 1]! << 8));

export function dequantizeRowQ1_0(x: Uint8Array, k: number): Float32Array {
  const y = new Float32Array(k);
  let p = 0;
  for (let i = 0; i < k / 128; i++) {
    const d = fp16(x, 18 * i);
    for (let j = 0; j < 128; j++) {
      const bit = (x[18 * i + 2 + (j >> 3)]! >> (j & 7)) & 1;
      y[p++] = bit ? d : -d;
    }
  }
  return y;
}

export function dequantizeRowTQ2_0(x: Uint8Array, k: number): Float32Array {
  const y = new Float32Array(k);
  let p = 0;
  for (let i = 0; i < k / 256; i++) {
    const d = fp16(x, 66 * i + 64);
    for (let j = 0; j < 64; j += 32)
      for (let l = 0; l < 4; l++)
        for (let m = 0; m < 32; m++) {
          const q = (x[66 * i + j + m]! >> (l * 2)) & 3;
          y[p++] = Math.fround((q - 1) * d);
        }
  }
  return y;
}

export function dequantizeRowTQ1_0(x: Uint8Array, k: number): Float32Array {
  const pow3 = [1, 3, 9, 27, 81, 243];
  const y = new Float32Array(k);
  let p = 0;
  for (let i = 0; i < k / 256; i++) {
    const b = 54 * i;
    const d = fp16(x, b + 52);
    const trit = (v: number, n: number) => ((((v * pow3[n]!) & 0xff) * 3) >> 8) - 1;
    for (let j = 0; j < 32; j += 32)
      for (let n = 0; n < 5; n++) for (let m = 0; m < 32; m++) y[p++] = trit(x[b + j + m]!, n) * d;
    for (let j = 32; j < 48; j += 16)
      for (let n = 0; n < 5; n++) for (let m = 0; m < 16; m++) y[p++] = trit(x[b + j + m]!, n) * d;
    for (let n = 0; n < 4; n++) for (let j = 0; j < 4; j++) y[p++] = trit(x[b + 48 + j]!, n) * d;
  }
  return y;
}

/** quantize_row_tq{1,2}_0_ref: d = max |x| of the block (f16), codes round(x / d) + 1. */
export function quantizeRowTQ(type: 'TQ1_0' | 'TQ2_0', x: Float32Array): Uint8Array {
  const size = type === 'TQ1_0' ? 54 : 66;
  const out = new Uint8Array((x.length / 256) * size);
  for (let i = 0; i < x.length / 256; i++) {
    const v = x.subarray(256 * i, 256 * (i + 1));
    const amax = v.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
    const id = amax ? Math.fround(1 / amax) : 0;
    const h = floatToHalf(amax);
    const o = size * i;
    // lroundf: halves away from zero
    const xi = (at: number) => {
      const t = Math.fround(v[at]! * id);
      return Math.sign(t) * Math.floor(Math.abs(t) + 0.5) + 1;
    };
    if (type === 'TQ2_0') {
      for (let j = 0; j < 64; j += 32)
        for (let m = 0; m < 32; m++) {
          let q = 0;
          for (let n = 0; n < 4; n++) q += (xi(4 * j + m + n * 32) & 3) << (2 * n);
          out[o + j + m] = q;
        }
    } else {
      let at = 0;
      for (let m = 0; m < 32; m++) {
        let q = 0;
        for (let n = 0; n < 5; n++) q = q * 3 + xi(at + m + n * 32);
        out[o + m] = Math.floor((q * 256 + 242) / 243);
      }
      at += 160;
      for (let m = 0; m < 16; m++) {
        let q = 0;
        for (let n = 0; n < 5; n++) q = q * 3 + xi(at + m + n * 16);
        out[o + 32 + m] = Math.floor((q * 256 + 242) / 243);
      }
      at += 80;
      for (let j = 0; j < 4; j++) {
        let q = 0;
        for (let m = 0; m < 4; m++) q = q * 3 + xi(at + j + m * 4);
        q *= 3;
        out[o + 48 + j] = Math.floor((q * 256 + 242) / 243);
      }
    }
    out[o + size - 2] = h & 0xff;
    out[o + size - 1] = h >> 8;
  }
  return out;
}
