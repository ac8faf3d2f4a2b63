// The attention template's WGSL: one invocation per output element (the 'element' dispatch of
// compiler/backends/webgpu/emit/kernel.ts), each walking its row's keys (dq and dk/dv elements of 'bwd': its
// key's query rows) with an online softmax and recomputed P (semantics: runtime/prims/attention.ts).
import type { AttnKernel } from '../../kir/ir.ts';
import type { Wgsl } from '../../backends/webgpu/emit/builder.ts';
import { literal } from '../../backends/webgpu/emit/builder.ts';

export function attnAccumulate(w: Wgsl, k: AttnKernel): void {
  w.line('var acc = 0.0f;');
  // its own scope: the names below do not meet the kernel's output-index decoding
  w.block('', () => accumulate(w, k));
}

function accumulate(w: Wgsl, k: AttnKernel): void {
  const { B, T, H, Dh } = k;
  const scale = literal(k.scale, 'f32');
  const q = `in${k.q}`;
  const kk = `in${k.k}`;
  const score = (qrow: string, krow: string) => {
    w.line('var sc = 0.0f;');
    w.block(`for (var x = 0; x < ${Dh}; x++)`, () => w.line(`sc += ${q}[${qrow} + x] * ${kk}[${krow} + x];`));
    w.line(`sc = sc * ${scale};`);
  };
  if (k.mode === 'bwd') {
    // the flat output: dq (NQ), then dk and dv
    const NQ = B * T * H * Dh;
    w.block(`if (flat < ${NQ})`, () => rows(w, k, 'flat', score));
    w.block('else', () => dkv(w, k, `flat - ${NQ}`, score));
    return;
  }
  rows(w, k, 'flat', score);
}

type Score = (qrow: string, krow: string) => void;

/** dk (which = 0) or dv (which = 1) of one element: a sum over the query rows and heads that see key j */
function dkv(w: Wgsl, k: AttnKernel, flat: string, score: Score): void {
  const { B, T, S, H, KV, Dh } = k;
  const G = H / KV;
  const scale = literal(k.scale, 'f32');
  const [q, v, mask, dO] = [k.q, k.v, k.mask, k.dO].map((b) => `in${b}`) as [string, string, string, string];
  w.line(`let d = (${flat}) % ${Dh};`);
  w.line(`var rest = (${flat}) / ${Dh};`);
  w.line(`let g = rest % ${KV};`);
  w.line(`rest = rest / ${KV};`);
  w.line(`let j = rest % ${S};`);
  w.line(`rest = rest / ${S};`);
  w.line(`let b = rest % ${B};`);
  w.line(`let which = rest / ${B};`);
  w.line(`let krow = ((b * ${S} + j) * ${KV} + g) * ${Dh};`);
  w.block(`for (var i = 0; i < ${T}; i++)`, () => {
    w.line(`if (${mask}[i * ${S} + j] == 0u) { continue; }`);
    w.block(`for (var hh = 0; hh < ${G}; hh++)`, () => {
      w.line(`let r = (b * ${T} + i) * ${H} + g * ${G} + hh;`);
      w.line(`let qrow = r * ${Dh};`);
      score('qrow', 'krow');
      w.line(`let p = exp(sc - in${k.lse}[r]);`);
      w.block('if (which == 0)', () => {
        w.line('var dp = 0.0f;');
        w.block(`for (var x = 0; x < ${Dh}; x++)`, () => w.line(`dp += ${dO}[qrow + x] * ${v}[krow + x];`));
        w.line(`acc += p * (dp - in${k.delta}[r]) * ${q}[qrow + d];`);
      });
      w.block('else', () => w.line(`acc += p * ${dO}[qrow + d];`));
    });
  });
  w.line(`if (which == 0) { acc = acc * ${scale}; }`);
}

/** out (rows of Dh + 1: the output, then the row's log-sum-exp at d = Dh) or dq of one element:
 *  a walk over its query row's keys */
function rows(w: Wgsl, k: AttnKernel, flat: string, score: Score): void {
  const { T, S, H, KV, Dh } = k;
  const G = H / KV;
  const scale = literal(k.scale, 'f32');
  const [kk, v, mask, dO] = [k.k, k.v, k.mask, k.dO].map((b) => `in${b}`) as [string, string, string, string];
  const dq = k.mode === 'bwd';
  const width = dq ? Dh : Dh + 1;
  w.line(`let d = (${flat}) % ${width};`);
  w.line(`let r = (${flat}) / ${width};`);
  w.line(`let h = r % ${H};`);
  w.line(`let i = (r / ${H}) % ${T};`);
  w.line(`let b = r / ${H * T};`);
  w.line(`let g = h / ${G};`);
  w.line(`let qrow = r * ${Dh};`);
  if (dq) {
    w.line(`let lse = in${k.lse}[r];`);
    w.line(`let delta = in${k.delta}[r];`);
  } else {
    w.line('var mx = -3.0e38f;');
    w.line('var l = 0.0f;');
  }
  w.block(`for (var j = 0; j < ${S}; j++)`, () => {
    w.line(`if (${mask}[i * ${S} + j] == 0u) { continue; }`);
    w.line(`let krow = ((b * ${S} + j) * ${KV} + g) * ${Dh};`);
    score('qrow', 'krow');
    if (dq) {
      w.line('let p = exp(sc - lse);');
      w.line('var dp = 0.0f;');
      w.block(`for (var x = 0; x < ${Dh}; x++)`, () => w.line(`dp += ${dO}[qrow + x] * ${v}[krow + x];`));
      w.line(`acc += p * (dp - delta) * ${kk}[krow + d];`);
      return;
    }
    const val = `select(${v}[krow + min(d, ${Dh - 1})], 0.0f, d == ${Dh})`;
    w.block('if (sc > mx)', () => {
      w.line('let cc = exp(mx - sc);');
      w.line('l = l * cc + 1.0f;');
      w.line(`acc = acc * cc + ${val};`);
      w.line('mx = sc;');
    });
    w.block('else', () => {
      w.line('let p = exp(sc - mx);');
      w.line('l += p;');
      w.line(`acc += p * ${val};`);
    });
  });
  if (dq) w.line(`acc = acc * ${scale};`);
  else
    w.block('', () => {
      w.line('acc = select(0.0f, acc / l, l > 0.0f);');
      w.line(`if (d == ${Dh}) { acc = select(${literal(-Infinity, 'f32')}, mx + log(l), l > 0.0f); }`);
    });
}
