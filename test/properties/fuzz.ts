// The fuzzers' shared parts: the case count (OBT_FUZZ_RUNS; `npm run fuzz` sets 100 000) and
// time budget (OBT_FUZZ_SECONDS), the outcome of one case (loaded, a user error, or an internal
// error — any other exception), the per-case time and memory bounds, a summary line per target,
// and the byte- and JSON-level mutations the format fuzzers apply to the shipped files.
import fc from 'fast-check';
import { writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { LoadError } from '../../llm/io/model.ts';
import { UserError } from '../../runtime/core/errors.ts';
import { CompileError } from '../../compiler/syntax/diag.ts';
import { crc32 } from '../../llm/io/state.ts';

/** Cases per target (a format, programs): a few thousand in the suite, OBT_FUZZ_RUNS in `npm run
 *  fuzz`. A target fuzzed by several mutators (a format's bytes and its header fields) shares them. */
export const RUNS = Number(process.env.OBT_FUZZ_RUNS ?? 2000);
/** fast-check parameters replaying a reported failure: OBT_FUZZ_SEED and OBT_FUZZ_PATH, as the
 *  failure's `{ seed, path }` line gives them. */
export const replay = (): { seed?: number; path?: string } =>
  process.env.OBT_FUZZ_SEED ? { seed: Number(process.env.OBT_FUZZ_SEED), path: process.env.OBT_FUZZ_PATH } : {};
/** The whole run's wall-clock budget in seconds (OBT_FUZZ_SECONDS; `npm run fuzz` sets it): each
 *  target stops at its part of budget × workers, its part being its share of a whole run's time
 *  (COST), so a slower machine runs fewer cases of every target, in the same proportions, and
 *  still finishes in time. A target cut short says so in its summary. Unset (the suite): no cap. */
const BUDGET_S = Number(process.env.OBT_FUZZ_SECONDS ?? 0);
/** The vitest workers running targets side by side (`npm run fuzz`: --maxWorkers=100%). */
const WORKERS = Number(process.env.OBT_FUZZ_WORKERS ?? availableParallelism());
/** Each target's seconds in one `OBT_FUZZ_RUNS=10000` run (2 workers; 2026-12-07): what matters is
 *  their ratios. A new target adds its own line (capFor refuses a target without one). */
const COST: Record<string, number> = {
  'backend 1/2': 67,
  'backend 2/2': 67,
  'gguf fields': 44.2,
  'gguf bytes': 33.5,
  'programs: mutated real programs': 42.3,
  'programs: token soup': 2.1,
  'programs: random strings': 0.8,
  'state file bytes': 9.4,
  'state file header': 15.6,
  'model file (.obtm) bytes': 3.6,
  'model file (.obtm) header': 11.4,
  'legacy .obt1 bytes': 3.6,
  'legacy .obt1 header': 7.8,
  'safetensors bytes': 4.8,
  'safetensors header': 4.1,
  'llama2c .bin': 7.0,
  'llama2c tokenizer': 2.0,
  'lsp: framing': 1.3,
  'lsp: edit storms': 4.8,
  'model files: generated methods, lying headers': 5.1,
};
/** A target's time cap in ms under OBT_FUZZ_SECONDS, or undefined when no budget is set. */
export function capFor(target: string): number | undefined {
  if (!(BUDGET_S > 0)) return undefined;
  const cost = COST[target];
  if (cost === undefined) throw new Error(`fuzz target '${target}' has no line in fuzz.ts's COST`);
  const total = Object.values(COST).reduce((a, b) => a + b, 0);
  return (BUDGET_S * 1000 * WORKERS * cost) / total;
}
/** fast-check parameters of one target: its cases, its time cap, a replayed failure. */
export function runParams(target: string, numRuns: number): fc.Parameters<unknown> {
  const cap = capFor(target);
  return { numRuns, ...(cap ? { plugins: [fc.interruptAfterTimeLimit(cap)] } : {}), ...replay() };
}
/** ", stopped at its time cap (N s) after this many of M planned" when a target was cut short. */
export function capNote(target: string, cases: number, planned: number): string {
  const cap = capFor(target);
  return cap && cases < planned ? ` (its time cap, ${(cap / 1000).toFixed(0)} s, reached; ${planned} planned)` : '';
}

/** A mutator's share of its target's RUNS cases. */
export const share = (fraction: number) => Math.max(1, Math.round(RUNS * fraction));
/** A case slower than this is a hang. */
export const CASE_MS = 5000;
/** Live heap plus array buffers above this after a case is a memory blow-up. */
export const MEMORY_BYTES = 2 * 1024 ** 3;
/** A generous test timeout for a target of `runs` cases. */
export const timeoutFor = (runs: number, msPerCase = 40) => Math.max(120_000, runs * msPerCase);

/** Errors a user's file may cause: each prints one line and exits non-zero. */
export const isUserError = (e: unknown) =>
  e instanceof LoadError || e instanceof UserError || e instanceof CompileError;

/** Counts of one target's outcomes, printed as its summary line. */
export class Tally {
  cases = 0;
  ok = 0;
  clear = 0;
  internal = 0;
  hangs = 0;
  slowestMs = 0;
  peakBytes = 0;
  readonly messages = new Map<string, number>();
  private readonly t0 = performance.now();
  /** `planned`: the target's case count (its fast-check numRuns). */
  constructor(
    readonly target: string,
    readonly planned: number,
  ) {}
  /** fast-check parameters: the planned cases, the time cap, a replayed failure. */
  get params(): fc.Parameters<unknown> {
    return runParams(this.target, this.planned);
  }

  /** Runs one case: success or a user error pass; anything else is rethrown as the failure. */
  async run(f: () => unknown): Promise<void> {
    const t = performance.now();
    this.cases++;
    try {
      await f();
      this.ok++;
    } catch (e) {
      if (!isUserError(e)) {
        this.internal++;
        throw e;
      }
      this.clear++;
      const msg = (e as Error).message;
      if (/\n/.test(msg.trim()) && e instanceof LoadError)
        throw new Error(`a load error of more than one line: ${msg}`, { cause: e });
      const key = msg.replace(/\d+/g, 'N').slice(0, 90);
      this.messages.set(key, (this.messages.get(key) ?? 0) + 1);
    } finally {
      const ms = performance.now() - t;
      this.slowestMs = Math.max(this.slowestMs, ms);
      if (ms > CASE_MS) this.hangs++;
      const m = process.memoryUsage();
      this.peakBytes = Math.max(this.peakBytes, m.heapUsed + m.arrayBuffers);
      if (this.cases % 1000 === 0 && process.env.OBT_FUZZ_PROGRESS)
        writeSync(2, `fuzz ${this.target}: ${this.cases} cases\n`); // fd 2 itself: vitest buffers a worker's stderr
    }
    if (performance.now() - t > CASE_MS) throw new Error(`a case took ${(performance.now() - t).toFixed(0)} ms`);
    if (this.peakBytes > MEMORY_BYTES) throw new Error(`memory reached ${(this.peakBytes / 2 ** 20).toFixed(0)} MiB`);
  }

  /** One line: cases, loaded, clear errors, internal errors, hangs, slowest case, peak memory, time. */
  summary(): string {
    const s = ((performance.now() - this.t0) / 1000).toFixed(1);
    return (
      `fuzz ${this.target}: ${this.cases} cases${capNote(this.target, this.cases, this.planned)}, ${this.ok} accepted, ${this.clear} clear errors, ` +
      `${this.internal} internal errors, ${this.hangs} hangs, slowest ${this.slowestMs.toFixed(0)} ms, ` +
      `peak heap+buffers ${(this.peakBytes / 2 ** 20).toFixed(0)} MiB, ${s} s`
    );
  }
}

/** Values a buggy or hostile writer puts in a JSON field. */
export const HOSTILE_JSON: unknown[] = [
  null,
  -1,
  -(2 ** 31),
  2 ** 31,
  2 ** 32 + 1,
  2 ** 53 + 2,
  1e308,
  0,
  0.5,
  '',
  'x',
  '-1',
  true,
  [],
  {},
  [-1],
  [2 ** 31, 2 ** 31],
  { $t: 0 },
  { $t: 1e9 },
  'F64',
  'sign',
  Array.from({ length: 40 }, () => 1),
];

/** Integers a hostile binary header holds (as u32 / u64 little-endian). */
export const HOSTILE_INTS: bigint[] = [
  0n,
  1n,
  2n,
  3n,
  7n,
  8n,
  31n,
  255n,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  2n ** 53n,
  2n ** 63n,
  2n ** 64n - 1n,
];

/** Mutations any file gets: truncation, a run of random bytes, a hostile integer at an offset. */
export type ByteMutation =
  | { k: 'truncate'; at: number }
  | { k: 'flip'; at: number; bytes: number[] }
  | { k: 'int'; at: number; value: bigint; width: 4 | 8 };

export function byteMutation(headerBytes: number): fc.Arbitrary<ByteMutation> {
  return fc.oneof(
    fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }),
    // random bytes anywhere, or (as often) in the header, where they reach more checks
    fc.record({
      k: fc.constant('flip' as const),
      at: fc.oneof(fc.nat(), fc.nat(headerBytes)),
      bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 8 }),
    }),
    // hostile integers land in the header, where counts, lengths, types and offsets live
    fc.record({
      k: fc.constant('int' as const),
      at: fc.nat(headerBytes),
      value: fc.constantFrom(...HOSTILE_INTS),
      width: fc.constantFrom(4 as const, 8 as const),
    }),
  );
}

