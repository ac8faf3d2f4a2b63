// Conformance suite: every .obt file under test/language/conformance carries its own expectations.
//   //# run ENTRY ARG | ARG ... => EXPECTED [tol=1e-6]   (ARGs and EXPECTED are JSON)
//   //# error [@LINE:COL] REGEX                          (the file must fail to check with it)
import { describe, expect, it } from 'vitest';
import { gpu, gpuNote } from '../helpers/gpu.ts';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, type HostValue } from '../../compiler/api.ts';
import { formatDiagnostic, lineCol } from '../../compiler/syntax/diag.ts';
import { toNested, type Tensor } from '../../runtime/core/tensor.ts';

const dir = join(import.meta.dirname, 'conformance');

function files(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(d, e.name)) : e.name.endsWith('.obt') ? [join(d, e.name)] : [],
  );
}

function toJson(v: unknown): unknown {
  if (v && typeof v === 'object' && 'data' in (v as object)) return toNested(v as Tensor);
  if (Array.isArray(v)) return v.map(toJson);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
}

function close(a: unknown, b: unknown, tol: number, path = ''): string | undefined {
  if (Array.isArray(b)) {
    if (!Array.isArray(a) || a.length !== b.length)
      return `${path}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`;
    for (let i = 0; i < b.length; i++) {
      const r = close(a[i], b[i], tol, `${path}[${i}]`);
      if (r) return r;
    }
    return undefined;
  }
  if (b && typeof b === 'object') {
    for (const k of Object.keys(b)) {
      const r = close((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], tol, `${path}.${k}`);
      if (r) return r;
    }
    return undefined;
  }
  if (typeof b === 'number' && typeof a === 'number') {
    if (Number.isNaN(b) ? Number.isNaN(a) : Math.abs(a - b) <= tol * Math.max(1, Math.abs(b))) return undefined;
  }
  if (b === 'inf' && a === Infinity) return undefined;
  if (b === '-inf' && a === -Infinity) return undefined;
  if (a === b) return undefined;
  return `${path}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`;
}

/** The stated tolerance of the f32 Wasm kernels against the expectations (relative, or absolute below 1). */
const WASM_TOL = 2e-6;
/** WebGPU: the GPU's own exp/log/tanh (not f64-then-round) */
const WEBGPU_TOL = 1e-5;

const parseJson = (s: string) => JSON.parse(s.replace(/(?<![\w"])-?inf(?![\w"])/g, (m) => `"${m}"`));

for (const file of files(dir)) {
  const rel = file.slice(dir.length + 1);
  const text = readFileSync(file, 'utf8');
  const directives = text
    .split('\n')
    .flatMap((line, i) => (line.startsWith('//# ') ? [{ line: i + 1, text: line.slice(4).trim() }] : []));
  describe(rel, () => {
    it('has expectations', () => expect(directives.length).toBeGreaterThan(0));
    const errors = directives.filter((d) => d.text.startsWith('error '));
    const runs = directives.filter((d) => d.text.startsWith('run '));
    if (errors.length) {
      it('is rejected with the expected diagnostic', () => {
        const prog = compile(text, { path: file });
        expect(prog.ok, 'the program should not type-check').toBe(false);
        const shown = prog.diagnostics.map(formatDiagnostic).join('\n');
        for (const d of errors) {
          const m = /^error\s+(?:@(\d+):(\d+)\s+)?(.*)$/.exec(d.text)!;
          const re = new RegExp(m[3]!);
          const hit = prog.diagnostics.find(
            (x) =>
              re.test(x.message) &&
              (!m[1] ||
                (x.span &&
                  lineCol(x.span.file, x.span.start).line === Number(m[1]) &&
                  lineCol(x.span.file, x.span.start).col === Number(m[2]))),
          );
          expect(hit, `no diagnostic matching ${d.text}; got:\n${shown}`).toBeTruthy();
        }
      });
    } else {
      it('type-checks', () => {
        const prog = compile(text, { path: file });
        expect(prog.diagnostics.map(formatDiagnostic).join('\n')).toBe('');
      });
    }
    for (const d of runs) {
      it(`line ${d.line}: ${d.text.slice(0, 70)}`, () => {
        const m = /^run\s+(\w+)\s*(.*?)\s*=>\s*(.*?)(?:\s+tol=([\d.e+-]+))?$/.exec(d.text);
        expect(m, 'malformed run directive').toBeTruthy();
        const args = m![2]!.trim() ? m![2]!.split(' | ').map((a) => parseJson(a) as HostValue) : [];
        const prog = compile(text, { path: file });
        const r = prog.runSync(m![1]!, args);
        const err = close(toJson(r.value), parseJson(m![3]!), m![4] ? Number(m![4]) : 1e-6);
        expect(err).toBeUndefined();
      });
      it(`line ${d.line} on wasm (fused and unfused): ${d.text.slice(0, 50)}`, () => {
        const m = /^run\s+(\w+)\s*(.*?)\s*=>\s*(.*?)(?:\s+tol=([\d.e+-]+))?$/.exec(d.text)!;
        const args = m[2]!.trim() ? m[2]!.split(' | ').map((a) => parseJson(a) as HostValue) : [];
        const prog = compile(text, { path: file });
        // f32 kernels accumulate in f32 where the reference accumulates in f64: WASM_TOL relative
        const tol = Math.max(m[4] ? Number(m[4]) : 1e-6, WASM_TOL);
        for (const noFusion of [false, true]) {
          const r = prog.runSync(m[1]!, args, { device: { kind: 'wasm' }, noFusion });
          const err = close(toJson(r.value), parseJson(m[3]!), tol);
          expect(err, noFusion ? 'unfused' : 'fused').toBeUndefined();
        }
      });
      it.skipIf(!gpu)(`line ${d.line} on webgpu${gpuNote}: ${d.text.slice(0, 50)}`, async () => {
        const m = /^run\s+(\w+)\s*(.*?)\s*=>\s*(.*?)(?:\s+tol=([\d.e+-]+))?$/.exec(d.text)!;
        const args = m[2]!.trim() ? m[2]!.split(' | ').map((a) => parseJson(a) as HostValue) : [];
        const prog = compile(text, { path: file });
        const tol = Math.max(m[4] ? Number(m[4]) : 1e-6, WEBGPU_TOL);
        const r = await prog.run(m[1]!, args, { device: { kind: 'webgpu', gpu: gpu! } });
        expect(close(toJson(r.value), parseJson(m[3]!), tol)).toBeUndefined();
      });
    }
  });
}
