// How a bench row runs obt in a fresh process (its own memory figures, a cold start): Node with the
// flags bench/run.js sets (the optimising Wasm tier only, relaxed SIMD) and tsx, on a bench file.
export const childArgs = (file: string, ...args: string[]): string[] => [
  '--no-liftoff',
  '--no-wasm-dynamic-tiering',
  '--experimental-wasm-relaxed-simd',
  '--import',
  'tsx',
  file,
  ...args,
];
