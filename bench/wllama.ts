// @wllama/wllama (llama.cpp compiled to Wasm) as a decode-speed peer on Node 20. Its default build
// needs JSPI and memory64, which Node 20 lacks, so it runs the compat build (@wllama/wllama-compat,
// Asyncify). wllama is a browser library: it runs llama.cpp in a Web Worker created from a Blob
// URL, so this file gives it a Web Worker shim on worker_threads (self/postMessage/onmessage, a
// navigator, and fetch of local files), and passes the model as a File. Bench-only code: the obt
// runtime itself never reads or writes these globals.
import { readFileSync } from 'node:fs';
import { resolveObjectURL } from 'node:buffer';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker as NodeWorker } from 'node:worker_threads';

/** What the worker sees before wllama's code: the Web Worker globals it uses. */
const PRELUDE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { fileURLToPath } = require('node:url');
globalThis.self = globalThis;
globalThis.location = { href: 'file:///' };
Object.defineProperty(globalThis, 'navigator', { value: { hardwareConcurrency: 1, userAgent: 'Node.js', language: 'en' }, configurable: true });
globalThis.postMessage = (m, t) => parentPort.postMessage(m, t);
parentPort.on('message', (m) => globalThis.onmessage && globalThis.onmessage({ data: m }));
const netFetch = globalThis.fetch;
globalThis.fetch = async (u, o) => {
  const s = String(u);
  if (!s.startsWith('file:')) return netFetch(u, o);
  return new Response(fs.readFileSync(fileURLToPath(s)), { headers: { 'content-type': s.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' } });
};
`;

interface WllamaLike {
  setCompat(c: object): void;
  loadModel(files: Blob[], params: object): Promise<void>;
  createCompletion(params: object): Promise<unknown>;
  exit(): Promise<void>;
}

const shims: WebWorkerShim[] = [];

class WebWorkerShim {
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  private readonly worker: Promise<NodeWorker>;

  constructor(url: string | URL) {
    shims.push(this);
    const blob = resolveObjectURL(String(url));
    if (!blob) throw new Error(`worker shim: ${String(url)} is not a Blob URL`);
    this.worker = blob.text().then((code) => {
      const w = new NodeWorker(PRELUDE + code, { eval: true });
      w.on('message', (data) => this.onmessage?.({ data }));
      w.on('error', (e) => this.onerror?.(e));
      return w;
    });
  }

  postMessage(m: unknown, transfer?: readonly Transferable[]): void {
    void this.worker.then((w) => w.postMessage(m, transfer as never));
  }

  terminate(): void {
    void this.worker.then((w) => w.terminate());
  }
}

/**
 * Median milliseconds per generated token of greedy decoding with wllama (compat build, one
 * thread) on a GGUF file: llama.cpp's own timing of the generation phase (predicted_ms / n).
 */
export async function wllamaDecode(gguf: string, tokens: number): Promise<number> {
  const g = globalThis as Record<string, unknown>;
  g.self ??= globalThis;
  g.location ??= { href: pathToFileURL(process.cwd() + '/').href };
  if (!('navigator' in globalThis))
    Object.defineProperty(globalThis, 'navigator', {
      value: { hardwareConcurrency: 1, userAgent: 'Node.js', language: 'en' },
      configurable: true,
    });
  g.Worker = WebWorkerShim;
  const req = createRequire(import.meta.url);
  const compatDir = join(dirname(req.resolve('@wllama/wllama-compat/package.json')), 'wasm');
  // (its .d.ts files use extensionless imports that NodeNext cannot follow: typed here by hand)
  const { Wllama } = (await import('@wllama/wllama/esm/index.js' as string)) as {
    Wllama: new (paths: object, config: object) => WllamaLike;
  };
  const quiet = { debug() {}, log() {}, info() {}, warn() {}, error: console.error };
  const wllama = new Wllama(
    { default: pathToFileURL(join(compatDir, 'wllama.wasm')).href },
    { logger: quiet, cacheManager: {}, modelManager: {} },
  ); // no download cache: the model comes as a File
  wllama.setCompat({
    worker: { code: readFileSync(join(compatDir, 'wllama.js'), 'utf8') },
    wasm: pathToFileURL(join(compatDir, 'wllama.wasm')).href,
  });
  await wllama.loadModel([new File([readFileSync(gguf)], 'model.gguf')], { n_threads: 1, n_ctx: 512, n_gpu_layers: 0 });
  const perToken: number[] = [];
  for (let r = 0; r < 3; r++) {
    const res = (await wllama.createCompletion({ prompt: 'Once upon a time', max_tokens: tokens, temperature: 0 })) as {
      timings?: { predicted_ms: number; predicted_n: number };
    };
    if (!res.timings) throw new Error('wllama returned no timings');
    perToken.push(res.timings.predicted_ms / res.timings.predicted_n);
  }
  await wllama.exit();
  for (const w of shims.splice(0)) w.terminate();
  return perToken.sort((a, b) => a - b)[1]!;
}
