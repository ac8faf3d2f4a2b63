// Kernel IR printer, verifier and structural hash. The printer numbers nodes in topological order
// from the kernel's roots, so two structurally equal kernels print (and hash) identically.
import { InternalError } from '../syntax/diag.ts';
import { createHash } from 'node:crypto';
import { children, kernelRoots, topo, type Kernel, type KNode } from './ir.ts';

function nodeText(n: KNode, name: (m: KNode) => string): string {
  switch (n.op) {
    case 'idx':
      return `idx ${n.axis}`;
    case 'const':
      return `${n.dtype} ${Object.is(n.value, -0) ? '-0' : n.value}`;
    case 'load':
      return `load b${n.buf}[${name(n.at)}]`;
    case 'acc':
      return 'acc';
    case 'un':
      return `${n.f} ${name(n.a)}`;
    case 'bin':
      return `${n.f} ${name(n.a)}, ${name(n.b)}`;
    case 'select':
      return `select ${name(n.c)}, ${name(n.a)}, ${name(n.b)}`;
    case 'cvt':
      return `convert ${name(n.a)}`;
  }
}

function header(k: Kernel): string {
  const ins = k.ins.map((b, i) => `b${i}: ${b.dtype}${b.stored ? ` as ${b.stored}` : ''}[${b.size}]`).join(', ');
  switch (k.kind) {
    case 'loop':
      return `loop [${k.shape.join(', ')}]${k.red ? ` reduce_${k.red.op} [${k.red.shape.join(', ')}]` : ''} -> ${k.outDtype} (${ins})`;
    case 'dot':
      return `dot B=${k.B} M=${k.M} N=${k.N} K=${k.K} a=b${k.a} b=b${k.b} [${k.shape.join(', ')}] -> ${k.outDtype} (${ins})`;
    case 'signlinear':
      return `signlinear M=${k.M} O=${k.O} I=${k.I} x=b${k.x} s=b${k.s} g=b${k.g} [${k.shape.join(', ')}] -> ${k.outDtype} (${ins})`;
    case 'blocksignlinear':
      return `blocksignlinear M=${k.M} O=${k.O} I=${k.I} K=${k.K} x=b${k.x} s=b${k.s} d=b${k.d} [${k.shape.join(', ')}] -> ${k.outDtype} (${ins})`;
    case 'attention':
      return `attention ${k.mode} scale=${k.scale} B=${k.B} T=${k.T} S=${k.S} H=${k.H} KV=${k.KV} Dh=${k.Dh} q=b${k.q} k=b${k.k} v=b${k.v} mask=b${k.mask} do=b${k.dO} lse=b${k.lse} delta=b${k.delta} [${k.shape.join(', ')}] -> ${k.outDtype} (${ins})`;
    default:
      return k satisfies never;
  }
}

export function printKernel(k: Kernel): string {
  const order = topo(kernelRoots(k));
  const num = new Map(order.map((n, i) => [n, i]));
  const name = (m: KNode) => `t${num.get(m)}`;
  const lines = [header(k)];
  for (const n of order) lines.push(`  t${num.get(n)}: ${n.dtype} = ${nodeText(n, name)}`);
  if (k.kind === 'loop' && k.red) lines.push(`  reduce ${name(k.red.body)}`);
  lines.push(`  store ${name(k.out)}`);
  return lines.join('\n');
}

/** A kernel's kind and extents in one line (profiles): `dot 8×256×256 · K 32`, `loop 2048×512 sum 512`. */
export function describeKernel(k: Kernel): string {
  const x = (ns: readonly number[]) => (ns.length ? ns.join('×') : 'scalar');
  switch (k.kind) {
    case 'dot':
      return `dot ${x(k.B > 1 ? [k.B, k.M, k.N] : [k.M, k.N])} · K ${k.K}`;
    case 'signlinear':
      return `signlinear ${k.M}×${k.O} · I ${k.I}`;
    case 'blocksignlinear':
      return `blocksignlinear ${k.M}×${k.O} · I ${k.I} in ${k.K} blocks`;
    case 'attention':
      return `attention ${k.mode} ${k.B}×${k.H}×${k.T}×${k.S}${k.KV !== k.H ? ` KV ${k.KV}` : ''} · Dh ${k.Dh}`;
    case 'loop':
      return k.red ? `${k.red.op} ${x(k.shape)} over ${x(k.red.shape)}` : `map ${x(k.shape)}`;
    default:
      return k satisfies never;
  }
}

