// Kernel IR → one WGSL compute shader per kernel (through the line builder). This first version is
// one invocation per output element: loop kernels evaluate their reduction in the invocation, the
// dot template a K-long dot product, signlinear the ±x⊙g sum over its packed words (read as u32,
// never unpacked to a dense matrix); the epilogue follows. Bindings: 0 = out (read_write), 1.. =
// inputs (read). bool buffers hold one u32 per element. Integer ops keep the reference's JS
// semantics (x / 0 = 0, shifts ≥ 32), like the Wasm backend.
import { topo, kernelRoots, usesAcc, type KBin, type Kernel, type KNode, type KDType } from '../../../kir/ir.ts';
import type { UnaryPrim } from '../../../../runtime/core/prim_names.ts';
import { InternalError } from '../../../syntax/diag.ts';
import { inAt, storedLoad } from './stored.ts';
import { Wgsl, literal, SPECIALS } from './builder.ts';

import { GRID_X, WORKGROUP } from '../../../../runtime/webgpu/abi.ts';
import { emitTile, tileDecls, tileGroups, TILE } from './tile.ts';

const storage = (d: KDType) => (d === 'bool' ? 'u32' : d);
const wty = (d: KDType) => d;

export type WgslMode = 'element' | 'workgroup' | 'tile';

/** A contraction's extents: batch B, rows M, columns N, depth K. */
export interface Contraction {
  B: number;
  M: number;
  N: number;
  K: number;
}

/** What the WGSL emitter needs of a template kernel (compiler/templates/). */
export interface WgslTemplate<K extends Kernel> {
  extents(k: K): Contraction;
  /** the depth from which one workgroup per output (a tree-combined sum) pays off */
  longK: number;
  /** the tiled form's staging of one operand element: set `va` (A row m0 + r) and `vb` (B row
   *  n0 + r) at depth `k` of batch `bb`, when in range */
  tileLoads(w: Wgsl, k: K, ext: Contraction): void;
  /** the one-output forms: accumulate `acc` (f32) for output `flat` over the depth from `from` in
   *  steps of `step`; `vec4`: the buffers vec4Inputs named are bound as vec4 */
  accumulate(w: Wgsl, k: K, from: string, step: number, vec4: boolean): void;
  /** the input buffers bound as vec4 in the workgroup form, given the buffers the epilogue loads */
  vec4Inputs(k: K, epilogueLoads: Set<number>): number[];
  /** a workgroup form of the template's own instead of the generic tree (signlinear's decode) */
  decode?: {
    groups(k: K): number;
    decls(w: Wgsl): void;
    emit(w: Wgsl, k: K, rowX: number, store: string, vec4: boolean): void;
  };
}

type AnyTemplate = WgslTemplate<Kernel>;

/** How a kernel is dispatched: one invocation per output ('element'); one workgroup of WORKGROUP
 *  invocations per output that split the reduction / contraction and combine their partial results
 *  by a tree in workgroup memory ('workgroup': long reductions, matvecs); or one workgroup per
 *  TILE×TILE block of a contraction's outputs with both operands staged in workgroup memory
 *  ('tile': matmuls and signlinear over many rows, unless that leaves too few workgroups for a
 *  K of thousands — weight gradients over all the tokens of a batch — where one workgroup per
 *  output spreads the work further). `t`: the template record of a template kernel. */
export function wgslMode(k: Kernel, t?: AnyTemplate): WgslMode {
  if (k.kind === 'loop')
    return k.red && k.red.op !== 'argmax' && k.red.shape.reduce((a, b) => a * b, 1) >= 256 ? 'workgroup' : 'element';
  if (!t) throw new InternalError(`wgsl: ${k.kind} kernel without its template`);
  const ext = t.extents(k);
  if (ext.M >= TILE / 2 && ext.N >= TILE / 2 && (ext.K < 2048 || tileGroups(ext) >= 128)) return 'tile';
  return ext.K >= t.longK ? 'workgroup' : 'element';
}

