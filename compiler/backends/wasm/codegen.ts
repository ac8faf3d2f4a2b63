// One Wasm module per kernel, built with binaryen's API (SIMD128 on, memory imported as env.memory,
// f64 math imported from the host), validated, optimised, and cached by the kernel's structural
// hash in memory and on disk (<cache dir>/wasm/<hash>.wasm; see cacheDir), so a warm compile only instantiates.
// Loop kernels are emitted by compiler/backends/wasm/emit/loop.ts, template kernels by their record
// (compiler/templates/); their scratch and thread split come from the same place.
import binaryen from 'binaryen';
import type { MathImport } from '../../../runtime/wasm/abi.ts';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { homedir } from 'node:os';
import type { Kernel } from '../../kir/ir.ts';
import { printKernel } from '../../kir/print.ts';
import type { Parallelism } from '../../../runtime/plan/plan.ts';
import { loopParallelism, MATH_IMPORTS, MAX_PAGES, paramsOf } from './emit/abi.ts';
import { loopBody } from './emit/loop.ts';
import { Locals } from './emit/expr.ts';
import { madd, type M, type WasmTemplate } from './emit/common.ts';
import { templateOf } from '../../templates/index.ts';
import { InternalError } from '../../syntax/diag.ts';

const wasmOf = (k: Exclude<Kernel, { kind: 'loop' }>) => templateOf(k).wasm as WasmTemplate<Kernel>;

/** Scratch bytes a kernel needs per thread. */
export function scratchOf(k: Kernel): number {
  return k.kind === 'loop' ? 0 : wasmOf(k).scratch(k);
}

/** How a kernel's work splits across threads. */
export function parallelism(k: Kernel): Parallelism {
  return k.kind === 'loop' ? loopParallelism(k) : wasmOf(k).parallelism(k);
}

/** Adds the kernel function `name` to a module. */
function emitKernel(m: M, name: string, k: Kernel): { imports: Set<MathImport> } {
  const nparams = paramsOf(k).count;
  const L = new Locals(nparams);
  const imports = new Set<MathImport>();
  const body = k.kind === 'loop' ? loopBody(m, k, L, imports) : wasmOf(k).body(m, k, L, imports);
  m.addFunction(
    name,
    binaryen.createType(new Array(nparams).fill(binaryen.i32)),
    binaryen.none,
    L.types,
    m.block(null, body),
  );
  return { imports };
}

/** Bumped whenever generated code changes, so stale disk-cache entries are never used. */
export const CODEGEN_VERSION = 'w37';

export interface CompiledKernel {
  hash: string;
  bytes: Uint8Array;
  imports: string[];
}

const memo = new Map<string, CompiledKernel>();

/** Forgets the in-memory kernel cache (benchmarks of warm, disk-cached compiles). */
export function __resetKernelMemo(): void {
  memo.clear();
}

/** The kernel cache's folder: OBT_CACHE_DIR (`off`: none), else the user's cache directory
 *  ($XDG_CACHE_HOME/obt, ~/.cache/obt; ~/Library/Caches/obt on macOS, %LOCALAPPDATA%\obt on
 *  Windows) — never inside the installed package. */
function cacheDir(): string | undefined {
  const d = process.env.OBT_CACHE_DIR ?? join(userCacheHome(), 'obt');
  return d === 'off' ? undefined : join(d, 'wasm');
}

function userCacheHome(): string {
  const env = process.env;
  if (env.XDG_CACHE_HOME) return env.XDG_CACHE_HOME;
  if (process.platform === 'win32' && env.LOCALAPPDATA) return env.LOCALAPPDATA;
  return join(homedir(), process.platform === 'darwin' ? 'Library/Caches' : '.cache');
}

/** The relaxed-SIMD probe: a module of one function `(v128) -> v128` returning
 *  f32x4.relaxed_madd(x, x, x), byte for byte as binaryen emits it from relaxedProbeModule()
 *  (test/backends/vecmath.test.ts checks that). Written out so that a run whose kernels all come
 *  from the disk cache validates it without binaryen: its first emit costs ~300 ms of V8 compiling
 *  binaryen's own code, a third of `obtc generate`'s start-up. */
// prettier-ignore
export const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x06, 0x01, 0x60, 0x01, 0x7b, 0x01, 0x7b, // type section: (v128) -> v128
  0x03, 0x02, 0x01, 0x00, //                         function section: one function of type 0
  0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, //       export "f"
  0x0a, 0x0d, 0x01, 0x0b, 0x00, //                   code section: one body of 11 bytes, no locals
  0x20, 0x00, 0x20, 0x00, 0x20, 0x00, //             local.get 0 (three times)
  0xfd, 0x85, 0x02, 0x0b, //                         f32x4.relaxed_madd, end
]);

