// obtc serve: the browser page (examples/browser/) on 127.0.0.1: the fp teacher (default: the
// shipped stories260K) and a quantised student of any method (--weights; default: the shipped best
// 1-bit student, data/stories260K-1bit-best.obtm) side by side. Each model's decode entry is compiled
// into a WebGPU and a Wasm artifact with its weights (one binary, leaves in the artifact's input
// order) and tokenizer; the page's app is bundled with esbuild; all of it is served with COOP/COEP
// headers (cross-origin isolation: shared memory and Wasm threads are available to the page) by
// cli/serve_http.ts, which serves nothing outside the page and the site.
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { removeStale } from '../llm/io/stale.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer as startHttp } from './serve_http.ts';
import { PROJECT_ROOT } from '../compiler/resolve/modules.ts';
import { loadModel } from '../llm/load.ts';
import { ModelRunner } from '../llm/runner.ts';
import { ropeArg } from '../llm/io/model.ts';
import { widen } from '../runtime/core/stored.ts';
import { archFile } from '../llm/io/arch.ts';
import { donatedInputs } from '../runtime/core/contract.ts';
import { wasmArtifact, webgpuArtifact } from '../compiler/pipeline.ts';
import { UserError } from '../compiler/syntax/diag.ts';
import { DEFAULT_STUDENT, DEFAULT_WEIGHTS } from '../llm/defaults.ts';
import { num, str, type Command, type Flags } from './args.ts';

const PAGE = join(PROJECT_ROOT, 'examples/browser');

/** Compiles one model's decode entry into dir (WebGPU and Wasm artifacts, weights, model.json). */
async function buildModel(dir: string, weightsFile: string, maxSeq: number): Promise<void> {
  const m = await loadModel(weightsFile);
  const S = Math.min(maxSeq, m.config.seqLen);
  const source = archFile(m.arch);
  const runner = ModelRunner.fromFile(m, { kind: 'wasm' }, source);
  const e = runner.decodeEntry(S);
  // the artifacts take the page's inputs in the contract's order; the page calls decode by name
  const donate = donatedInputs(e.contract);
  webgpuArtifact(join(dir, 'webgpu'), e.low, { source, entry: 'decode', donate });
  wasmArtifact(join(dir, 'wasm'), e.low, { source, entry: 'decode', donate });
  writeFileSync(join(dir, 'contract.json'), JSON.stringify(e.contract));
  // the weights (decode's parameter p), 4-byte aligned, each leaf at its path
  const leaves: { path: string; dtype: string; shape: number[]; offset: number; length: number }[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const { leaf, tensor } of e.leaves('p')) {
    const t = widen(tensor); // the page's weights are f32 (a stored-precision teacher's values)
    const data =
      t.dtype === 'f32' || t.dtype === 'f16'
        ? Float32Array.from(t.data as ArrayLike<number>)
        : t.dtype === 'i32'
          ? Int32Array.from(t.data as ArrayLike<number>)
          : Uint32Array.from(t.data as ArrayLike<number>);
    leaves.push({
      path: leaf.path,
      dtype: t.dtype === 'f16' ? 'f32' : t.dtype,
      shape: t.shape,
      offset,
      length: data.length,
    });
    chunks.push(new Uint8Array(data.buffer));
    offset += data.byteLength;
  }
  const blob = new Uint8Array(offset);
  let o = 0;
  for (const c of chunks) {
    blob.set(c, o);
    o += c.byteLength;
  }
  writeFileSync(join(dir, 'weights.bin'), blob);
  const tk = m.tokenizer.data;
  const info = {
    name: weightsFile.replace(/^.*[\\/]/, ''),
    layer: m.layer.replace(/^method\./, ''),
    method: m.method?.name,
    bitsLinear: m.bits?.linear,
    maxSeq: S,
    vocab: m.config.vocab,
    bos: tk.bos,
    eos: tk.eos,
    eps: m.config.eps,
    rope: ropeArg(m.config),
    pieces: tk.pieces,
    scores: tk.scores,
    ...(tk.hf ? { hf: tk.hf } : {}),
    leaves,
    weightBytes: offset,
    fileBytes: m.bytes,
  };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(info));
}

/** The page's two scripts (app.js, worker.js) into dir: bundled from the TypeScript sources with
 *  esbuild in a checkout; copied from dist/page/ (bundled by `npm run build`) in the installed
 *  package, which ships neither the sources nor esbuild. */
export async function pageBundles(dir: string): Promise<void> {
  const sources = {
    'app.js': join(PAGE, 'main.ts'),
    'worker.js': join(PROJECT_ROOT, 'runtime/env/web_kernel_worker.ts'),
  };
  if (!existsSync(sources['app.js'])) {
    for (const out of Object.keys(sources)) copyFileSync(join(PROJECT_ROOT, 'dist/page', out), join(dir, out));
    return;
  }
  const esbuild = await import('esbuild');
  for (const [out, entry] of Object.entries(sources))
    await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      outfile: join(dir, out),
      logLevel: 'silent',
    });
}

/** Builds the page's files for one or more models (side by side, in this order) into a fresh
 *  directory; returns it. */
export async function buildSite(weightsFiles: string | string[], maxSeq = 256): Promise<string> {
  const files = typeof weightsFiles === 'string' ? [weightsFiles] : weightsFiles;
  // named by this process (obt-site-PID-…): a killed serve's folder is removed by the next one
  removeStale(tmpdir(), 'obt-site-');
  const dir = mkdtempSync(join(tmpdir(), `obt-site-${process.pid}-`));
  const models = files.map((_, i) => `m${i}`);
  for (const [i, f] of files.entries()) await buildModel(join(dir, 'model', models[i]!), f, maxSeq);
  writeFileSync(join(dir, 'site.json'), JSON.stringify({ models }));
  await pageBundles(dir);
  return dir;
}

/** Serves the page and a built site on 127.0.0.1 (port 0: any free port; cli/serve_http.ts). */
export const startServer = (site: string, port: number) => startHttp(PAGE, site, port);

/** The models serve's flags name, teacher first: the shipped teacher and best student by default. */
export function pageModels(flags: Flags): { files: string[]; student: string | undefined } {
  const student = str(flags, 'weights') ?? (existsSync(DEFAULT_STUDENT) ? DEFAULT_STUDENT : undefined);
  const teacher = flags.has('no-teacher') ? undefined : (str(flags, 'teacher') ?? DEFAULT_WEIGHTS);
  const files = [teacher, student].filter((f): f is string => f !== undefined);
  if (!files.length) throw new UserError('nothing to serve: --no-teacher needs --weights FILE');
  return { files, student };
}

/** Removes a folder when the process exits, on Ctrl-C and on SIGTERM/SIGHUP too (then exits with
 *  the shell's status for the signal). */
function removeOnExit(dir: string): void {
  const rm = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', rm);
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)
    process.once(sig, () => {
      rm();
      process.exit(code);
    });
}

/** obtc serve [--weights STUDENT] [--teacher FILE | --no-teacher] [--port 8080] */
export const serveCmd: Command = async (_pos, flags, io) => {
  const { files, student } = pageModels(flags);
  const port = num(flags, 'port', 8080, (x) => Number.isInteger(x) && x >= 0 && x < 65536, 'a port number');
  const site = await buildSite(files);
  removeOnExit(site);
  const { url } = await startServer(site, port);
  if (!student) io.err(`no student given and no ${DEFAULT_STUDENT}: showing the teacher alone\n`);
  io.out(`obt page for ${files.join(' and ')}: ${url}  (WebGPU, or ?backend=wasm; Ctrl-C stops)\n`);
  return 0;
};
