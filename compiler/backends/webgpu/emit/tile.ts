// The tiled contraction template (matmul-like dots and signlinear over many rows): one workgroup of
// 64 invocations computes a TILE×TILE block of outputs, each invocation a 4×4 sub-block strided by
// 8 (so its reads of the workgroup tiles are broadcasts or consecutive words: no bank conflicts).
// The K dimension goes in steps of TK: both operand tiles are staged in workgroup memory, stored
// k-major. For signlinear the A tile is x ⊙ g and the B tile is ±1 decoded from one packed sign
// word per output row (the word is read from memory as u32; the weights are never unpacked to a
// dense matrix outside the 4 KiB tile); the inner loop is then the same 16 multiply-adds per step.
import type { Wgsl } from './builder.ts';
import type { Contraction } from './kernel.ts';

export const TILE = 32;
const TK = 32;
const SUB = 4; // outputs per invocation along each axis
const STRIDE = TILE / SUB; // 8

/** Workgroups a tiled kernel is dispatched with. */
export function tileGroups({ B, M, N }: Contraction): number {
  return B * Math.ceil(M / TILE) * Math.ceil(N / TILE);
}

/** The body of a tiled kernel's entry point; `store` names `fn(flat: i32, acc: f32)` (the epilogue);
 *  `loads` writes the template's staging of one element: `va` from A row m0 + r, `vb` from B row
 *  n0 + r, at depth k (batch bb), each when in range. */
export function emitTile(w: Wgsl, ext: Contraction, loads: (w: Wgsl) => void, rowX: number, store: string): void {
  const { B, M, N, K } = ext;
  const tilesN = Math.ceil(N / TILE);
  const tilesM = Math.ceil(M / TILE);
  w.line(`let tile = i32(wid.x + wid.y * ${rowX}u);`);
  // workgroup_id is uniform: the whole workgroup leaves together (barriers stay in uniform flow)
  w.line(`if (tile >= ${B * tilesM * tilesN}) { return; }`);
  w.line(`let n0 = (tile % ${tilesN}) * ${TILE};`);
  w.line(`let m0 = ((tile / ${tilesN}) % ${tilesM}) * ${TILE};`);
  w.line(`let bb = tile / ${tilesN * tilesM};`);
  w.line(`let tx = i32(lid) % ${STRIDE};`);
  w.line(`let ty = i32(lid) / ${STRIDE};`);
  const c = (i: number, j: number) => `c${i}${j}`;
  for (let i = 0; i < SUB; i++) for (let j = 0; j < SUB; j++) w.line(`var ${c(i, j)} = 0.0f;`);
  w.block(`for (var k0 = 0; k0 < ${K}; k0 += ${TK})`, () => {
    // stage the A tile (rows m0.., x ⊙ g for signlinear) and the B tile (rows n0..), zero-padded
    w.block(`for (var e = i32(lid); e < ${TILE * TK}; e += 64)`, () => {
      w.line(`let r = e / ${TK};`);
      w.line(`let kk = e % ${TK};`);
      w.line('let k = k0 + kk;');
      w.line('var va = 0.0f;');
      w.line('var vb = 0.0f;');
      loads(w);
      w.line(`ta[kk * ${TILE} + r] = va;`);
      w.line(`tb[kk * ${TILE} + r] = vb;`);
    });
    w.line('workgroupBarrier();');
    w.block(`for (var kk = 0; kk < ${TK}; kk++)`, () => {
      for (let i = 0; i < SUB; i++) w.line(`let a${i} = ta[kk * ${TILE} + ty + ${i * STRIDE}];`);
      for (let j = 0; j < SUB; j++) w.line(`let b${j} = tb[kk * ${TILE} + tx + ${j * STRIDE}];`);
      for (let i = 0; i < SUB; i++) for (let j = 0; j < SUB; j++) w.line(`${c(i, j)} += a${i} * b${j};`);
    });
    w.line('workgroupBarrier();');
  });
  for (let i = 0; i < SUB; i++)
    for (let j = 0; j < SUB; j++) {
      const m = `m0 + ty + ${i * STRIDE}`;
      const n = `n0 + tx + ${j * STRIDE}`;
      w.line(`if (${m} < ${M} && ${n} < ${N}) { ${store}((bb * ${M} + ${m}) * ${N} + ${n}, ${c(i, j)}); }`);
    }
}

/** Workgroup-memory declarations of the tiled template. */
export function tileDecls(w: Wgsl): void {
  w.line(`var<workgroup> ta: array<f32, ${TILE * TK}>;`);
  w.line(`var<workgroup> tb: array<f32, ${TILE * TK}>;`);
}