export function applyBytes(src: Uint8Array, m: ByteMutation): Uint8Array {
  if (m.k === 'truncate') return src.slice(0, m.at % (src.length + 1));
  const out = src.slice();
  const at = m.at % out.length;
  if (m.k === 'flip') m.bytes.forEach((b, i) => at + i < out.length && (out[at + i] = b));
  else {
    const w = new Uint8Array(8);
    new DataView(w.buffer).setBigUint64(0, BigInt.asUintN(64, m.value), true);
    out.set(w.subarray(0, Math.min(m.width, out.length - at)), at);
  }
  return out;
}

/** How a format frames its JSON header: where the length is, its width, padding, trailing CRC. */
export interface Frame {
  /** bytes before the header (magic, version, length) */
  head: number;
  /** offset and width of the header length field */
  lenAt: number;
  lenWidth: 4 | 8;
  /** the data starts at the next multiple of 8 after the header */
  pad8: boolean;
  /** a CRC-32 of everything before it closes the file */
  crc: boolean;
}

export const FRAMES = {
  obtm: { head: 16, lenAt: 12, lenWidth: 4, pad8: true, crc: true },
  obt1: { head: 16, lenAt: 12, lenWidth: 4, pad8: true, crc: true },
  state: { head: 12, lenAt: 8, lenWidth: 4, pad8: false, crc: true },
  safetensors: { head: 8, lenAt: 0, lenWidth: 8, pad8: false, crc: false },
} satisfies Record<string, Frame>;