/** Workgroups to dispatch for a kernel. */
export function wgslGroups(k: Kernel, t?: AnyTemplate): number {
  const mode = wgslMode(k, t);
  const n = k.shape.reduce((a, b) => a * b, 1);
  if (mode === 'tile') return tileGroups(t!.extents(k));
  if (mode === 'workgroup' && t?.decode) return t.decode.groups(k);
  return mode === 'workgroup' ? n : Math.ceil(n / WORKGROUP);
}

/** WGSL for a kernel (dispatched as wgslMode(k) says). */
export function emitWgsl(k: Kernel, t?: AnyTemplate): string {
  const mode = wgslMode(k, t);
  const group = mode === 'workgroup';
  const w = new Wgsl();
  // operands the workgroup form reads as vec4 (none the epilogue also reads as scalars)
  const epilogueLoads = new Set(topo([k.out]).flatMap((n) => (n.op === 'load' ? [n.buf] : [])));
  const vec4 = new Set(group && t ? t.vec4Inputs(k, epilogueLoads) : []);
  w.line(`// kernel: ${k.kind} [${k.shape.join(', ')}] -> ${k.outDtype}`);
  w.line(`@group(0) @binding(0) var<storage, read_write> out: array<${storage(k.outDtype)}>;`);
  k.ins.forEach((b, i) =>
    w.line(
      `@group(0) @binding(${i + 1}) var<storage, read> in${i}: array<${vec4.has(i) ? 'vec4f' : b.stored ? 'u32' : storage(b.dtype)}>;`,
    ),
  );
  helpers(w);
  k.ins.forEach((b, i) => b.stored && storedLoad(w, i, b.stored));
  const total = k.shape.reduce((a, b) => a * b, 1);
  const r = k.shape.length;
  const emitted = new Set<KNode>();
  const nameFn = (n: KNode) => (n.op === 'idx' ? `i${n.axis}` : n.op === 'acc' ? 'acc' : `t${n.id}`);
  const decodeFlat = () => {
    w.line('var rest = flat;');
    for (let d = r - 1; d >= 0; d--) {
      w.line(`let i${d} = rest % ${k.shape[d]};`);
      w.line(`rest = rest / ${k.shape[d]};`);
    }
  };
  const emitNodes = (rs: KNode[], ok: (n: KNode) => boolean) => {
    for (const n of topo(rs)) {
      if (emitted.has(n) || !ok(n) || n.op === 'acc' || n.op === 'idx') continue;
      emitted.add(n);
      w.line(`let ${nameFn(n)} = ${expr(k, n, nameFn)};`);
    }
  };
  const store = () => {
    emitNodes([k.out], () => true);
    const v = nameFn(k.out);
    w.line(`out[flat] = ${k.outDtype === 'bool' ? `select(0u, 1u, ${v})` : v};`);
  };
  const decode = group ? t?.decode : undefined;
  if (t && (mode === 'tile' || decode)) {
    // the epilogue as a function of the output's flat index and its contraction value
    w.block('fn store_out(flat: i32, acc: f32)', () => {
      decodeFlat();
      store();
    });
    if (decode) decode.decls(w);
    else tileDecls(w);
    w.block(
      `@compute @workgroup_size(${WORKGROUP}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32)`,
      () => {
        if (decode) decode.emit(w, k, GRID_X / WORKGROUP, 'store_out', vec4.size > 0);
        else {
          const ext = t.extents(k);
          emitTile(w, ext, (ww) => t.tileLoads(ww, k, ext), GRID_X / WORKGROUP, 'store_out');
        }
      },
    );
    return w.text();
  }

  const accTy = k.kind === 'loop' && k.red ? (k.red.op === 'argmax' ? 'i32' : storage(k.red.body.dtype)) : 'f32';
  if (group) w.line(`var<workgroup> part: array<${accTy}, ${WORKGROUP}>;`);
  // one output per invocation, or per workgroup (its invocations stride through the reduction)
  const header = group
    ? `@compute @workgroup_size(${WORKGROUP}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32)`
    : `@compute @workgroup_size(${WORKGROUP}) fn main(@builtin(global_invocation_id) gid: vec3u)`;
  const from = group ? 'i32(lid)' : '0';
  const step = group ? WORKGROUP : 1;
  w.block(header, () => {
    w.line(
      group ? `let flat = i32(wid.x + wid.y * ${GRID_X / WORKGROUP}u);` : `let flat = i32(gid.x + gid.y * ${GRID_X}u);`,
    );
    w.line(`if (flat >= ${total}) { return; }`);
    decodeFlat(); // output axes
    // nodes that need neither the reduction axes nor acc come first
    const outer = (n: KNode) => !usesAxis(n, r) && !usesAcc(n);
    emitNodes(kernelRoots(k), outer);
    if (k.kind === 'loop' && k.red) {
      const red = k.red;
      const R = red.shape.length;
      const n = red.shape.reduce((a, b) => a * b, 1);
      const d = red.body.dtype;
      if (red.op === 'argmax') {
        w.line(
          `var best = ${literal(d === 'f32' ? -Infinity : d === 'i32' ? -2147483648 : 0, d === 'bool' ? 'u32' : d)};`,
        );
        w.line('var acc = 0i;');
        w.line('var seen = false;');
      } else w.line(`var acc = ${literal(identity(red.op, d), d === 'bool' ? 'u32' : d)};`);
      w.block(`for (var rr = ${from}; rr < ${n}; rr += ${step})`, () => {
        w.line('var rrest = rr;');
        for (let j = R - 1; j >= 0; j--) {
          w.line(`let i${r + j} = rrest % ${red.shape[j]};`);
          w.line(`rrest = rrest / ${red.shape[j]};`);
        }
        const inner = new Set<KNode>();
        for (const x of topo([red.body])) if (!emitted.has(x) && x.op !== 'idx' && x.op !== 'acc') inner.add(x);
        for (const x of inner) w.line(`let ${nameFn(x)} = ${expr(k, x, nameFn)};`);
        const v = nameFn(red.body);
        const vv = d === 'bool' ? `select(0u, 1u, ${v})` : v;
        if (red.op === 'argmax') {
          const better = d === 'f32' ? `(${vv} > best || (${vv} != ${vv} && best == best))` : `(${vv} > best)`;
          w.block(`if (!seen || ${better})`, () => {
            w.line(`best = ${vv};`);
            w.line('acc = rr;');
            w.line('seen = true;');
          });
        } else w.line(`acc = ${combine(red.op, d, 'acc', vv)};`);
      });
    } else if (t) {
      t.accumulate(w, k, from, step, vec4.size > 0);
    }
    if (!group) return store();
    // tree-combine the invocations' partial results; invocation 0 applies the epilogue
    const op = k.kind === 'loop' && k.red ? (k.red.op as 'sum' | 'max' | 'min') : 'sum';
    const d: KDType = k.kind === 'loop' && k.red ? k.red.body.dtype : 'f32';
    w.line('part[lid] = acc;');
    w.line('workgroupBarrier();');
    w.block(`for (var s = ${WORKGROUP / 2}u; s > 0u; s = s >> 1u)`, () => {
      w.line(`if (lid < s) { part[lid] = ${combine(op, d === 'bool' ? 'u32' : d, 'part[lid]', 'part[lid + s]')}; }`);
      w.line('workgroupBarrier();');
    });
    w.block('if (lid == 0u)', () => {
      w.line('acc = part[0];');
      store();
    });
  });
  return w.text();
}