/** A kernel's identity, the key of compiled kernels in memory, on disk and in artifacts: 128 bits of
 *  SHA-256 over its printed form. (A 32-bit FNV-1a collided — two kernels, one cached binary, a
 *  silently wrong result — within the ~10^5 kernels of one fuzzer run.) */
export function hashKernel(k: Kernel): string {
  return createHash('sha256').update(printKernel(k)).digest('hex').slice(0, 32);
}

/** Checks dtypes, buffer references and where `acc` and loop axes may appear. */
export function verifyKernel(k: Kernel): void {
  const rank = k.shape.length;
  const redRank = k.kind === 'loop' && k.red ? k.red.shape.length : 0;
  const bad = (msg: string): never => {
    throw new InternalError(`Kernel IR verification failed: ${msg}\n${printKernel(k)}`);
  };
  const check = (root: KNode, inBody: boolean) => {
    for (const n of topo([root])) {
      if (n.op === 'idx' && (n.axis < 0 || n.axis >= rank + (inBody ? redRank : 0)))
        bad(`loop axis ${n.axis} out of range`);
      if (n.op === 'acc' && (inBody || (k.kind === 'loop' && !k.red))) bad('acc outside an epilogue');
      if (n.op === 'load') {
        const b = k.ins[n.buf];
        if (!b) bad(`load from missing buffer b${n.buf}`);
        if (b!.dtype !== n.dtype) bad(`load of ${n.dtype} from ${b!.dtype} buffer b${n.buf}`);
        if (n.at.dtype !== 'i32') bad('load index must be i32');
      }
      if (n.op === 'select' && (n.c.dtype !== 'bool' || n.a.dtype !== n.b.dtype)) bad('select operand dtypes');
      if (n.op === 'bin' && n.a.dtype !== n.b.dtype) bad(`${n.f} operand dtypes differ`);
      for (const c of children(n)) if (c.id >= n.id) bad('node order');
    }
  };
  if (k.kind === 'loop' && k.red) check(k.red.body, true);
  check(k.out, false);
  if (k.out.dtype !== k.outDtype) bad(`stored ${k.out.dtype} into ${k.outDtype}`);
  if (k.kind === 'dot' && (k.ins[k.a]?.size !== k.B * k.M * k.K || k.ins[k.b]?.size !== k.B * k.N * k.K))
    bad('dot operand sizes');
  if (
    k.kind === 'signlinear' &&
    (k.ins[k.x]?.size !== k.M * k.I || k.ins[k.s]?.dtype !== 'u32' || k.ins[k.g]?.size !== k.I)
  )
    bad('signlinear operands');
  if (
    k.kind === 'blocksignlinear' &&
    (k.ins[k.x]?.size !== k.M * k.I ||
      k.ins[k.s]?.dtype !== 'u32' ||
      k.ins[k.d]?.size !== k.O * k.K ||
      k.I % k.K !== 0 ||
      (k.I / k.K) % 32 !== 0)
  )
    bad('blocksignlinear operands');
  if (k.kind === 'attention') {
    const q = k.B * k.T * k.H * k.Dh;
    const kv = k.B * k.S * k.KV * k.Dh;
    const sized = (b: number, n: number, d = 'f32') => b >= 0 && k.ins[b]?.size === n && k.ins[b]?.dtype === d;
    const back = k.mode === 'bwd';
    if (
      !sized(k.q, q) ||
      !sized(k.k, kv) ||
      !sized(k.mask, k.T * k.S, 'bool') ||
      !sized(k.v, kv) ||
      (back && (!sized(k.dO, q) || !sized(k.lse, k.B * k.T * k.H) || !sized(k.delta, k.B * k.T * k.H)))
    )
      bad('attention operands');
  }
}
