// The browser page's app (bundled by `obtc serve`): loads a compiled stories260K decoder (the
// WebGPU artifact, or the Wasm one when WebGPU is missing or ?backend=wasm), its weights and
// tokenizer pieces, and generates greedily from BOS token by token into the page, showing the
// backend, tokens/s and the model's size in memory. The GPU object is injected here
// (navigator.gpu): the runtime never reads globals. window.obt reports the run (for tests).
import { GpuDevice } from '../../runtime/webgpu/device.ts';
import { GpuProgram, type PlanWgsl } from '../../runtime/webgpu/program.ts';
import { WasmProgram } from '../../runtime/wasm/program.ts';
import { WebThreadPool } from '../../runtime/env/web_threads.ts';
import { decodePlan } from '../../runtime/plan/json.ts';
import type { Tensor } from '../../runtime/core/tensor.ts';

interface Leaf {
  dtype: 'f32' | 'i32' | 'u32' | 'sign';
  shape: number[];
  offset: number;
  length: number;
}

interface ModelInfo {
  name: string;
  layer: string;
  maxSeq: number;
  vocab: number;
  bos: number;
  eos: number;
  eps: number;
  theta: number;
  /** base64 of each token's bytes */
  pieces: string[];
  leaves: Leaf[];
  cacheShape: number[];
  cacheCount: number;
  weightBytes: number;
  fileBytes: number;
}

interface Runner {
  backend: string;
  run(inputs: Tensor[]): Promise<Tensor[]>;
}

declare global {
  interface Window {
    obt: { done: boolean; backend?: string; ids: number[]; text: string; tokensPerSecond?: number; error?: string };
  }
}

const $ = (id: string) => document.getElementById(id)!;
const params = new URLSearchParams(location.search);
const steps = Number(params.get('steps') ?? 64);
window.obt = { done: false, ids: [], text: '' };

async function json<T>(url: string): Promise<T> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return (await r.json()) as T;
}

async function text(url: string): Promise<string> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.text();
}

async function webgpuRunner(): Promise<Runner | undefined> {
  if (params.get('backend') === 'wasm' || !('gpu' in navigator)) return undefined;
  let dev: GpuDevice;
  try {
    dev = await GpuDevice.open(navigator.gpu);
  } catch {
    return undefined;
  }
  const man = await json<{
    kernels: { file: string; groups: number }[];
    updates: { step: number; file: string }[];
    inputs: unknown[];
  }>('model/webgpu/manifest.json');
  const plan = decodePlan(await text('model/webgpu/plan.json'));
  const wgsl: PlanWgsl = {
    kernels: await Promise.all(man.kernels.map((k) => text(`model/webgpu/${k.file}`))),
    groups: man.kernels.map((k) => k.groups),
    updates: Object.fromEntries(
      await Promise.all(man.updates.map(async (u) => [u.step, await text(`model/webgpu/${u.file}`)] as const)),
    ),
  };
  const info = await json<ModelInfo>('model/model.json');
  const donate = Array.from({ length: info.cacheCount }, (_, i) => info.leaves.length + 2 + i);
  const prog = await GpuProgram.create(plan, dev, wgsl, { donate });
  return { backend: `WebGPU (${dev.adapterName || 'adapter'})`, run: (x) => prog.run(x) };
}

async function wasmRunner(info: ModelInfo): Promise<Runner> {
  const man = await json<{ kernels: { file: string; shared: string }[] }>('model/wasm/manifest.json');
  const plan = decodePlan(await text('model/wasm/plan.json'));
  // threads over a shared memory when the page is cross-origin isolated (obtc serve sends COOP/COEP)
  const threads = crossOriginIsolated
    ? Math.max(1, Math.min(4, Number(params.get('threads') ?? navigator.hardwareConcurrency ?? 1)))
    : 1;
  const pool = threads > 1 ? await WebThreadPool.create(threads, new URL('worker.js', location.href)) : undefined;
  const modules = await Promise.all(
    man.kernels.map(async (k) =>
      WebAssembly.compile(await (await fetch(`model/wasm/${pool ? k.shared : k.file}`)).arrayBuffer()),
    ),
  );
  const donate = Array.from({ length: info.cacheCount }, (_, i) => info.leaves.length + 2 + i);
  const prog = new WasmProgram(plan, modules, { donate, pool });
  return { backend: `Wasm-SIMD (${threads} thread${threads > 1 ? 's' : ''})`, run: async (x) => prog.run(x) };
}

function scalar(v: number, dtype: 'i32' | 'f32'): Tensor {
  return { dtype, shape: [], data: dtype === 'i32' ? Int32Array.of(v) : Float32Array.of(v) };
}

async function main(): Promise<void> {
  const info = await json<ModelInfo>('model/model.json');
  const blob = await (await fetch('model/weights.bin')).arrayBuffer();
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
  const runner = (await webgpuRunner()) ?? (await wasmRunner(info));
  const cacheBytes = info.cacheCount * info.cacheShape.reduce((a, b) => a * b, 4);
  $('backend').textContent = runner.backend;
  $('model').textContent = `${info.name} (${info.layer}), ${info.fileBytes.toLocaleString()} bytes on disk`;
  $('size').textContent =
    `${((info.weightBytes + cacheBytes) / 1024).toFixed(0)} KiB (weights ${(info.weightBytes / 1024).toFixed(0)} KiB + KV cache ${(cacheBytes / 1024).toFixed(0)} KiB)`;
  window.obt.backend = runner.backend;
  const pieces = info.pieces.map((p) => Uint8Array.from(atob(p), (c) => c.charCodeAt(0)));
  const generate = async () => {
    const dec = new TextDecoder();
    let cache: Tensor[] = Array.from({ length: info.cacheCount }, () => ({
      dtype: 'f32',
      shape: info.cacheShape,
      data: new Float32Array(info.cacheShape.reduce((a, b) => a * b, 1)),
    }));
    const ids: number[] = [];
    let tok = info.bos;
    let out = '';
    $('story').textContent = '';
    let t0 = 0;
    for (let pos = 0; pos < Math.min(steps, info.maxSeq); pos++) {
      if (pos === 1) t0 = performance.now();
      const outs = await runner.run([
        ...weights,
        scalar(tok, 'i32'),
        scalar(pos, 'i32'),
        ...cache,
        scalar(info.eps, 'f32'),
        scalar(info.theta, 'f32'),
      ]);
      cache = outs.slice(1);
      const logits = outs[0]!.data;
      let best = 0;
      for (let j = 1; j < info.vocab; j++) if (logits[j]! > logits[best]!) best = j;
      if (best === info.bos || best === info.eos) break;
      let bytes = pieces[best]!;
      if (tok === info.bos && bytes[0] === 0x20) bytes = bytes.subarray(1);
      out += dec.decode(bytes, { stream: true });
      $('story').textContent = out;
      ids.push(best);
      tok = best;
      $('tokens').textContent = String(ids.length);
      if (ids.length > 1)
        $('speed').textContent = `${((ids.length - 1) / ((performance.now() - t0) / 1000)).toFixed(1)} tokens/s`;
      await new Promise((r) => setTimeout(r, 0)); // let the page paint
    }
    const tps = ids.length > 1 ? (ids.length - 1) / ((performance.now() - t0) / 1000) : 0;
    window.obt = { done: true, backend: runner.backend, ids, text: out, tokensPerSecond: tps };
  };
  $('again').addEventListener('click', () => void generate());
  await generate();
}

main().catch((e: Error) => {
  $('error').textContent = String(e.stack ?? e);
  window.obt = { ...window.obt, done: true, error: String(e) };
});