function usesAxis(n: KNode, from: number): boolean {
  return n.deps >> from !== 0;
}

function identity(op: 'sum' | 'max' | 'min', d: KDType): number {
  if (op === 'sum') return 0;
  if (d === 'f32') return op === 'max' ? -Infinity : Infinity;
  if (d === 'i32') return op === 'max' ? -2147483648 : 2147483647;
  return op === 'max' ? 0 : 4294967295;
}

function combine(op: 'sum' | 'max' | 'min', d: KDType, a: string, b: string): string {
  if (op === 'sum') return `${a} + ${b}`;
  if (d === 'f32') return `${op}(${a}, ${b})`;
  return `${op}(${a}, ${b})`;
}

/** Shared helper functions (JS semantics for integer division and shifts, pow for negative bases). */
function helpers(w: Wgsl): void {
  for (const l of SPECIALS) w.line(l);
  w.line('fn idiv(a: i32, b: i32) -> i32 { return select(a / select(b, 1, b == 0), 0, b == 0); }');
  w.line('fn irem(a: i32, b: i32) -> i32 { return select(a % select(b, 1, b == 0), 0, b == 0); }');
  w.line('fn udiv(a: u32, b: u32) -> u32 { return select(a / select(b, 1u, b == 0u), 0u, b == 0u); }');
  w.line('fn urem(a: u32, b: u32) -> u32 { return select(a % select(b, 1u, b == 0u), 0u, b == 0u); }');
  w.line('fn ishl(a: i32, b: i32) -> i32 { return select(a << u32(b), 0, b >= 32 || b < 0); }');
  w.line('fn ishr(a: i32, b: i32) -> i32 { return a >> u32(clamp(b, 0, 31)); }');
  w.line('fn ushl(a: u32, b: u32) -> u32 { return select(a << b, 0u, b >= 32u); }');
  w.line('fn ushr(a: u32, b: u32) -> u32 { return select(a >> b, 0u, b >= 32u); }');
  w.block('fn fpow(a: f32, b: f32) -> f32', () => {
    w.line('if (b == 0.0f) { return 1.0f; }');
    w.line('let m = pow(abs(a), b);');
    w.line('if (a >= 0.0f) { return m; }');
    w.line('if (floor(b) != b) { return bitcast<f32>(NAN_BITS); }');
    w.line('return select(m, -m, (abs(b) % 2.0f) == 1.0f);');
  });
  w.line('fn fsign(a: f32) -> f32 { return select(select(a, -1.0f, a < 0.0f), 1.0f, a > 0.0f); }');
  // sin, cos and tanh of our own (Cephes' single-precision algorithms): GPU built-ins are far less
  // accurate (SwiftShader's sin is off by 1e-4 at x = 1.3, and its tanh(100) is NaN)
  w.block('fn sincos_reduce(x: f32) -> vec2f', () => {
    w.line('var j = i32(1.27323954473516f * abs(x));');
    w.line('j += j & 1;');
    w.line('let y = f32(j);');
    w.line('let r = ((abs(x) - y * 0.78515625f) - y * 2.4187564849853515625e-4f) - y * 3.77489497744594108e-8f;');
    w.line('return vec2f(r, f32(j & 7));');
  });
  w.line(
    'fn sin_poly(x: f32, z: f32) -> f32 { return ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * x + x; }',
  );
  w.line(
    'fn cos_poly(z: f32) -> f32 { return ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z - 0.5f * z + 1.0f; }',
  );
  w.block('fn fsin(x: f32) -> f32', () => {
    w.line('let rj = sincos_reduce(x);');
    w.line('var j = i32(rj.y);');
    w.line('var sgn = select(1.0f, -1.0f, x < 0.0f);');
    w.line('if (j > 3) { sgn = -sgn; j -= 4; }');
    w.line('let z = rj.x * rj.x;');
    w.line('return sgn * select(sin_poly(rj.x, z), cos_poly(z), j == 1 || j == 2);');
  });
  w.block('fn fcos(x: f32) -> f32', () => {
    w.line('let rj = sincos_reduce(x);');
    w.line('var j = i32(rj.y);');
    w.line('var sgn = 1.0f;');
    w.line('if (j > 3) { sgn = -sgn; j -= 4; }');
    w.line('if (j > 1) { sgn = -sgn; }');
    w.line('let z = rj.x * rj.x;');
    w.line('return sgn * select(cos_poly(z), sin_poly(rj.x, z), j == 1 || j == 2);');
  });
  w.block('fn ftanh(x: f32) -> f32', () => {
    w.line('let a = abs(x);');
    w.block('if (a < 0.625f)', () => {
      w.line('let z = x * x;');
      w.line(
        'return ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;',
      );
    });
    w.line('let r = 1.0f - 2.0f / (exp(2.0f * min(a, 20.0f)) + 1.0f);');
    w.line('return select(r, -r, x < 0.0f);');
  });
}

