// A kernel worker for browsers (bundled by `obtc serve`; see runtime/env/web_threads.ts): programs
// (modules + the shared memory) arrive by postMessage and are acknowledged in the control block;
// run commands arrive through the control block, awaited with Atomics.waitAsync so the event loop
// stays free for program messages. Same control-slot layout as the Node worker.
const state: { ctl?: Int32Array; base: number; programs: ((...a: number[]) => void)[][] } = { base: 0, programs: [] };
import { mathImports } from '../wasm/abi.ts';

const math = mathImports();

type Msg =
  | { kind: 'init'; control: SharedArrayBuffer; slot: number; slotInts: number }
  | { kind: 'load'; id: number; memory: WebAssembly.Memory; modules: WebAssembly.Module[]; ack: number };

self.onmessage = (e: MessageEvent<Msg>) => {
  const m = e.data;
  if (m.kind === 'init') {
    state.ctl = new Int32Array(m.control);
    state.base = m.slot * m.slotInts;
    void loop();
    (self as unknown as Worker).postMessage('ready');
    return;
  }
  const env = { memory: m.memory, ...math };
  state.programs[m.id] = m.modules.map(
    (mod) => new WebAssembly.Instance(mod, { env }).exports.kernel as (...a: number[]) => void,
  );
  Atomics.store(state.ctl!, state.base + 2, m.ack); // the load acknowledgement word
};

async function loop(): Promise<void> {
  const ctl = state.ctl!;
  const base = state.base;
  let seq = 0;
  for (;;) {
    const w = (
      Atomics as unknown as {
        waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string };
      }
    ).waitAsync(ctl, base, seq);
    if (w.async) await w.value;
    seq = Atomics.load(ctl, base);
    if (ctl[base + 3] === 3) return;
    const f = state.programs[ctl[base + 4]!]![ctl[base + 5]!]!;
    const n = ctl[base + 6]!;
    const args: number[] = [];
    for (let i = 0; i < n; i++) args.push(ctl[base + 7 + i]!);
    f(...args);
    Atomics.store(ctl, base + 1, seq);
    Atomics.notify(ctl, base + 1);
  }
}