/** The probe's module built with binaryen (what RELAXED_PROBE spells out). */
export function relaxedProbeModule(): binaryen.Module {
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.RelaxedSIMD);
  const g = (i: number) => m.local.get(i, binaryen.v128);
  m.addFunction('f', binaryen.createType([binaryen.v128]), binaryen.v128, [], madd(m, g(0), g(0), g(0)));
  m.addFunctionExport('f', 'f');
  return m;
}

let relaxedProbe: boolean | undefined;
/** Whether this host runs relaxed SIMD (f32x4.relaxed_madd: one FMA instruction where the CPU has
 *  it), probed once with WebAssembly.validate on RELAXED_PROBE; OBT_RELAXED_SIMD=0 turns it off.
 *  Node 20 accepts it only with V8's --experimental-wasm-relaxed-simd, which bin/obtc.js and
 *  bench/run.js set; browsers have shipped it since 2023. */
export function relaxedSimd(): boolean {
  if (process.env.OBT_RELAXED_SIMD === '0') return false;
  relaxedProbe ??= WebAssembly.validate(RELAXED_PROBE);
  return relaxedProbe;
}

/** The binaryen module of one kernel (not optimised), for `--emit wat` and tests; `relaxed` lets
 *  the emitters use relaxed SIMD's fused multiply-add (compiler/backends/wasm/emit/common.ts madd). */
export function kernelModule(k: Kernel, shared = false, relaxed = false): { m: binaryen.Module; imports: string[] } {
  const m = new binaryen.Module();
  m.setFeatures(
    binaryen.Features.MVP |
      binaryen.Features.SIMD128 |
      binaryen.Features.NontrappingFPToInt |
      binaryen.Features.SignExt |
      (shared ? binaryen.Features.Atomics : 0) |
      (relaxed ? binaryen.Features.RelaxedSIMD : 0),
  );
  // a shared memory (threads) must be declared shared with a maximum; setMemory before the import
  if (shared) m.setMemory(0, MAX_PAGES, null, [], true, false, '0');
  m.addMemoryImport('0', 'env', 'memory', shared);
  const fn = emitKernel(m, 'kernel', k);
  const imports = [...fn.imports].sort();
  for (const name of imports) {
    const n = MATH_IMPORTS[name]!;
    m.addFunctionImport(name, 'env', name, binaryen.createType(new Array(n).fill(binaryen.f64)), binaryen.f64);
  }
  m.addFunctionExport('kernel', 'kernel');
  return { m, imports };
}

export function compileKernel(
  k: Kernel,
  hash: string,
  opts: { optimize?: boolean; shared?: boolean; relaxed?: boolean } = {},
): CompiledKernel {
  const variant = k.kind === 'loop' ? undefined : wasmOf(k).variant?.(k);
  const mem = `${opts.shared ? 's' : 'p'}${opts.relaxed ? 'r' : ''}`;
  const key = `${CODEGEN_VERSION}-${mem}-${variant ? `${variant}-` : ''}${hash}`;
  const hit = memo.get(key);
  if (hit) return hit;
  const dir = cacheDir();
  const file = dir && join(dir, `${key}.wasm`);
  if (file && existsSync(file)) {
    const buf = readFileSync(file);
    const n = buf.readUInt16LE(0);
    const imports = buf
      .subarray(2, 2 + n)
      .toString('utf8')
      .split(',')
      .filter(Boolean);
    const c = { hash, bytes: new Uint8Array(buf.subarray(2 + n)), imports };
    memo.set(key, c);
    return c;
  }
  const { m, imports } = kernelModule(k, opts.shared, opts.relaxed);
  if (!m.validate()) {
    m.dispose();
    throw new InternalError(`wasm: invalid module for kernel\n${printKernel(k)}`);
  }
  if (opts.optimize !== false) {
    binaryen.setOptimizeLevel(2);
    binaryen.setShrinkLevel(0);
    m.optimize();
  }
  const bytes = m.emitBinary();
  m.dispose();
  const c = { hash, bytes, imports };
  memo.set(key, c);
  if (file) {
    try {
      mkdirSync(dir!, { recursive: true });
      const head = Buffer.from(imports.join(','), 'utf8');
      const pre = Buffer.alloc(2);
      pre.writeUInt16LE(head.length, 0);
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat([pre, head, Buffer.from(bytes)]));
      renameSync(tmp, file);
    } catch {
      /* a read-only checkout still runs, uncached */
    }
  }
  return c;
}
