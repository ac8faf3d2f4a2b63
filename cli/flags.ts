// The flag readers every obtc command shares (strings, numbers, choices, --backend, --threads) and
// the command signature. Kept free of the compiler so that obtc's start-up (main.ts, --help, a
// usage error) loads neither binaryen nor the grammar.
import { UserError } from '../compiler/syntax/diag.ts';
import type { Backend, Device } from '../compiler/api.ts';
import type { GpuDevice } from '../runtime/webgpu/device.ts';
import type { KernelPool } from '../runtime/wasm/pool.ts';
import { NodeThreadPool } from '../runtime/env/node_threads.ts';

export type Flags = Map<string, string | true>;

export interface CliIO {
  out: (s: string) => unknown;
  err: (s: string) => unknown;
}

/** A command: the positionals after its name and the flags; returns the exit code. */
export type Command = (pos: string[], flags: Flags, io: CliIO) => Promise<number>;

export function str(flags: Flags, k: string): string | undefined {
  const v = flags.get(k);
  if (v === true) throw new UserError(`--${k} needs a value`);
  return v;
}

export function num(flags: Flags, k: string, dflt: number, ok: (x: number) => boolean, what: string): number {
  const v = str(flags, k);
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isFinite(x) || !ok(x)) throw new UserError(`--${k} ${v}: expected ${what}`);
  return x;
}

export function choice<T extends string>(flags: Flags, k: string, dflt: T, options: readonly T[]): T {
  const v = str(flags, k);
  if (v === undefined) return dflt;
  if (!options.includes(v as T)) throw new UserError(`--${k} ${v}: expected one of ${options.join(', ')}`);
  return v as T;
}

export function backendOf(flags: Flags, allowed: readonly Backend[] = ['wasm', 'interp', 'webgpu']): Backend {
  const b = str(flags, 'backend') ?? 'wasm';
  if (!(allowed as readonly string[]).includes(b))
    throw new UserError(`--backend ${b}: expected ${allowed.join(', ')}`);
  return b as Backend;
}

const pools: KernelPool[] = [];

/** --threads N (default 1): a worker_threads pool for the Wasm backend, closed by closePools(). */
export function poolOf(flags: Flags): KernelPool | undefined {
  const n = num(flags, 'threads', 1, (x) => Number.isInteger(x) && x >= 1 && x <= 256, 'a thread count >= 1');
  if (n === 1) return undefined;
  const p = new NodeThreadPool(n);
  pools.push(p);
  return p;
}

/** The device of --backend (and --threads); webgpu runs on the device given (opened by the caller:
 *  args.ts openDevice). */
export function deviceOf(flags: Flags, gpu?: GpuDevice): Device {
  const b = backendOf(flags);
  if (b === 'webgpu') {
    if (!gpu) throw new UserError('--backend webgpu needs a device');
    return { kind: 'webgpu', gpu };
  }
  return b === 'wasm' ? { kind: 'wasm', pool: poolOf(flags) } : { kind: 'interp' };
}

export function closePools(): void {
  for (const p of pools.splice(0)) p.close();
}
