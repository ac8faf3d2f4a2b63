// A user's architecture from its own `.obt` file (`obtc train --model FILE.obt`): no TypeScript and
// no table to edit. The model's struct is the first parameter of the file's `forward_batch`
// (`p: Tiny[Lin, V, D, F, H, L]`); its first type argument is the layer type and each other one a
// size, named as the shipped architectures name them (V vocabulary, D channels, F the MLP's width,
// H heads, KV key/value heads, L blocks, P learned positions). A name map beside the file
// (`FILE.json`, llm/io/names/'s schema) may name them otherwise and add checkpoint conventions. The
// file may import the standard library and models/ only: a model file carries its text and runs
// it sealed (as it does a method's), so the model it trains needs nothing beside it.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { compile } from '../compiler/api.ts';
import { MODELS_DIR, STDLIB_DIR } from '../compiler/resolve/modules.ts';
import { CompileError, UserError } from '../compiler/syntax/diag.ts';
import { MAX_SOURCE_BYTES } from '../compiler/syntax/limits.ts';
import { parseNameMap, type Arch } from './io/names.ts';
import type { LlamaConfig } from './io/model.ts';

/** The size each conventional dim name stands for. */
const DIM_FIELDS: Record<string, keyof LlamaConfig> = {
  V: 'vocab',
  D: 'dim',
  F: 'hidden',
  H: 'heads',
  KV: 'kvHeads',
  L: 'layers',
  P: 'seqLen',
};

const ENTRIES = 'forward_batch, forward, nll, decode and init (see models/gpt.obt)';

/** The architecture a `.obt` file defines (checked: it compiles, its model struct is found and
 *  every size it is generic over is one obtc train sets). */
export function archFromObtFile(spec: string, flag = '--model'): Arch {
  if (!existsSync(spec)) throw new UserError(`${flag} ${spec}: no such file`);
  const file = resolve(spec);
  if (!statSync(file).isFile()) throw new UserError(`${flag} ${spec}: not a file`);
  if (statSync(file).size > MAX_SOURCE_BYTES)
    throw new UserError(
      `${flag} ${spec}: ${statSync(file).size} bytes, more than a source may have (${MAX_SOURCE_BYTES})`,
    );
  const source = readFileSync(file, 'utf8');
  const prog = compile(source, { path: file });
  if (!prog.ok) throw new CompileError(prog.diagnostics);
  const root = prog.loaded.root;
  for (const m of prog.loaded.modules.values())
    if (m !== root && !m.id.startsWith(STDLIB_DIR + '/') && !m.id.startsWith(MODELS_DIR + '/'))
      throw new UserError(
        `${spec}: an architecture is one file; it imports ${m.file.path}, which a model file would not carry`,
        undefined,
        'move what it needs into the architecture file (the standard library and models/ may be imported)',
      );
  const fb = root.fns.get('forward_batch')?.find((f) => f.decl.pub)?.decl;
  if (!fb) throw new UserError(`${spec}: no pub fn forward_batch; an architecture defines ${ENTRIES}`);
  const p = fb.params[0];
  const t = p?.type;
  if (!p || !t || t.kind !== 'applied' || t.args.length < 2 || t.args[0]!.kind !== 'type')
    throw new UserError(
      "forward_batch's first parameter must be the model's struct with its layer type first (p: Model[Lin, V, D, …])",
      p?.span ?? fb.nameSpan,
    );
  const lin = t.args[0].type;
  if (lin.kind !== 'name') throw new UserError('the layer type must be a type parameter (Lin)', lin.span);
  const dims = t.args.slice(1).map((a) => {
    // a bare name parses as a type or a dim (the checker tells which)
    if (a.kind === 'dim' && a.dim.kind === 'var') return { name: a.dim.name, span: a.dim.span };
    if (a.kind === 'type' && a.type.kind === 'name') return { name: a.type.name, span: a.type.span };
    throw new UserError("every argument of the model's struct after the layer type must be a size's name", a.span);
  });
  const type = `${t.name}[Lin, ${dims.map((d) => d.name).join(', ')}]`;
  const mapFile = file.replace(/\.obt$/, '.json');
  const base = {
    about: `${basename(file)}: a user architecture (${type})`,
    model: spec,
    type,
    hf: [],
    gguf: [],
    tied: {},
    conventions: {},
    act: 'silu' as const,
  };
  if (existsSync(mapFile)) {
    const raw: unknown = (() => {
      try {
        return JSON.parse(readFileSync(mapFile, 'utf8'));
      } catch (e) {
        throw new UserError(`${mapFile}: not JSON (${(e as Error).message})`);
      }
    })();
    const parsed = parseNameMap({ ...base, ...(raw as object) });
    if ('problem' in parsed) throw new UserError(`${mapFile}: field ${parsed.problem}`);
    for (const d of dims)
      if (!(d.name in parsed.map.dims))
        throw new UserError(`${mapFile}: dims gives no config field for ${d.name}`, d.span);
    return { ...parsed.map, model: spec, type, name: identifier(file), file, source };
  }
  const fields: Record<string, keyof LlamaConfig> = {};
  for (const d of dims) {
    const f = DIM_FIELDS[d.name];
    if (!f)
      throw new UserError(
        `size ${d.name}: obtc train sets ${Object.entries(DIM_FIELDS)
          .map(([k, v]) => `${k} (${v})`)
          .join(', ')}`,
        d.span,
        `rename it, or give a name map ${basename(mapFile)} beside the file ("dims": {"${d.name}": "dim"})`,
      );
    fields[d.name] = f;
  }
  return {
    ...base,
    dims: fields as Arch['dims'],
    positions: 'P' in fields ? 'learned' : 'rope',
    name: identifier(file),
    file,
    source,
  };
}

/** Whether an architecture spec names a file (rather than one of llm/io/names/). */
export const isObtPath = (spec: string): boolean => spec.endsWith('.obt') || spec.includes('/');

/** The architecture's name: its file's stem as an identifier (what a model file records). */
const identifier = (file: string): string => {
  const s = basename(file, '.obt')
    .replace(/[^A-Za-z0-9_]/g, '_')
    .slice(0, 64);
  return /^[A-Za-z_]/.test(s) ? s : `_${s.slice(0, 63)}`;
};
