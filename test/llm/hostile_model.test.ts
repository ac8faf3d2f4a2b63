// A downloaded model file is data, not code (issue 31): model files (.obtm) that pass the checksum and
// the schema, written as an attacker would — to read files outside themselves, to hang or exhaust
// `obtc` at compile time or run time, to lie in their header, to write escape sequences to the
// user's terminal. Each must end, run as `obtc` in a child process, in a one-line error naming the
// file (exit 1) within 10 s and 512 MiB, with no other file's content read.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bestHeader, hostileModel, withMethod, type ObtmHeader } from '../properties/hostile.ts';
import { FRAMES, splitFramed } from '../properties/fuzz.ts';
import { obtcChild } from '../helpers/child.ts';
import { main } from '../../cli/main.ts';

const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'obt-hostile-'));
const text = join(dir, 'short.txt');
const SECRET = 'SECRET_7f3a';

beforeAll(() => {
  const stories = readFileSync(join(root, 'data/tinystories_valid_eval.txt'), 'utf8').split('<|endoftext|>');
  writeFileSync(text, stories.slice(0, 4).join('<|endoftext|>'));
  // files an escaping method would want: beside the model, above it, and a FIFO that blocks
  // whoever opens it (a test that opened it would time out instead of failing quietly)
  writeFileSync(join(dir, 'secret.obt'), `fn f() -> f32 = ${SECRET} 1.0\n`);
  writeFileSync(join(dir, 'package.json'), '{}');
  mkdirSync(join(dir, 'models'));
  writeFileSync(join(dir, 'models/secret.obt'), `fn f() -> f32 = ${SECRET} 1.0\n`);
  execFileSync('mkfifo', [join(dir, 'fifo.obt')]);
});

let n = 0;
interface Opts {
  cmd?: 'generate' | 'ppl';
  data?: Uint8Array;
  /** in a child process, timed and measured (the bombs); else in this process through main() */
  child?: boolean;
}
/** Writes a hostile model file and runs `obtc CMD --weights FILE …` on it. */
async function run(edit: (h: ObtmHeader) => void, o: Opts = {}) {
  const file = join(dir, `m${n++}.obtm`);
  writeFileSync(file, hostileModel(edit, o.data));
  const args =
    o.cmd === 'ppl' ? ['ppl', '--weights', file, '--text', text] : ['generate', '--weights', file, '--steps', '8'];
  if (o.child) return { ...(await obtcChild(args, { cwd: dir, limitMs: 30_000 })), file };
  let out = '';
  let err = '';
  const t0 = performance.now();
  const rc = await main(args, { out: (x) => (out += x), err: (x) => (err += x) });
  return { rc, out, err, ms: performance.now() - t0, maxRssMiB: NaN, file };
}

/** The run ended in one line naming the file, reading nothing else (in a child process: within
 *  10 s and 512 MiB). */
async function refused(edit: (h: ObtmHeader) => void, re: RegExp, o: Opts = {}) {
  const r = await run(edit, o);
  expect(r.rc, r.err).toBe(1);
  const lines = r.err.trim().split('\n');
  expect(lines.at(-1)).toMatch(re);
  expect(lines.at(-1)).toContain(r.file);
  expect(lines.at(-1)).toMatch(/^obtc: error: /);
  expect(r.err).not.toContain(SECRET);
  expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  if (o.child) {
    expect(r.ms).toBeLessThan(10_000);
    expect(r.maxRssMiB).toBeLessThan(512);
  }
  return r;
}

