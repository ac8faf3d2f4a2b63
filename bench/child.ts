// What bench rows share when they measure: how obt runs in a fresh process (its own memory figures,
// a cold start) — Node with the flags bench/run.js sets (the optimising Wasm tier only, relaxed
// SIMD) and tsx, on a bench file —, that process's memory as Linux reports it, and the median of
// repeated figures.
import { readFileSync } from 'node:fs';

export const childArgs = (file: string, ...args: string[]): string[] => [
  '--no-liftoff',
  '--no-wasm-dynamic-tiering',
  '--experimental-wasm-relaxed-simd',
  '--import',
  'tsx',
  file,
  ...args,
];

/** A field of /proc/self/status in KB (VmRSS: resident now; VmHWM: the peak since the last reset). */
export function procStatusKB(field: string): number {
  const m = new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/self/status (the memory rows need Linux)`);
  return Number(m[1]);
}

/** The median of repeated figures (the upper one of an even count). */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
