// The package's main entry (`import { compile } from 'obt'`): type-check a program, lower an entry
// to Core IR, run it (reference interpreter, Wasm, WebGPU), and write compiled artifacts that
// 'obt/runtime' loads without the compiler.
export {
  compile,
  Program,
  type Backend,
  type CompileOptions,
  type HostValue,
  type Lowered,
  type RunOptions,
} from './api.ts';
export { compileWasm, compileWebGpu, wasmArtifact, wasmText, webgpuArtifact, type Pass } from './pipeline.ts';
export { CompileError, Diagnostics, formatDiagnostic, UserError, type Diagnostic, type Span } from './syntax/diag.ts';
export { diagnosticJson, type DiagnosticJson } from '../runtime/core/errors.ts';
export { typeToString, type Type } from './types/types.ts';
export { fromNested, toNested, type Storage, type Tensor } from '../runtime/core/tensor.ts';
export { NodeThreadPool } from '../runtime/env/node_threads.ts';
export { PROJECT_ROOT, STDLIB_DIR } from './resolve/modules.ts';
