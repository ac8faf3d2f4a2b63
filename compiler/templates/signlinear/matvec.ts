// The signlinear decode template (few rows, long I): one workgroup of 64 invocations computes ROWS
// outputs of one row of x. Its invocations stride through the packed words of those outputs' sign
// rows (each word read once, as u32; consecutive invocations read consecutive words), so each
// x ⊙ g value an invocation loads serves ROWS outputs; x and g are read as vec4 when I is a
// multiple of 32. A sign bit flips the f32 sign bit of x⊙g directly (xor), no select. The ROWS
// partial sums are combined by a tree in workgroup memory and stored through the epilogue.
// blocksignlinear: no g; each word's sum is scaled by its row's block scale (a block is whole words).
import type { AnySign } from './wasm.ts';
import type { Wgsl } from '../../backends/webgpu/emit/builder.ts';
import { WORKGROUP } from '../../../runtime/webgpu/abi.ts';

export const ROWS = 4;

export function matvecGroups(k: AnySign): number {
  return k.M * Math.ceil(k.O / ROWS);
}

/** Whether x and g can be bound as arrays of vec4: I a multiple of 32 (whole words of 8 vec4s)
 *  and no other load in the kernel reads those buffers as scalars. */
export function matvecVec4(k: AnySign, otherLoads: Set<number>): boolean {
  return k.I % 32 === 0 && !otherLoads.has(k.x) && (k.kind !== 'signlinear' || !otherLoads.has(k.g));
}

/** The body of the entry point; `store` names `fn(flat: i32, acc: f32)` (the epilogue). */
export function emitMatvec(w: Wgsl, k: AnySign, rowX: number, store: string, vec4: boolean): void {
  const { M, O, I } = k;
  const g = k.kind === 'signlinear' ? (at: string) => ` * in${k.g}[${at}]` : () => '';
  // blocked: a word's sum for row r, scaled by d[o, word / words per block]
  const blk = k.kind === 'blocksignlinear' ? k : undefined;
  const sum = (r: number) => (blk ? `s${r}` : `acc${r}`);
  const W = Math.ceil(I / 32);
  const per = Math.ceil(O / ROWS);
  const rows = [...Array(ROWS).keys()];
  w.line(`let grp = i32(wid.x + wid.y * ${rowX}u);`);
  w.line(`if (grp >= ${M * per}) { return; }`);
  w.line(`let m = grp / ${per};`);
  w.line(`let o0 = (grp % ${per}) * ${ROWS};`);
  for (const r of rows) w.line(`var acc${r} = 0.0f;`);
  // rows past O read row O - 1 again (their sums are never stored): no branch in the loop
  for (const r of rows) w.line(`let srow${r} = min(o0 + ${r}, ${O - 1}) * ${W};`);
  w.block(`for (var wi = i32(lid); wi < ${W}; wi += ${WORKGROUP})`, () => {
    for (const r of rows) w.line(`let w${r} = in${k.s}[srow${r} + wi];`);
    if (blk) for (const r of rows) w.line(`var s${r} = 0.0f;`);
    const flip = (v: string, r: number, bit: string) =>
      `bitcast<f32>(bitcast<u32>(${v}) ^ ((w${r} >> (${bit})) << 31u))`;
    if (vec4) {
      w.block('for (var q = 0u; q < 8u; q++)', () => {
        w.line(`let c = u32(wi) * 8u + q;`);
        w.line(`let v = in${k.x}[u32(m) * ${I / 4}u + c]${g('c')};`);
        for (const r of rows)
          w.line(
            `${sum(r)} += ${flip('v.x', r, 'q * 4u')} + ${flip('v.y', r, 'q * 4u + 1u')} + ${flip('v.z', r, 'q * 4u + 2u')} + ${flip('v.w', r, 'q * 4u + 3u')};`,
          );
      });
    } else {
      w.line(`let n = u32(min(32, ${I} - wi * 32));`);
      w.block('for (var j = 0u; j < n; j++)', () => {
        w.line('let col = u32(wi) * 32u + j;');
        w.line(`let v = in${k.x}[u32(m) * ${I}u + col]${g('col')};`);
        for (const r of rows) w.line(`${sum(r)} += ${flip('v', r, 'j')};`);
      });
    }
    if (blk)
      for (const r of rows)
        w.line(`acc${r} += s${r} * in${blk.d}[(srow${r} / ${W}) * ${blk.K} + wi / ${blk.I / blk.K / 32}];`);
  });
  for (const r of rows) w.line(`part[lid * ${ROWS}u + ${r}u] = acc${r};`);
  w.line('workgroupBarrier();');
  w.block(`for (var s = ${WORKGROUP / 2}u; s > 0u; s = s >> 1u)`, () => {
    w.block('if (lid < s)', () => {
      for (const r of rows) w.line(`part[lid * ${ROWS}u + ${r}u] += part[(lid + s) * ${ROWS}u + ${r}u];`);
    });
    w.line('workgroupBarrier();');
  });
  w.line(`if (lid < ${ROWS}u && o0 + i32(lid) < ${O}) { ${store}(m * ${O} + o0 + i32(lid), part[lid]); }`);
}

export function matvecDecls(w: Wgsl): void {
  w.line(`var<workgroup> part: array<f32, ${WORKGROUP * ROWS}>;`);
}
