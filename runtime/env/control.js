// @ts-check
// The control block the kernel thread pools share with their workers (runtime/env/node_threads.ts
// with kernel_worker.js, web_threads.ts with web_kernel_worker.ts): one slot of SLOT_INTS Int32s
// per worker in a SharedArrayBuffer. Its words are named here, once, for all four (plain
// JavaScript so that the Node worker, which starts without the TypeScript loader, imports it too).
//
//   [SEQ, DONE, LOAD_ACK, CMD, PROGRAM, KERNEL, NARGS, ARGS…]
//
// A command bumps SEQ and notifies; the worker runs it and echoes SEQ into DONE. A browser worker
// acknowledges a program load (sent by postMessage) in LOAD_ACK; a Node worker reads its loads
// from a message port, synchronously, on CMD = LOAD.

/** Int32 words per worker slot. */
export const SLOT_INTS = 64;
/** bumped by the pool for each command; the worker waits on it */
export const SEQ = 0;
/** the worker echoes SEQ here when the command is done */
export const DONE = 1;
/** browsers: the last program load the worker has made */
export const LOAD_ACK = 2;
/** the command: LOAD, RUN or STOP */
export const CMD = 3;
/** RUN: the program and the kernel within it */
export const PROGRAM = 4;
export const KERNEL = 5;
/** RUN: how many arguments follow, from ARGS to the slot's end */
export const NARGS = 6;
export const ARGS = 7;
/** the most arguments a kernel slice can take */
export const MAX_ARGS = SLOT_INTS - ARGS;

export const LOAD = 1;
export const RUN = 2;
export const STOP = 3;
