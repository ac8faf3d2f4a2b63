// A kernel worker for browsers (bundled by `obtc serve`; see runtime/env/web_threads.ts): programs
// (modules + the shared memory) arrive by postMessage and are acknowledged in the control block;
// run commands arrive through the control block, awaited with Atomics.waitAsync so the event loop
// stays free for program messages. The control slot's words are named in control.js.
const state: { ctl?: Int32Array; base: number; programs: ((...a: number[]) => void)[][] } = { base: 0, programs: [] };
import { mathImports } from '../wasm/abi.ts';
import { ARGS, CMD, DONE, KERNEL, LOAD_ACK, NARGS, PROGRAM, SEQ, SLOT_INTS, STOP } from './control.js';

const math = mathImports();

type Msg =
  | { kind: 'init'; control: SharedArrayBuffer; slot: number }
  | { kind: 'load'; id: number; memory: WebAssembly.Memory; modules: WebAssembly.Module[]; ack: number };

self.onmessage = (e: MessageEvent<Msg>) => {
  const m = e.data;
  if (m.kind === 'init') {
    state.ctl = new Int32Array(m.control);
    state.base = m.slot * SLOT_INTS;
    void loop();
    (self as unknown as Worker).postMessage('ready');
    return;
  }
  const env = { memory: m.memory, ...math };
  state.programs[m.id] = m.modules.map(
    (mod) => new WebAssembly.Instance(mod, { env }).exports.kernel as (...a: number[]) => void,
  );
  Atomics.store(state.ctl!, state.base + LOAD_ACK, m.ack);
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
    ).waitAsync(ctl, base + SEQ, seq);
    if (w.async) await w.value;
    seq = Atomics.load(ctl, base + SEQ);
    if (ctl[base + CMD] === STOP) return;
    const f = state.programs[ctl[base + PROGRAM]!]![ctl[base + KERNEL]!]!;
    const n = ctl[base + NARGS]!;
    const args: number[] = [];
    for (let i = 0; i < n; i++) args.push(ctl[base + ARGS + i]!);
    f(...args);
    Atomics.store(ctl, base + DONE, seq);
    Atomics.notify(ctl, base + DONE);
  }
}
