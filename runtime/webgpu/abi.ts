// What the WGSL emitter and the WebGPU runtime share (no compiler code needed at run time): the
// workgroup size, the dispatch grid, and the binding budget a portable artifact assumes.

export const WORKGROUP = 64;
/** invocations along x per row of the dispatch grid (65535 workgroups is WebGPU's per-dimension limit) */
export const GRID_X = 65535 * WORKGROUP;
/** maxStorageBuffersPerShaderStage every WebGPU adapter offers (Chromium 10, SwiftShader 12) */
export const PORTABLE_STORAGE_BUFFERS = 8;
