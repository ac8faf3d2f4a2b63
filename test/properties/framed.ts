// Fuzzers of the formats with a JSON header — obt model files (.obtm), legacy .obt1, training state
// files, safetensors (with its config.json). Seeds are the shipped model (.obt1 fixture, the fp
// stories260K written as safetensors and as a model file) and a state file of the same tree. Each
// is truncated, has random bytes and hostile integers written in, and has one header field set to
// a hostile value, deleted or duplicated — the length, padding and CRC recomputed so the checks
// beyond the CRC are reached. Each either loads or fails with a one-line user error.
import { beforeAll, describe, it } from 'vitest';
import fc from 'fast-check';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, loadModelBytes } from '../../llm/load.ts';
import { writeModelFile } from '../../llm/io/modelfile.ts';
import { decodeState, encodeState } from '../../llm/io/state.ts';
import { linearLayers, paramCount } from '../../llm/io/arch.ts';
import { writeSafetensors } from '../helpers/writers.ts';
import {
  FRAMES,
  Tally,
  share,
  applyBytes,
  applyJson,
  byteMutation,
  fixCrc,
  joinFramed,
  jsonEdit,
  jsonPaths,
  splitFramed,
  timeoutFor,
  type Frame,
} from './fuzz.ts';

const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'obt-fuzz-'));
interface Target {
  name: string;
  file: string;
  bytes: Uint8Array;
  frame: Frame;
  load: (file: string, b: Uint8Array) => unknown;
}
/** The target's seed file, built from the shipped model (the .obt1 fixture and stories260K.bin). */
async function build(name: FramedTarget): Promise<Target> {
  const obt1 = join(root, 'test/fixtures/stories260K-onebit-svid.obt1');
  const model = (file: string, b: Uint8Array) => loadModelBytes(file, b);
  if (name === 'legacy .obt1')
    return { name, file: obt1, bytes: new Uint8Array(readFileSync(obt1)), frame: FRAMES.obt1, load: model };
  const q = await loadModel(obt1);
  const fp = await loadModel(join(root, 'data/stories260K.bin'));
  if (name === 'model file (.obtm)') {
    const obtm = join(dir, 'student.obtm');
    writeModelFile(obtm, {
      arch: q.arch,
      config: q.config,
      tokenizer: q.tokenizer.data,
      value: q.value,
      layer: 'OneBit',
      method: { name: q.method!.name, source: q.method!.source, train: q.method!.train, infer: q.method!.infer },
      linear: linearLayers(q.arch, q.config),
      params: paramCount(q.arch, q.config, true),
      fp16: true,
    });
    return { name, file: obtm, bytes: new Uint8Array(readFileSync(obtm)), frame: FRAMES.obtm, load: model };
  }
  if (name === 'state file') {
    const state = encodeState({ step: 7, params: q.value, opt: { m: fp.value, lr: 1e-3 }, rng: [1, 2, 3] });
    return { name, file: join(dir, 'state.obts'), bytes: state, frame: FRAMES.state, load: decodeState };
  }
  const st = writeSafetensors(fp.checkpoint!, 'F16');
  writeFileSync(join(dir, 'config.json'), st.config);
  copyFileSync(join(root, 'data/tok512.bin'), join(dir, 'tok512.bin'));
  return { name, file: join(dir, 'model.safetensors'), bytes: st.bytes, frame: FRAMES.safetensors, load: model };
}

export type FramedTarget = 'model file (.obtm)' | 'legacy .obt1' | 'state file' | 'safetensors';

/** The two properties of one framed format, half of its cases each (each target's test file calls
 *  this: files run in parallel workers). */
export function framedFuzz(name: FramedTarget): void {
  let target: Target;
  beforeAll(async () => {
    target = await build(name);
  }, 120_000);
  describe(`${name} under mutation`, () => {
    it(
      'mutated bytes (CRC recomputed) load or fail with a user error',
      async () => {
        const { file, bytes, frame, load } = target;
        const t = new Tally(`${name} bytes`, share(0.5));
        await fc.assert(
          fc.asyncProperty(byteMutation(4096), fc.boolean(), (m, crc) =>
            t.run(() => {
              const b = applyBytes(bytes, m);
              return load(file, frame.crc && crc ? fixCrc(b) : b);
            }),
          ),
          t.params,
        );
        console.log(t.summary());
      },
      timeoutFor(share(0.5)),
    );
    it(
      'hostile header fields load or fail with a user error',
      async () => {
        const { file, bytes, frame, load } = target;
        const { header, data } = splitFramed(bytes, frame);
        const paths = jsonPaths(header);
        const t = new Tally(`${name} header`, share(0.5));
        await fc.assert(
          fc.asyncProperty(jsonEdit(), (e) =>
            t.run(() => load(file, joinFramed(bytes, frame, applyJson(header, paths, e), data))),
          ),
          t.params,
        );
        console.log(t.summary());
      },
      timeoutFor(share(0.5)),
    );
  });
}
