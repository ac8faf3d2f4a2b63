// The browser page (examples/browser/, served by obtc serve): Playwright drives Debian's Chromium
// headless (never a downloaded browser); the page generates 64 greedy tokens from BOS with WebGPU
// (SwiftShader here) and with the Wasm fallback (?backend=wasm), both equal to the golden ids, and
// leaves a screenshot of each in test-results/. CI installs chromium; there a missing browser fails.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { buildSite, startServer } from '../../cli/serve.ts';

const root = join(import.meta.dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const have = existsSync(CHROMIUM);
if (!have && process.env.CI) throw new Error(`${CHROMIUM} is missing (CI installs Debian's chromium)`);
const golden = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/golden_stories260K.json'), 'utf8'));
const shots = join(root, 'test-results');
let server: Server | undefined;
afterAll(() => server?.close());

describe.skipIf(!have)(`the browser page${have ? '' : ' (skipped: no chromium)'}`, () => {
  it('generates the 64 golden greedy ids with WebGPU and with the Wasm fallback', async () => {
    const site = await buildSite(join(root, 'data/stories260K.bin'), 128);
    const s = await startServer(site, 0);
    server = s.server;
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--enable-unsafe-webgpu'],
    });
    try {
      mkdirSync(shots, { recursive: true });
      for (const [query, want] of [
        ['', /^WebGPU/],
        ['?backend=wasm&threads=2', /^Wasm-SIMD \(2 threads\)/],
      ] as const) {
        const page = await browser.newPage();
        await page.goto(`${s.url}${query}`);
        await page.waitForFunction(() => (window as unknown as { obt?: { done: boolean } }).obt?.done, null, {
          timeout: 90_000,
        });
        const r = await page.evaluate(
          () =>
            (
              window as unknown as {
                obt: { backend: string; ids: number[]; error?: string; tokensPerSecond: number; text: string };
              }
            ).obt,
        );
        expect(r.error).toBeUndefined();
        expect(r.backend).toMatch(want);
        expect(r.ids).toEqual(golden.greedy_first64.ids);
        expect(r.text).toMatch(/^Once upon a time/);
        expect(r.tokensPerSecond).toBeGreaterThan(0);
        await page.screenshot({ path: join(shots, `browser-${query ? 'wasm' : 'webgpu'}.png`) });
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 180_000);
});
