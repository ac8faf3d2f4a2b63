// The package's runtime entry ('obt/runtime'): loads a compiled artifact (`obtc compile --target
// wasm|webgpu -o DIR`) and runs it with no compiler inside — no parser, type checker, fusion or
// binaryen. WebGPU on Node uses the optional `webgpu` package (nodeGpuDevice; loaded only then).
export { ARTIFACT_FORMAT, loadArtifact, type Manifest, type TensorSpec } from './wasm/artifact.ts';
export { WasmProgram, type ProgramOptions } from './wasm/program.ts';
export type { KernelPool } from './wasm/pool.ts';
export { artifactFormat, GPU_ARTIFACT_FORMAT, loadGpuArtifact, type GpuManifest } from './webgpu/artifact.ts';
export { GpuProgram } from './webgpu/program.ts';
export { GpuDevice } from './webgpu/device.ts';
export { nodeGpu, nodeGpuDevice } from './env/node_gpu.ts';
export { NodeThreadPool } from './env/node_threads.ts';
export { alloc, fromNested, packSigns, toNested, type Storage, type Tensor } from './core/tensor.ts';
export type { DType } from './core/dtype.ts';
export { formatDiagnostic, UserError, type Diagnostic } from './core/errors.ts';