export function splitFramed(b: Uint8Array, f: Frame): { header: unknown; data: Uint8Array } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hlen = Number(f.lenWidth === 4 ? dv.getUint32(f.lenAt, true) : dv.getBigUint64(f.lenAt, true));
  const header = JSON.parse(new TextDecoder().decode(b.subarray(f.head, f.head + hlen)));
  const start = f.head + hlen + (f.pad8 ? (8 - ((f.head + hlen) % 8)) % 8 : 0);
  return { header, data: b.slice(start, f.crc ? b.length - 4 : b.length) };
}

/** A framed file with a new header text (length, padding and CRC recomputed, so a reader's checks
 *  beyond the CRC are reached). */
export function joinFramed(template: Uint8Array, f: Frame, headerText: string, data: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(headerText);
  const pad = f.pad8 ? (8 - ((f.head + h.length) % 8)) % 8 : 0;
  const out = new Uint8Array(f.head + h.length + pad + data.length + (f.crc ? 4 : 0));
  out.set(template.subarray(0, f.head), 0);
  const dv = new DataView(out.buffer);
  if (f.lenWidth === 4) dv.setUint32(f.lenAt, h.length, true);
  else dv.setBigUint64(f.lenAt, BigInt(h.length), true);
  out.set(h, f.head);
  out.set(data, f.head + h.length + pad);
  if (f.crc) dv.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** Recomputes a framed file's CRC after a byte mutation (so the mutation is not just a bad CRC). */
export function fixCrc(b: Uint8Array): Uint8Array {
  if (b.length < 8) return b;
  const out = b.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** Every path into a JSON value (long arrays by their first two and last index). */
export function jsonPaths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(at);
  if (Array.isArray(v)) {
    const idx = v.length > 4 ? [0, 1, v.length - 1] : v.map((_, i) => i);
    for (const i of idx) jsonPaths(v[i], [...at, i], out);
  } else if (v && typeof v === 'object') for (const [k, e] of Object.entries(v)) jsonPaths(e, [...at, k], out);
  return out;
}

/** A header edit: replace the value at a path, delete it, or duplicate an array's element. */
export type JsonEdit = { path: number; op: 'set'; value: unknown } | { path: number; op: 'delete' | 'dup' };

export function jsonEdit(): fc.Arbitrary<JsonEdit> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        path: fc.nat(),
        op: fc.constant('set' as const),
        value: fc.constantFrom(...HOSTILE_JSON),
      }),
    },
    fc.record({ path: fc.nat(), op: fc.constantFrom('delete' as const, 'dup' as const) }),
  );
}

/** Applies an edit to a deep copy of a header; returns the new header's text. */
export function applyJson(header: unknown, paths: (string | number)[][], e: JsonEdit): string {
  const h = structuredClone(header);
  const path = paths[e.path % paths.length]!;
  if (path.length === 0)
    return e.op === 'set' ? JSON.stringify(e.value) : e.op === 'delete' ? '' : JSON.stringify([h, h]);
  let parent = h as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const key = path[path.length - 1]!;
  if (e.op === 'set') parent[key] = structuredClone(e.value);
  else if (e.op === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
  } else if (Array.isArray(parent)) parent.splice(Number(key), 0, structuredClone(parent[key as number]));
  else parent[`${key}_copy`] = structuredClone(parent[key]);
  return JSON.stringify(h);
}