describe('sandbox: the method source reads nothing of the user', () => {
  it('a method name with /.. segments', () =>
    refused((h) => (h.method.name = '/../../../../../../tmp/x'), /method\.name/));
  it('an import by path, relative to the model', () =>
    refused((h) => (h.method.source = 'import "secret.obt"\n' + h.method.source), /cannot import "secret\.obt"/));
  it('an import by path of a FIFO (opening it would hang)', () =>
    refused((h) => (h.method.source = 'import "fifo.obt"\n' + h.method.source), /cannot import "fifo\.obt"/, {
      child: true,
    }));
  it('an absolute path', () =>
    refused((h) => (h.method.source = `import "${join(dir, 'secret.obt')}"\n` + h.method.source), /cannot import/));
  it('a neighbour module by name', () =>
    refused((h) => (h.method.source = 'import secret\n' + h.method.source), /cannot find module secret/));
  it('a neighbour FIFO by name', () =>
    refused((h) => (h.method.source = 'import fifo\n' + h.method.source), /cannot find module fifo/));
  it("models.NAME resolves only to obt's own models/", () =>
    refused(
      (h) => (h.method.source = 'import models.secret\n' + h.method.source),
      /cannot find module models\.secret/,
    ));
  it('the standard library is still importable', async () => {
    const r = await run((h) => (h.method.source = 'import nn\nimport models.llama\n' + h.method.source));
    expect(r.rc, r.err).toBe(0);
  });
});

const vars = Array.from({ length: 48 }, (_, i) => `V${i}`);
const bombs = {
  'a signature dimension that expands to 2^24 terms': [
    `pub fn bomb[${vars.join(', ')}](x: f32[${Array.from({ length: 24 }, (_, i) => `(V${2 * i} + V${2 * i + 1})`).join(' * ')}]) -> f32 = 1.0`,
    undefined,
    /terms in one dimension expression/,
  ],
  'generic tuples that double at each call': [
    'fn dup[T](x: T) -> (T, T) = (x, x)\nfn grow(x: f32) -> f32 {\n  let a0 = dup(x)\n' +
      Array.from({ length: 40 }, (_, i) => `  let a${i + 1} = dup(a${i})`).join('\n') +
      '\n  x\n}',
    undefined,
    /tensors in one type/,
  ],
  '2^40 inlined calls': [
    'fn f0(x: f32) -> f32 = x + 1.0\n' +
      Array.from({ length: 40 }, (_, i) => `fn f${i + 1}(x: f32) -> f32 = f${i}(f${i}(x))`).join('\n'),
    (e: string) => `(${e} * f40(1.0))`,
    /inlined calls/,
  ],
  '240 KB of x + x + …': [
    `fn chain(x: f32) -> f32 = x${' + x'.repeat(60_000)}`,
    undefined,
    /characters of a model file's method source/,
  ],
  'iterate(2000000000, …) at run time': ['', (e: string) => `iterate(2000000000, ${e}, fn(s) { s * 1.0 })`, /one loop/],
  'nested loops of 10^5 × 10^5 trips': [
    '',
    (e: string) => `iterate(100000, ${e}, fn(s) { iterate(100000, s, fn(t) { t * 1.0 }) })`,
    /one loop/,
  ],
} satisfies Record<string, [string, ((e: string) => string) | undefined, RegExp]>;

describe('compile-time and run-time bombs end within 10 s and 512 MiB', () => {
  // each in a process of its own, two at a time (the suite's one worker leaves a core idle)
  const results = new Map<string, Promise<Awaited<ReturnType<typeof refused>>>>();
  const queue = Object.entries(bombs);
  beforeAll(() => {
    let next = 0;
    const lane = async (): Promise<void> => {
      const i = next++;
      if (i >= queue.length) return;
      const [name, [extra, wrap, re]] = queue[i]!;
      const r = refused((h) => withMethod(h, extra, wrap), re, { child: true });
      results.set(name, r);
      await r.catch(() => {});
      return lane();
    };
    void lane();
    void lane();
  });
  for (const [name] of queue)
    it(name, async () => {
      while (!results.has(name)) await new Promise((r) => setTimeout(r, 50));
      await results.get(name);
    });
});

