// The browser page's app (bundled by `obtc serve`): what obt is for, side by side — the fp teacher
// and a quantised student (any method: the page runs whatever decode artifact the model compiled
// to) generating from the same prompt with the same sampling settings and seed, each with its
// backend, tokens/s and size in memory. Each model is a compiled decoder (the WebGPU artifact, or
// the Wasm one when WebGPU is missing — the page says why — or ?backend=wasm), its weights and its
// tokenizer. Controls: prompt, temperature, top-p, length, seed (a new one per run unless fixed);
// URL parameters preset them (?prompt=&temperature=&topp=&steps=&seed=). The GPU object is
// injected here (navigator.gpu): the runtime never reads globals. window.obt reports the run.
import { GpuDevice } from '../../runtime/webgpu/device.ts';
import { GpuProgram, type PlanWgsl } from '../../runtime/webgpu/program.ts';
import { WasmProgram } from '../../runtime/wasm/program.ts';
import { WebThreadPool } from '../../runtime/env/web_threads.ts';
import { decodePlan } from '../../runtime/plan/json.ts';
import { alloc, numel, type Tensor } from '../../runtime/core/tensor.ts';
import { NamedEntry, donatedInputs, parseContract, treeFromPaths, type Contract } from '../../runtime/core/contract.ts';
import { Tokenizer } from '../../llm/io/tokenizer.ts';
import { Sampler } from '../../llm/sampler.ts';

interface Leaf {
  /** the leaf's path in the decode entry's parameter p */
  path: string;
  dtype: 'f32' | 'i32' | 'u32' | 'sign';
  shape: number[];
  offset: number;
  length: number;
}

interface ModelInfo {
  name: string;
  /** the layer type (Dense, or the method's inference form) and the method */
  layer: string;
  method?: string;
  bitsLinear?: number;
  maxSeq: number;
  vocab: number;
  bos: number;
  eos: number;
  eps: number;
  /** the decode entry's `rope` argument (stdlib/nn.obt's Rope) */
  rope: Record<string, number>;
  pieces: string[];
  scores: number[];
  /** a Hugging Face tokenizer's tokenizer.json and tokenizer_config.json */
  hf?: { json: string; config?: string };
  leaves: Leaf[];
  weightBytes: number;
  fileBytes: number;
}

interface Runner {
  backend: string;
  run(inputs: Tensor[]): Promise<Tensor[]>;
}

interface RunReport {
  name: string;
  layer: string;
  backend: string;
  ids: number[];
  text: string;
  tokensPerSecond: number;
}

declare global {
  interface Window {
    obt: { done: boolean; seed?: number; runs: RunReport[]; webgpu?: string; error?: string };
  }
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
window.obt = { done: false, runs: [] };

async function fetchOk(url: string): Promise<Response> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
}
const json = async <T>(url: string) => (await (await fetchOk(url)).json()) as T;
const text = async (url: string) => (await fetchOk(url)).text();

/** The WebGPU device, or why there is none. */
async function gpuDevice(): Promise<{ dev?: GpuDevice; why?: string }> {
  if (params.get('backend') === 'wasm') return { why: 'Wasm requested (?backend=wasm)' };
  if (!('gpu' in navigator)) return { why: 'this browser does not expose WebGPU (navigator.gpu is missing)' };
  try {
    return { dev: await GpuDevice.open(navigator.gpu) };
  } catch (e) {
    return { why: `no WebGPU adapter or device: ${(e as Error).message}` };
  }
}

async function webgpuRunner(dir: string, contract: Contract, dev: GpuDevice): Promise<Runner> {
  const man = await json<{ kernels: { file: string; groups: number }[]; updates: { step: number; file: string }[] }>(
    `${dir}/webgpu/manifest.json`,
  );
  const plan = decodePlan(await text(`${dir}/webgpu/plan.json`));
  const wgsl: PlanWgsl = {
    kernels: await Promise.all(man.kernels.map((k) => text(`${dir}/webgpu/${k.file}`))),
    groups: man.kernels.map((k) => k.groups),
    updates: Object.fromEntries(
      await Promise.all(man.updates.map(async (u) => [u.step, await text(`${dir}/webgpu/${u.file}`)] as const)),
    ),
  };
  const donate = donatedInputs(contract);
  const prog = await GpuProgram.create(plan, dev, wgsl, { donate });
  return { backend: `WebGPU (${dev.adapterName || 'adapter'})`, run: (x) => prog.run(x) };
}