/** The WGSL expression of one node (children by name). */
function expr(k: Kernel, n: KNode, nm: (n: KNode) => string): string {
  const a = (x: KNode) => nm(x);
  switch (n.op) {
    case 'const':
      return literal(n.value, n.dtype);
    case 'load': {
      const v = inAt(k, n.buf, a(n.at));
      return n.dtype === 'bool' ? `(${v} != 0u)` : v;
    }
    case 'cvt':
      return convert(n.a.dtype, n.dtype, a(n.a));
    case 'select':
      return `select(${a(n.b)}, ${a(n.a)}, ${a(n.c)})`;
    case 'un':
      return unary(n.f, n.dtype, a(n.a));
    case 'bin':
      return binary(n.f, n.a.dtype, a(n.a), a(n.b));
    case 'idx':
    case 'acc':
      return nm(n);
  }
}

function convert(from: KDType, to: KDType, x: string): string {
  if (from === to) return x;
  if (to === 'bool') return from === 'f32' ? `(${x} != 0.0f)` : from === 'i32' ? `(${x} != 0i)` : `(${x} != 0u)`;
  if (from === 'bool')
    return to === 'f32' ? `select(0.0f, 1.0f, ${x})` : to === 'i32' ? `select(0i, 1i, ${x})` : `select(0u, 1u, ${x})`;
  if (to === 'f32') return `f32(${x})`;
  if (from === 'f32') return to === 'i32' ? `i32(${x})` : `bitcast<u32>(i32(${x}))`;
  return `bitcast<${wty(to)}>(${x})`;
}

