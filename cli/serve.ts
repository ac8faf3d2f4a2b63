// obtc serve: the browser page (examples/browser/) on 127.0.0.1. It compiles the decode entry of a
// model (default: the shipped stories260K) into a WebGPU and a Wasm artifact, writes the weights
// (one binary, leaves in the artifact's input order) and the tokenizer's pieces, bundles the page's
// app with esbuild, and serves all of it with COOP/COEP headers (cross-origin isolation: shared
// memory and Wasm threads are available to the page).
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { loadModel } from '../llm/load.ts';
import { LlamaRunner, DEFAULT_MODEL } from '../llm/runner.ts';
import { headDim } from '../llm/io/model.ts';
import { wasmArtifact, webgpuArtifact } from '../compiler/pipeline.ts';
import { UserError } from '../compiler/syntax/diag.ts';
import { DEFAULT_WEIGHTS } from '../llm/defaults.ts';
import type { Command } from './args.ts';

const PAGE = join(PROJECT_ROOT, 'examples/browser');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.wgsl': 'text/plain',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
};

/** Builds the page's files for a model into a fresh directory; returns it. */
export async function buildSite(weightsFile: string, maxSeq = 256): Promise<string> {
  const m = await loadModel(weightsFile);
  const S = Math.min(maxSeq, m.config.seqLen);
  const runner = LlamaRunner.fromFile(m, DEFAULT_MODEL, 'wasm');
  const e = runner.decodeEntry(S);
  const dir = mkdtempSync(join(tmpdir(), 'obt-site-'));
  const donate = Array.from({ length: e.cache }, (_, i) => e.weights + 2 + i);
  const entry = 'decode';
  webgpuArtifact(join(dir, 'model/webgpu'), e.low, { source: DEFAULT_MODEL, entry, donate });
  wasmArtifact(join(dir, 'model/wasm'), e.low, { source: DEFAULT_MODEL, entry, donate });
  // the weight leaves, 4-byte aligned, in input order
  const leaves: { dtype: string; shape: number[]; offset: number; length: number }[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of e.inputs.slice(0, e.weights)) {
    const data =
      t.dtype === 'f32'
        ? Float32Array.from(t.data as ArrayLike<number>)
        : t.dtype === 'i32'
          ? Int32Array.from(t.data as ArrayLike<number>)
          : Uint32Array.from(t.data as ArrayLike<number>);
    leaves.push({ dtype: t.dtype === 'f16' ? 'f32' : t.dtype, shape: t.shape, offset, length: data.length });
    chunks.push(new Uint8Array(data.buffer));
    offset += data.byteLength;
  }
  const blob = new Uint8Array(offset);
  let o = 0;
  for (const c of chunks) {
    blob.set(c, o);
    o += c.byteLength;
  }
  writeFileSync(join(dir, 'model/weights.bin'), blob);
  const tk = m.tokenizer;
  const info = {
    name: weightsFile.replace(/^.*[\\/]/, ''),
    layer: m.layer,
    maxSeq: S,
    vocab: m.config.vocab,
    bos: tk.data.bos,
    eos: tk.data.eos,
    eps: m.config.eps,
    theta: m.config.ropeTheta,
    pieces: tk.data.pieces.map((_, i) => Buffer.from(tk.pieceAfter(-1, i)).toString('base64')),
    leaves,
    cacheShape: [S, m.config.kvHeads, headDim(m.config)],
    cacheCount: e.cache,
    weightBytes: offset,
    fileBytes: m.bytes,
  };
  writeFileSync(join(dir, 'model/model.json'), JSON.stringify(info));
  const esbuild = await import('esbuild');
  const bundle = (entry: string, out: string) =>
    esbuild.build({
      entryPoints: [entry],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      outfile: join(dir, out),
      logLevel: 'silent',
    });
  await bundle(join(PAGE, 'main.ts'), 'app.js');
  await bundle(join(PROJECT_ROOT, 'runtime/env/web_kernel_worker.ts'), 'worker.js');
  return dir;
}

/** Serves the page and a built site on 127.0.0.1 (port 0: any free port). */
export async function startServer(site: string, port: number): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const rel = normalize(path === '/' ? '/index.html' : path).replace(/^[/\\]+/, '');
    const roots = rel === 'index.html' ? [PAGE] : [site];
    const file = roots
      .map((r) => resolve(r, rel))
      .find((f) => roots.some((r) => f.startsWith(resolve(r) + sep)) && existsSync(f));
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    };
    if (!file) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e) => fail(new UserError(`cannot listen on 127.0.0.1:${port}: ${(e as Error).message}`)));
    server.listen(port, '127.0.0.1', () => ok());
  });
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : port}/`, server };
}

/** obtc serve [--weights FILE] [--port 8080] */
export const serveCmd: Command = async (_pos, flags, io) => {
  const weights = flags.get('weights');
  const port = flags.get('port');
  const site = await buildSite(typeof weights === 'string' ? weights : DEFAULT_WEIGHTS);
  const { url } = await startServer(site, typeof port === 'string' ? Number(port) : 8080);
  io.out(
    `obt page for ${typeof weights === 'string' ? weights : 'the shipped stories260K'}: ${url}  (WebGPU, or ?backend=wasm; Ctrl-C stops)\n`,
  );
  return 0;
};
