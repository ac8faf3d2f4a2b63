// obtc exec DIR [ARG...]: runs a Wasm or WebGPU artifact with the runtime alone; ARGs are JSON tensors
// in the manifest's input order.
import { fromNested, toNested } from '../runtime/core/tensor.ts';
import { loadArtifact } from '../runtime/wasm/artifact.ts';
import { artifactFormat, GPU_ARTIFACT_FORMAT, loadGpuArtifact } from '../runtime/webgpu/artifact.ts';
import { nodeGpuDevice } from '../runtime/env/node_gpu.ts';
import { jsonOf, parseJsonArg, poolOf, Usage, type Command } from './args.ts';

export const execCmd: Command = async (pos, flags, io) => {
  const dir = pos.shift();
  if (!dir) throw new Usage('exec needs DIR (an artifact of obtc compile --target wasm)');
  const onGpu = artifactFormat(dir) === GPU_ARTIFACT_FORMAT;
  const { manifest, program } = onGpu
    ? await loadGpuArtifact(dir, await nodeGpuDevice())
    : loadArtifact(dir, { pool: poolOf(flags) });
  if (pos.length !== manifest.inputs.length)
    throw new Usage(
      `${dir} takes ${manifest.inputs.length} inputs (${manifest.inputs.map((i) => `${i.path}: ${i.dtype}[${i.shape.join(', ')}]`).join(', ')}), got ${pos.length}`,
    );
  const ins = manifest.inputs.map((spec, i) => {
    const t = fromNested(parseJsonArg(pos[i]!, i), spec.dtype as never);
    if (t.shape.join(',') !== spec.shape.join(','))
      throw new Usage(
        `input ${i + 1} (${spec.path}): expected shape [${spec.shape.join(', ')}], got [${t.shape.join(', ')}]`,
      );
    return t;
  });
  io.out(JSON.stringify((await program.run(ins)).map((t) => jsonOf(toNested(t)))) + '\n');
  return 0;
};
