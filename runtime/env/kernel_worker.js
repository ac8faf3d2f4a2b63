// @ts-check
// A kernel worker (see runtime/env/node_threads.ts): waits on its slot of the shared control
// block, loads programs (modules + shared memory, received synchronously from its port) and runs
// kernel slices. Plain JavaScript so that a worker starts without the TypeScript loader.
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { MATH } from '../wasm/math.js';

const { control, slot, port, slotInts, spinMs } = workerData;
const ctl = new Int32Array(control);
const base = slot * slotInts;
const math = { ...MATH };
/** @type {Function[][]} */
const programs = [];
let seq = 0;
for (;;) {
  // poll for up to spinMs (the clock read every 256 polls), then sleep until notified
  const until = performance.now() + spinMs;
  let n = 0;
  let spinning = true;
  while (Atomics.load(ctl, base) === seq) {
    if (spinning && ++n % 256 === 0) spinning = performance.now() < until;
    if (!spinning) Atomics.wait(ctl, base, seq);
  }
  seq = Atomics.load(ctl, base);
  const cmd = ctl[base + 2];
  if (cmd === 3) break;
  if (cmd === 1) {
    const msg = receiveMessageOnPort(port)?.message;
    const env = { memory: msg.memory, ...math };
    programs[msg.id] = msg.modules.map(
      (/** @type {WebAssembly.Module} */ m) =>
        /** @type {Function} */ (new WebAssembly.Instance(m, { env }).exports.kernel),
    );
  } else if (cmd === 2) {
    const f = programs[ctl[base + 3]][ctl[base + 4]];
    const nargs = ctl[base + 5];
    const args = new Array(nargs);
    for (let i = 0; i < nargs; i++) args[i] = ctl[base + 6 + i];
    f(...args);
  }
  Atomics.store(ctl, base + 1, seq);
  Atomics.notify(ctl, base + 1);
}