let pool: WebThreadPool | undefined;
async function wasmRunner(dir: string, contract: Contract): Promise<Runner> {
  const man = await json<{ kernels: { file: string; shared: string }[] }>(`${dir}/wasm/manifest.json`);
  const plan = decodePlan(await text(`${dir}/wasm/plan.json`));
  // threads over a shared memory when the page is cross-origin isolated (obtc serve sends COOP/COEP)
  const threads = crossOriginIsolated
    ? Math.max(1, Math.min(4, Number(params.get('threads') ?? navigator.hardwareConcurrency ?? 1)))
    : 1;
  if (threads > 1) pool ??= await WebThreadPool.create(threads, new URL('worker.js', location.href));
  const modules = await Promise.all(
    man.kernels.map(async (k) =>
      WebAssembly.compile(await (await fetchOk(`${dir}/wasm/${pool ? k.shared : k.file}`)).arrayBuffer()),
    ),
  );
  const donate = donatedInputs(contract);
  const prog = new WasmProgram(plan, modules, { donate, pool });
  return { backend: `Wasm-SIMD (${threads} thread${threads > 1 ? 's' : ''})`, run: async (x) => prog.run(x) };
}

/** What the decode entry returns (models/llama.obt's Decoded). */
interface Decoded {
  logits: Tensor;
  cache: unknown;
}

/** One model of the page: its decoder (the decode entry, called by name), tokenizer and column. */
class Column {
  private constructor(
    readonly info: ModelInfo,
    readonly backend: string,
    readonly decode: NamedEntry<Decoded>,
    /** a zeroed KV cache, as decode's parameter `cache` takes it */
    readonly emptyCache: () => unknown,
    readonly tokenizer: Tokenizer,
    readonly el: HTMLElement,
  ) {}

  static async load(dir: string, dev: GpuDevice | undefined, parent: HTMLElement): Promise<Column> {
    const info = await json<ModelInfo>(`${dir}/model.json`);
    const blob = await (await fetchOk(`${dir}/weights.bin`)).arrayBuffer();
    const weights: Tensor[] = info.leaves.map((l) => ({
      dtype: l.dtype,
      shape: l.shape,
      data:
        l.dtype === 'f32'
          ? new Float32Array(blob, l.offset, l.length)
          : l.dtype === 'i32'
            ? new Int32Array(blob, l.offset, l.length)
            : new Uint32Array(blob, l.offset, l.length),
    }));
    const contractFile = `${dir}/contract.json`;
    const contract = parseContract(await text(contractFile), contractFile);
    const runner = dev ? await webgpuRunner(dir, contract, dev) : await wasmRunner(dir, contract);
    const cacheLeaves = contract.params.find((p) => p.name === 'cache')?.leaves ?? [];
    const emptyCache = () => treeFromPaths(cacheLeaves.map((l) => ({ path: l.path, value: alloc(l.dtype, l.shape) })));
    const decode = NamedEntry.fromArgs<Decoded>(
      contract,
      {
        p: treeFromPaths(info.leaves.map((l, i) => ({ path: l.path, value: weights[i] }))),
        token: 0,
        pos: 0,
        cache: emptyCache(),
        eps: info.eps,
        rope: info.rope,
      },
      (x) => runner.run(x),
    );
    const tokenizer = new Tokenizer({
      source: dir,
      pieces: info.pieces,
      scores: info.scores,
      bos: info.bos,
      eos: info.eos,
      ...(info.hf ? { hf: info.hf } : {}),
    });
    const el = document.createElement('section');
    el.className = 'model';
    const cacheBytes = cacheLeaves.reduce((n, l) => n + 4 * numel(l.shape), 0);
    const kind = info.method ? `${info.method} (${info.layer})` : `fp (${info.layer})`;
    const bits = info.bitsLinear ? `, ${info.bitsLinear.toFixed(2)} bits per linear weight` : '';
    el.innerHTML = `<h2></h2><dl><dt>layers</dt><dd class="kind"></dd><dt>backend</dt><dd class="backend"></dd>
      <dt>in memory</dt><dd class="size"></dd><dt>speed</dt><dd class="speed">…</dd></dl><div class="story"></div>`;
    el.querySelector('h2')!.textContent = info.name;
    el.querySelector('.kind')!.textContent = `${kind}${bits}; ${info.fileBytes.toLocaleString()} bytes on disk`;
    el.querySelector('.backend')!.textContent = runner.backend;
    el.querySelector('.size')!.textContent =
      `${((info.weightBytes + cacheBytes) / 1024).toFixed(0)} KiB (weights ${(info.weightBytes / 1024).toFixed(0)} KiB + KV cache ${(cacheBytes / 1024).toFixed(0)} KiB)`;
    parent.appendChild(el);
    return new Column(info, runner.backend, decode, emptyCache, tokenizer, el);
  }

