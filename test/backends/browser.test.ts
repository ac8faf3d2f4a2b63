// The browser page (examples/browser/, served by obtc serve): Playwright drives Debian's Chromium
// headless (never a downloaded browser); the page runs the fp teacher and a non-OneBit student
// (bitnet158, ternary as two sign planes) side by side, 64 greedy tokens from BOS each, with WebGPU
// (SwiftShader here) and with the Wasm fallback (?backend=wasm, whose reason the page reports): the
// teacher's ids equal the golden ones, the student's equal its decoder's in Node. Screenshots land
// in test-results/. CI installs chromium; there a missing browser fails.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { buildSite, startServer } from '../../cli/serve.ts';
import { main } from '../../cli/main.ts';
import { loadModel } from '../../llm/load.ts';
import { ModelRunner } from '../../llm/runner.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const root = join(import.meta.dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const have = existsSync(CHROMIUM);
if (!have && process.env.CI) throw new Error(`${CHROMIUM} is missing (CI installs Debian's chromium)`);
const golden = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/golden_stories260K.json'), 'utf8'));
const shots = join(root, 'test-results');
let server: Server | undefined;
afterAll(() => server?.close());

describe.skipIf(!have)(`the browser page${have ? '' : ' (skipped: no chromium)'}`, () => {
  it('teacher and a bitnet158 student generate side by side with WebGPU and with the Wasm fallback', async () => {
    const student = join(mkdtempSync(join(tmpdir(), 'obt-page-')), 'bitnet158.obtm');
    const q = ['quantize', '--method', 'bitnet158', '--steps', '2', '--batch', '1', '--seq', '16', '--no-eval'];
    expect(await main([...q, '--out', student], { out: () => {}, err: () => {} })).toBe(0);
    // the student's greedy ids in Node, the reference for the page's
    const sm = await loadModel(student);
    const dec = ModelRunner.fromFile(sm, { kind: 'wasm' }).decoder(64);
    const want: number[] = [];
    for (let pos = 0, tok = 1; pos < 64; pos++) {
      const l = await dec.step(tok, pos);
      let best = 0;
      for (let j = 1; j < l.length; j++) if (l[j]! > l[best]!) best = j;
      if (best === 1 || best === 2) break;
      want.push((tok = best));
    }
    const site = await buildSite([join(root, 'data/stories260K.bin'), student], 128);
    const s = await startServer(site, 0);
    server = s.server;
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--enable-unsafe-webgpu'],
    });
    try {
      mkdirSync(shots, { recursive: true });
      for (const [query, backend] of [
        ['', /^WebGPU/],
        ['&backend=wasm&threads=2', /^Wasm-SIMD \(2 threads\)/],
      ] as const) {
        const page = await browser.newPage();
        await page.goto(`${s.url}?prompt=&temperature=0&steps=64${query}`);
        await page.waitForFunction(() => (window as unknown as { obt?: { done: boolean } }).obt?.done, null, {
          timeout: 90_000,
        });
        type Run = {
          name: string;
          layer: string;
          backend: string;
          ids: number[];
          tokensPerSecond: number;
          text: string;
        };
        const r = await page.evaluate(
          () => (window as unknown as { obt: { runs: Run[]; error?: string; webgpu?: string } }).obt,
        );
        expect(r.error).toBeUndefined();
        expect(r.runs.map((x) => x.layer)).toEqual(['Dense', 'BitNet158']);
        for (const run of r.runs) {
          expect(run.backend).toMatch(backend);
          expect(run.tokensPerSecond).toBeGreaterThan(0);
        }
        expect(r.runs[0]!.ids).toEqual(golden.greedy_first64.ids);
        expect(r.runs[0]!.text).toMatch(/^Once upon a time/);
        expect(r.runs[1]!.ids).toEqual(want);
        if (query) expect(r.webgpu).toBe('Wasm requested (?backend=wasm)');
        await page.screenshot({ path: join(shots, `browser-${query ? 'wasm' : 'webgpu'}.png`), fullPage: true });
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 180_000);
});