describe('lying headers', () => {
  it('ropeTheta = 1e-300', () => refused((h) => (h.config.ropeTheta = 1e-300), /ropeTheta = 1e-300/));
  it('eps = 0', () => refused((h) => (h.config.eps = 0), /config eps = 0/));
  it('an embedding with zero rows', () =>
    refused((h) => {
      const e = h.tensors.find((t) => t.path === 'emb')!;
      e.shape = [0, 64];
      e.bytes = 0;
    }, /emb|tensor/));
  it('a vocabulary of 10^6 with 512 embedding rows', () =>
    refused((h) => (h.config.vocab = 1_000_000), /vocab|pieces/));
  it('a vocabulary of 256 with 512 embedding rows (tokenizer cut to match)', () =>
    refused((h) => {
      h.config.vocab = 256;
      h.tokenizer.pieces = h.tokenizer.pieces.slice(0, 256);
      h.tokenizer.scores = h.tokenizer.scores.slice(0, 256);
    }, /p\.emb: expected f32\[256, 64\], found f32\[512, 64\]/));
  it('heads that do not match the shapes', () =>
    refused((h) => (h.config.kvHeads = 8), /p\.blocks\[0\]\.wk.*expected/));
  it('a hidden size that does not match w1', () =>
    refused((h) => (h.config.hidden = 160), /p\.blocks\[0\]\.w1.*expected/));
  it('bits that lie', () => refused((h) => (h.bits.linear = 0.5), /bits\.linear/));
  it('a tokenizer shorter than the vocabulary', () => refused((h) => h.tokenizer.pieces.pop(), /511 pieces/));
  it('a tree referring to one tensor over and over', () =>
    refused((h) => {
      const blocks = h.tree.blocks as unknown[];
      for (let i = 0; i < 4000; i++) blocks.push(blocks[0]);
    }, /refers to .* bytes of tensors|config|blocks/));
  it('a finite but huge norm: the perplexity is not finite, exit 1', async () => {
    const r = await run(() => {}, { cmd: 'ppl', data: hugeNorm() });
    expect(r.rc, r.err).toBe(1);
    expect(r.out).not.toMatch(/Infinity|NaN/);
    expect(r.err.trim().split('\n').at(-1)).toMatch(/perplexity is not finite/);
    expect(r.err).toContain(r.file);
  });
});

/** The shipped student's data with the final norm set to 6e4 (finite in f16): logits overflow. */
function hugeNorm(): Uint8Array {
  const e = bestHeader().tensors.find((t) => t.path === 'norm')!;
  const d = splitFramed(
    hostileModel(() => {}),
    FRAMES.obtm,
  ).data;
  const dv = new DataView(d.buffer, d.byteOffset);
  for (let i = 0; i < e.shape[0]!; i++)
    if (e.stored === 'f16') dv.setUint16(e.offset + 2 * i, 0x7b00, true);
    else dv.setFloat32(e.offset + 4 * i, 6e4, true);
  return d;
}

describe('text from the file reaches the terminal safe', () => {
  it('escape sequences in tokenizer pieces are shown as pictures; --raw passes them', async () => {
    const edit = (h: ObtmHeader) => {
      h.tokenizer.pieces = h.tokenizer.pieces.map((p, i) => (i > 2 ? `\u001b[2J\u009b31m${p}\u0007` : p));
    };
    const r = await run(edit);
    expect(r.rc, r.err).toBe(0);
    // eslint-disable-next-line no-control-regex -- the point
    expect(r.out).not.toMatch(/[\u001b\u0007\u009b]/);
    expect(r.out).toContain('␛[2J');
    expect(r.out).toContain('\\u009b31m');
    const file = join(dir, 'raw.obtm');
    writeFileSync(file, hostileModel(edit));
    let raw = '';
    await main(['generate', '--weights', file, '--steps', '8', '--raw'], { out: (x) => (raw += x), err: () => {} });
    expect(raw).toContain('\u001b[2J');
  });
});