/** f32 unary operators, one per unary primitive (undefined: not defined on f32). */
const F32_UNARY: Record<UnaryPrim, ((x: string) => string) | undefined> = {
  neg: (x) => `(-${x})`,
  abs: (x) => `abs(${x})`,
  exp: (x) => `exp(${x})`,
  log: (x) => `log(${x})`,
  sqrt: (x) => `sqrt(${x})`,
  // SwiftShader's sin/cos/tanh are inaccurate: the kernel's own (Cephes) versions
  sin: (x) => `fsin(${x})`,
  cos: (x) => `fcos(${x})`,
  tanh: (x) => `ftanh(${x})`,
  rsqrt: (x) => `(1.0f / sqrt(${x}))`,
  sigmoid: (x) => `(1.0f / (1.0f + exp(-${x})))`,
  sign: (x) => `fsign(${x})`,
  floor: (x) => `floor(${x})`,
  ceil: (x) => `ceil(${x})`,
  round: (x) => `round(${x})`,
  not: undefined,
};

/** i32 / u32 unary operators (u: unsigned). */
const INT_UNARY: Record<UnaryPrim, ((x: string, u: boolean) => string) | undefined> = {
  neg: (x, u) => (u ? `(0u - ${x})` : `(0i - ${x})`),
  abs: (x, u) => (u ? x : `select(${x}, 0i - ${x}, ${x} < 0i)`),
  sign: (x, u) => (u ? `select(0u, 1u, ${x} != 0u)` : `select(select(0i, -1i, ${x} < 0i), 1i, ${x} > 0i)`),
  not: (x) => `(~${x})`,
  exp: undefined,
  log: undefined,
  sqrt: undefined,
  rsqrt: undefined,
  sin: undefined,
  cos: undefined,
  tanh: undefined,
  sigmoid: undefined,
  floor: undefined,
  ceil: undefined,
  round: undefined,
};

function unary(f: UnaryPrim, d: KDType, x: string): string {
  const op =
    d === 'bool'
      ? f === 'not'
        ? (y: string) => `(!${y})`
        : undefined
      : d === 'f32'
        ? F32_UNARY[f]
        : INT_UNARY[f] && ((y: string) => INT_UNARY[f]!(y, d === 'u32'));
  if (!op) throw new InternalError(`wgsl: ${f} on ${d}`);
  return op(x);
}

type WgslBinary = (a: string, b: string, u: boolean) => string;
const op =
  (o: string): WgslBinary =>
  (a, b) =>
    `(${a} ${o} ${b})`;
const call =
  (f: string): WgslBinary =>
  (a, b) =>
    `${f}(${a}, ${b})`;

/** f32 binary operators (WGSL's own where they agree with the reference: f32 % is fmod). */
const F32_BINARY: Record<KBin, WgslBinary | undefined> = {
  add: op('+'),
  sub: op('-'),
  mul: op('*'),
  div: op('/'),
  rem: op('%'),
  pow: call('fpow'),
  max: call('max'),
  min: call('min'),
  and: undefined,
  or: undefined,
  xor: undefined,
  shl: undefined,
  shr: undefined,
  eq: op('=='),
  ne: op('!='),
  lt: op('<'),
  le: op('<='),
  gt: op('>'),
  ge: op('>='),
};