  /** Feeds the prompt, then samples up to `steps` tokens; updates the column as it goes. */
  async generate(prompt: string, steps: number, temperature: number, topp: number, seed: number): Promise<RunReport> {
    const info = this.info;
    const story = this.el.querySelector('.story')!;
    const speed = this.el.querySelector('.speed')!;
    const sampler = new Sampler(temperature, topp, seed);
    let cache = this.emptyCache();
    const promptIds = this.tokenizer.encode(prompt, { bos: true });
    const ids: number[] = [];
    let text = prompt;
    story.textContent = text;
    let tok = promptIds[0]!;
    let t0 = 0;
    let made = 0;
    const last = Math.min(info.maxSeq, promptIds.length - 1 + steps);
    for (let pos = 0; pos < last; pos++) {
      if (pos === promptIds.length) t0 = performance.now();
      const out = await this.decode.run({ token: tok, pos, cache });
      cache = out.cache;
      if (pos + 1 < promptIds.length) {
        tok = promptIds[pos + 1]!;
        continue;
      }
      const next = sampler.sample(out.logits.data as Float32Array, info.vocab);
      if (next === info.bos || next === info.eos) break;
      text += new TextDecoder().decode(this.tokenizer.pieceAfter(tok, next));
      story.textContent = text;
      ids.push(next);
      tok = next;
      if (++made > 1) speed.textContent = `${((made - 1) / ((performance.now() - t0) / 1000)).toFixed(1)} tokens/s`;
      await new Promise((r) => setTimeout(r, 0)); // let the page paint
    }
    const tps = made > 1 ? (made - 1) / ((performance.now() - t0) / 1000) : 0;
    return { name: info.name, layer: info.layer, backend: this.backend, ids, text, tokensPerSecond: tps };
  }
}

async function main(): Promise<void> {
  const site = await json<{ models: string[] }>('site.json');
  const { dev, why } = await gpuDevice();
  $('webgpu').textContent = dev ? 'WebGPU' : `Wasm-SIMD — ${why}`;
  window.obt.webgpu = why;
  const cols: Column[] = [];
  for (const m of site.models) cols.push(await Column.load(`model/${m}`, dev, $('models')));
  // controls, preset from the URL
  const prompt = $<HTMLTextAreaElement>('prompt');
  const temp = $<HTMLInputElement>('temperature');
  const topp = $<HTMLInputElement>('topp');
  const steps = $<HTMLInputElement>('steps');
  const seedBox = $<HTMLInputElement>('seed');
  prompt.value = params.get('prompt') ?? 'Once upon a time';
  temp.value = params.get('temperature') ?? '0.8';
  topp.value = params.get('topp') ?? '0.9';
  steps.value = params.get('steps') ?? '96';
  seedBox.value = params.get('seed') ?? '';
  const go = async () => {
    $<HTMLButtonElement>('go').disabled = true;
    try {
      // a new seed per run unless one is given
      const seed = seedBox.value.trim() ? Number(seedBox.value) : Math.floor(Math.random() * 2 ** 31);
      $('used-seed').textContent = String(seed);
      const runs = await Promise.all(
        cols.map((c) => c.generate(prompt.value, Number(steps.value), Number(temp.value), Number(topp.value), seed)),
      );
      window.obt = { done: true, seed, runs, webgpu: why };
    } finally {
      $<HTMLButtonElement>('go').disabled = false;
    }
  };
  $('go').addEventListener('click', () => void go().catch(fail));
  await go();
}

function fail(e: Error): void {
  $('error').textContent = String(e.stack ?? e);
  window.obt = { ...window.obt, done: true, error: String(e) };
}

main().catch(fail);
