// What the compiling obtc commands share: reading a source file (`-`: stdin), compiling it with the
// flags' options, JSON arguments and results; re-exports the flag readers (cli/flags.ts) and the
// usage error (exit 2; the flags themselves are parsed by cli/spec.ts).
import { readFileSync, readSync, statSync } from 'node:fs';
import { CompileError, UserError } from '../compiler/syntax/diag.ts';
import { compile, type CompileOptions, type Device, type HostValue, type Program } from '../compiler/api.ts';
import { methodCompileOptions, resolveMethod } from '../llm/method.ts';
import { toNested } from '../runtime/core/tensor.ts';
import { isTensor, mapTree } from '../runtime/core/tree.ts';
import { backendOf, deviceOf, str, type Flags } from './flags.ts';
import { Usage } from './spec.ts';
import { parseArgText } from './json_arg.ts';
export { Usage };
export {
  backendOf,
  choice,
  closePools,
  deviceOf,
  num,
  poolOf,
  str,
  type CliIO,
  type Command,
  type Flags,
} from './flags.ts';

/** The device of --backend, a WebGPU device opened when it is webgpu. */
export async function openDevice(flags: Flags): Promise<Device> {
  const gpu =
    backendOf(flags) === 'webgpu' ? await (await import('../runtime/env/node_gpu.ts')).nodeGpuDevice() : undefined;
  return deviceOf(flags, gpu);
}

/** A source file's text; `-` reads standard input. */
export function readSource(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch {
    throw new UserError(`cannot read ${file === '-' ? 'standard input' : file}`);
  }
}

/** The path diagnostics name for a source argument (`-`: <stdin>). */
export const sourcePath = (file: string): string => (file === '-' ? '<stdin>' : file);

/** Compile options from the flags: --method NAME|FILE binds `import method` (as obtc quantize does). */
export function compileOptions(file: string, flags: Flags): CompileOptions {
  const m = str(flags, 'method');
  return { path: sourcePath(file), ...(m ? methodCompileOptions(resolveMethod(m)) : {}) };
}

/** A program that type-checks (its diagnostics raised otherwise). */
export function load(file: string, flags: Flags = new Map()): Program {
  const prog = compile(readSource(file), compileOptions(file, flags));
  if (!prog.ok) throw new CompileError(prog.diagnostics);
  return prog;
}

/** The most bytes an argument file (`@FILE`) or standard input (`-`) may hold (reading one costs
 *  about its size, plus 8 bytes per number). */
const MAX_ARG_BYTES = 256 << 20;

/** An argument's JSON text: `@FILE` reads a file, `-` standard input (for values too large for a
 *  command line); anything else is the text itself. */
function argText(s: string, i: number): string {
  if (s === '-') return readStdin(i);
  if (!s.startsWith('@')) return s;
  const file = s.slice(1);
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new UserError(`argument ${i + 1}: cannot read ${file}`);
  }
  if (!st.isFile()) throw new UserError(`argument ${i + 1}: ${file} is not a regular file`);
  if (st.size > MAX_ARG_BYTES)
    throw new UserError(`argument ${i + 1}: ${file} has ${st.size} bytes; at most ${MAX_ARG_BYTES}`);
  return readFileSync(file, 'utf8');
}

/** Standard input, at most MAX_ARG_BYTES of it. */
function readStdin(i: number): string {
  const chunks: Buffer[] = [];
  let n = 0;
  const buf = Buffer.alloc(1 << 20);
  for (;;) {
    let k: number;
    try {
      k = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as { code?: string }).code === 'EAGAIN') continue;
      if ((e as { code?: string }).code === 'EOF') break;
      throw new UserError(`argument ${i + 1}: cannot read standard input`);
    }
    if (k === 0) break;
    n += k;
    if (n > MAX_ARG_BYTES)
      throw new UserError(`argument ${i + 1}: standard input has more than ${MAX_ARG_BYTES} bytes`);
    chunks.push(Buffer.from(buf.subarray(0, k)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** An argument as a JSON literal (`@FILE` and `-` read it from a file or standard input); bare
 *  `nan`, `inf` and `-inf` are read as results print them. Read in bounded memory and depth
 *  (cli/json_arg.ts). */
export function parseJsonArg(s: string, i: number): HostValue {
  return parseArgText(argText(s, i), i);
}

/** A result as JSON: tensors as nested arrays (inf/nan as strings; f32 and f16 values with the
 *  fewest digits that read back as the same f32, so 0.1 prints as 0.1), structs as objects. */
export function jsonOf(v: unknown): unknown {
  return mapTree(v, isTensor, (t) => fixFloats(toNested(t), t.dtype === 'f32' || t.dtype === 'f16'));
}

function fixFloats(v: unknown, f32: boolean): unknown {
  if (Array.isArray(v)) return v.map((x) => fixFloats(x, f32));
  if (typeof v !== 'number') return v;
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  return f32 ? shortestF32(v) : v;
}

/** The number with the fewest significant digits whose f32 rounding is v's (v an f32 value). */
function shortestF32(v: number): number {
  for (let p = 1; p < 9; p++) {
    const x = Number(v.toPrecision(p));
    if (Math.fround(x) === v) return x;
  }
  return v;
}

/** `--shape x=2x3,w=3x4`: zero tensors of those shapes (for printing Core IR). */
export function shapeArgs(params: string[], spec: string): HostValue[] {
  const m = new Map<string, number[]>();
  for (const part of spec.split(',')) {
    const [n, s] = part.split('=');
    if (!n || s === undefined) throw new Usage(`--shape expects name=2x3, found ${part}`);
    m.set(n, s === '' ? [] : s.split('x').map(Number));
  }
  return params.map((p) => {
    const s = m.get(p);
    if (!s) throw new Usage(`--shape gives no shape for parameter ${p}`);
    const build = (d: number): HostValue => (d === s.length ? 0 : Array.from({ length: s[d]! }, () => build(d + 1)));
    return build(0);
  });
}