/** i32 / u32 binary operators (u: unsigned): WGSL's wrapping + - * and bit operators; division,
 *  remainder and shifts through helpers with the reference's semantics (x / 0 = 0, shifts ≥ 32). */
const INT_BINARY: Record<KBin, WgslBinary | undefined> = {
  add: op('+'),
  sub: op('-'),
  mul: op('*'),
  and: op('&'),
  or: op('|'),
  xor: op('^'),
  max: call('max'),
  min: call('min'),
  div: (a, b, u) => `${u ? 'u' : 'i'}div(${a}, ${b})`,
  rem: (a, b, u) => `${u ? 'u' : 'i'}rem(${a}, ${b})`,
  shl: (a, b, u) => `${u ? 'u' : 'i'}shl(${a}, ${b})`,
  shr: (a, b, u) => `${u ? 'u' : 'i'}shr(${a}, ${b})`,
  pow: (a, b, u) => `${u ? 'u32' : 'i32'}(fpow(f32(${a}), f32(${b})))`,
  eq: op('=='),
  ne: op('!='),
  lt: op('<'),
  le: op('<='),
  gt: op('>'),
  ge: op('>='),
};

/** bool binary operators (max / min of booleans are or / and). */
const BOOL_BINARY: Record<KBin, WgslBinary | undefined> = {
  and: op('&&'),
  or: op('||'),
  xor: op('!='),
  max: op('||'),
  min: op('&&'),
  eq: op('=='),
  ne: op('!='),
  lt: op('<'),
  le: op('<='),
  gt: op('>'),
  ge: op('>='),
  add: undefined,
  sub: undefined,
  mul: undefined,
  div: undefined,
  rem: undefined,
  pow: undefined,
  shl: undefined,
  shr: undefined,
};

function binary(f: KBin, d: KDType, a: string, b: string): string {
  const fn = (d === 'f32' ? F32_BINARY : d === 'bool' ? BOOL_BINARY : INT_BINARY)[f];
  if (!fn) throw new InternalError(`wgsl: binary ${f} on ${d}`);
  return fn(a, b, d === 'u32');
}

/** WGSL of a dynamic_update_slice step: one invocation per update element writes it at the
 *  clamped start (binding 0 = the target, 1 = the update, 2.. = the start indices that are
 *  buffers; literal starts are baked in). */
export function emitUpdate(
  shape: number[],
  ushape: number[],
  dtype: KDType,
  starts: (number | { lit: number })[],
): string {
  const w = new Wgsl();
  const st = storage(dtype);
  w.line(`// update [${ushape.join(', ')}] into [${shape.join(', ')}]`);
  w.line(`@group(0) @binding(0) var<storage, read_write> out: array<${st}>;`);
  w.line(`@group(0) @binding(1) var<storage, read> upd: array<${st}>;`);
  let b = 2;
  const startExpr = starts.map((s, d) => {
    if (typeof s !== 'number') return literal(Math.min(Math.max(s.lit, 0), shape[d]! - ushape[d]!), 'i32');
    w.line(`@group(0) @binding(${b}) var<storage, read> s${d}: array<i32>;`);
    b++;
    return `clamp(s${d}[0], 0, ${shape[d]! - ushape[d]!})`;
  });
  const total = ushape.reduce((a, c) => a * c, 1);
  w.block(`@compute @workgroup_size(${WORKGROUP}) fn main(@builtin(global_invocation_id) gid: vec3u)`, () => {
    w.line(`let flat = i32(gid.x + gid.y * ${GRID_X}u);`);
    w.line(`if (flat >= ${total}) { return; }`);
    w.line('var rest = flat;');
    w.line('var at = 0;');
    let stride = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      w.line(`at += (rest % ${ushape[d]} + ${startExpr[d]}) * ${stride};`);
      w.line(`rest = rest / ${ushape[d]};`);
      stride *= shape[d]!;
    }
    w.line('out[at] = upd[flat];');
  });
  return w.text();
}
