// obtc exec DIR [--weights FILE] [ARG...]: runs a Wasm or WebGPU artifact with the runtime; ARGs are
// JSON tensors in the manifest's input order. --weights fills the inputs of the entry's first
// parameter (a model) from a model file of any format, by leaf path (`p.blocks[0].<layer>.s` ←
// `blocks[0].<layer>.s`); the ARGs are then the remaining inputs.
import { fromNested, toNested } from '../runtime/core/tensor.ts';
import { loadArtifact } from '../runtime/wasm/artifact.ts';
import { artifactFormat, GPU_ARTIFACT_FORMAT, loadGpuArtifact } from '../runtime/webgpu/artifact.ts';
import { nodeGpuDevice } from '../runtime/env/node_gpu.ts';
import { jsonOf, parseJsonArg, poolOf, str, Usage, type Command } from './args.ts';
import { treeLeaves } from '../runtime/core/tree.ts';
import type { Tensor } from '../runtime/core/tensor.ts';
import { loadModel } from '../llm/load.ts';
import { UserError } from '../compiler/syntax/diag.ts';

export const execCmd: Command = async (pos, flags, io) => {
  const dir = pos.shift();
  if (!dir) throw new Usage('exec needs DIR (an artifact of obtc compile --target wasm)');
  const onGpu = artifactFormat(dir) === GPU_ARTIFACT_FORMAT;
  const { manifest, program } = onGpu
    ? await loadGpuArtifact(dir, await nodeGpuDevice())
    : loadArtifact(dir, { pool: poolOf(flags) });
  // inputs given by the model file, by path under the first parameter
  const given = new Map<number, Tensor>();
  const weights = str(flags, 'weights');
  if (weights) {
    const m = await loadModel(weights);
    const leaves = new Map(treeLeaves(m.value).map((l) => [l.path, l.leaf]));
    const first = manifest.inputs[0]?.path.split(/[.[]/)[0];
    manifest.inputs.forEach((spec, i) => {
      if (!spec.path.startsWith(`${first}.`)) return;
      const t = leaves.get(spec.path.slice(first!.length + 1));
      if (!t)
        throw new UserError(
          `${weights} has no tensor ${spec.path.slice(first!.length + 1)} (the artifact's input ${spec.path}); was it compiled for this model's layer type (${m.layer})?`,
        );
      if (t.dtype !== spec.dtype || t.shape.join(',') !== spec.shape.join(','))
        throw new UserError(
          `${weights}: ${spec.path} is ${t.dtype}[${t.shape.join(', ')}], the artifact takes ${spec.dtype}[${spec.shape.join(', ')}]`,
        );
      given.set(i, t);
    });
  }
  const rest = manifest.inputs.map((spec, i) => ({ spec, i })).filter(({ i }) => !given.has(i));
  if (pos.length !== rest.length)
    throw new Usage(
      `${dir} takes ${rest.length} inputs${given.size ? ` beside the model's ${given.size}` : ''} (${rest.map(({ spec }) => `${spec.path}: ${spec.dtype}[${spec.shape.join(', ')}]`).join(', ')}), got ${pos.length}`,
    );
  const ins: Tensor[] = manifest.inputs.map((spec, i) => {
    const g = given.get(i);
    if (g) return g;
    const k = rest.findIndex((r) => r.i === i);
    const t = fromNested(parseJsonArg(pos[k]!, k), spec.dtype as never);
    if (t.shape.join(',') !== spec.shape.join(','))
      throw new Usage(
        `input ${i + 1} (${spec.path}): expected shape [${spec.shape.join(', ')}], got [${t.shape.join(', ')}]`,
      );
    return t;
  });
  io.out(JSON.stringify((await program.run(ins)).map((t) => jsonOf(toNested(t)))) + '\n');
  return 0;
};
