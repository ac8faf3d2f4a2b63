// What the pipeline asks of every target: the options its plans are made with, and what an
// artifact records about the entry it was compiled from.
export interface TargetPlanOptions {
  /** elementwise kernels may write into an input's buffer (false for WebGPU: a buffer is never
   *  bound read-only and read-write in one dispatch) */
  inPlaceKernels: boolean;
  /** at most this many input buffers per kernel (WebGPU: maxStorageBuffersPerShaderStage − 1) */
  maxInputs?: number;
}

/** A flattened parameter of a lowered entry. */
export interface ParamLeaf {
  path: string;
  dtype: string;
  shape: number[];
}

export interface ArtifactMeta {
  source: string;
  entry: string;
}
