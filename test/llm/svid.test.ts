// SVID on the teacher's real matrices: for every projection of stories260K, the error of
// sign(W) ⊙ a bᵀ (a bᵀ the rank-1 NMF or SVD of |W|) is at most that of the best rank-1
// approximation of W (OneBit's Proposition 2); NMF and SVD reach comparable errors.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../compiler/api.ts';
import { parseLlama2c } from '../../llm/io/llama2c.ts';

const root = join(import.meta.dirname, '../..');
const prog = compile(readFileSync(join(root, 'test/language/programs/svid.obt'), 'utf8'), {
  path: join(root, 'test/language/programs/svid.obt'),
});
const ck = parseLlama2c('stories260K.bin', readFileSync(join(root, 'data/stories260K.bin')));
const names = [...ck.tensors.keys()].filter((n) => /^blocks\[\d+\]\.w[qkvo123]\.w$/.test(n));
const scalar = (entry: string, w: unknown) =>
  (prog.runSync(entry, [w as never]).value as { data: Float32Array }).data[0]!;

describe('SVID on stories260K (Proposition 2)', () => {
  it('covers all 35 projections', () => expect(names.length).toBe(35));
  it('NMF and SVD errors are below the rank-1 error of W, and close to each other', () => {
    expect(prog.diagnostics).toEqual([]);
    for (const n of names) {
      const w = ck.tensors.get(n)!;
      const e1 = scalar('err_rank1', w);
      const en = scalar('err_nmf', w);
      const es = scalar('err_svd', w);
      expect(en, `${n}: NMF ${en} vs rank-1 ${e1}`).toBeLessThanOrEqual(e1 * (1 + 1e-5));
      expect(es, `${n}: SVD ${es} vs rank-1 ${e1}`).toBeLessThanOrEqual(e1 * (1 + 1e-5));
      expect(Math.abs(en - es) / es, `${n}: NMF ${en} vs SVD ${es}`).toBeLessThan(0.01);
    }
  });

  it('NMF factors: latent W = 0.01 · sign(W), g and h positive', () => {
    const w = ck.tensors.get('blocks[0].wq.w')!;
    const [lw, g, h] = prog.runSync('nmf_parts', [w as never]).tensors;
    lw!.data.forEach((v, i) => expect(v).toBeCloseTo(0.01 * Math.sign(w.data[i]!), 7));
    expect(Array.from(g!.data).every((v) => v > 0)).toBe(true);
    expect(Array.from(h!.data).every((v) => v > 0)).toBe(true);
  });
});
