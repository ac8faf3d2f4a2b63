// @ts-check
// A kernel worker (see runtime/env/node_threads.ts): waits on its slot of the shared control
// block (its words named in control.js), loads programs (modules + shared memory, received synchronously from its port) and runs
// kernel slices. Plain JavaScript so that a worker starts without the TypeScript loader.
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { MATH } from '../wasm/math.js';
import { ARGS, CMD, DONE, KERNEL, LOAD, NARGS, PROGRAM, RUN, SEQ, SLOT_INTS, STOP } from './control.js';

const { control, slot, port, spinMs } = workerData;
const ctl = new Int32Array(control);
const base = slot * SLOT_INTS;
const math = { ...MATH };
/** @type {Function[][]} */
const programs = [];
let seq = 0;
for (;;) {
  // poll for up to spinMs (the clock read every 256 polls), then sleep until notified
  const until = performance.now() + spinMs;
  let n = 0;
  let spinning = true;
  while (Atomics.load(ctl, base + SEQ) === seq) {
    if (spinning && ++n % 256 === 0) spinning = performance.now() < until;
    if (!spinning) Atomics.wait(ctl, base + SEQ, seq);
  }
  seq = Atomics.load(ctl, base + SEQ);
  const cmd = ctl[base + CMD];
  if (cmd === STOP) break;
  if (cmd === LOAD) {
    const msg = receiveMessageOnPort(port)?.message;
    const env = { memory: msg.memory, ...math };
    programs[msg.id] = msg.modules.map(
      (/** @type {WebAssembly.Module} */ m) =>
        /** @type {Function} */ (new WebAssembly.Instance(m, { env }).exports.kernel),
    );
  } else if (cmd === RUN) {
    const f = programs[ctl[base + PROGRAM]][ctl[base + KERNEL]];
    const nargs = ctl[base + NARGS];
    const args = new Array(nargs);
    for (let i = 0; i < nargs; i++) args[i] = ctl[base + ARGS + i];
    f(...args);
  }
  Atomics.store(ctl, base + DONE, seq);
  Atomics.notify(ctl, base + DONE);
}
