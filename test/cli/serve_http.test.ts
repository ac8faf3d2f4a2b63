// obtc serve's HTTP side under hostile requests (issue 17's list): bad %-escapes, a directory,
// `..` and encoded traversal, absolute paths, a symlink out of the site, NUL bytes, methods other
// than GET/HEAD, an over-long URL and over-long headers — each answered with the right status, the
// server still answering afterwards; HEAD gives the headers without a body; it listens on
// 127.0.0.1 only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { MAX_URL, startServer } from '../../cli/serve_http.ts';

let dir: string;
let server: Server;
let port: number;

/** One raw HTTP/1.1 exchange (so that malformed request lines reach the server as sent). */
function raw(request: string): Promise<{ status: number; head: string; body: string }> {
  return new Promise((ok, fail) => {
    const s = connect(port, '127.0.0.1', () => s.write(request));
    let data = '';
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('end', () => {
      const [head, ...rest] = data.split('\r\n\r\n');
      ok({
        status: Number(/^HTTP\/1\.1 (\d+)/.exec(head ?? '')?.[1] ?? 0),
        head: head ?? '',
        body: rest.join('\r\n\r\n'),
      });
    });
    s.on('error', fail);
  });
}
const get = (path: string, method = 'GET', extra = '') =>
  raw(`${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${extra}\r\n`);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'obt-serve-'));
  mkdirSync(join(dir, 'page'));
  mkdirSync(join(dir, 'site/model'), { recursive: true });
  writeFileSync(join(dir, 'page/index.html'), '<p>page</p>');
  writeFileSync(join(dir, 'site/app.js'), 'console.log(1)');
  writeFileSync(join(dir, 'secret.txt'), 'secret');
  symlinkSync(join(dir, 'secret.txt'), join(dir, 'site/link.txt'));
  ({ server } = await startServer(join(dir, 'page'), join(dir, 'site'), 0));
  const a = server.address();
  port = typeof a === 'object' && a ? a.port : 0;
  expect(typeof a === 'object' && a?.address).toBe('127.0.0.1');
});

afterAll(() => {
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('obtc serve (HTTP)', () => {
  it('serves the page and the site with the isolation headers', async () => {
    const p = await get('/');
    expect(p.status).toBe(200);
    expect(p.body).toBe('<p>page</p>');
    expect(p.head).toMatch(/cross-origin-embedder-policy: require-corp/i);
    const a = await get('/app.js');
    expect(a.status).toBe(200);
    expect(a.head).toMatch(/content-type: text\/javascript/i);
  });

  it('refuses what is not a file inside its folders, and keeps answering', async () => {
    const cases: [string, number][] = [
      ['/%ff', 400], // a bad escape (was: URIError, the process exited)
      ['/%E0%A4%A', 400],
      ['/model', 404], // a directory (was: EISDIR, the process exited)
      ['/model/', 404],
      ['/../secret.txt', 404],
      ['/%2e%2e/secret.txt', 404],
      ['/%2e%2e%2fsecret.txt', 404],
      ['/..%5csecret.txt', 404],
      [`/${join(dir, 'secret.txt')}`, 404], // an absolute path
      ['/link.txt', 404], // a symlink out of the site
      ['/app.js%00.html', 400],
      ['/nope.js', 404],
    ];
    for (const [path, status] of cases) {
      const r = await get(path);
      expect([path, r.status]).toEqual([path, status]);
      expect(r.body).not.toContain('secret');
    }
    expect((await get('/app.js')).status).toBe(200);
  });

  it('answers only GET and HEAD; HEAD has no body', async () => {
    for (const m of ['POST', 'DELETE', 'PUT', 'OPTIONS']) {
      const r = await get('/app.js', m, 'Content-Length: 0\r\n');
      expect([m, r.status]).toEqual([m, 405]);
      expect(r.head).toMatch(/allow: GET, HEAD/i);
    }
    const h = await get('/app.js', 'HEAD');
    expect(h.status).toBe(200);
    expect(h.head).toMatch(/content-length: 14/i);
    expect(h.body).toBe('');
  });

  it('bounds the URL and the headers', async () => {
    expect((await get('/' + 'a'.repeat(MAX_URL + 10))).status).toBe(414);
    expect((await get('/app.js', 'GET', `X-Big: ${'b'.repeat(20_000)}\r\n`)).status).toBe(431);
    expect((await raw('GARBAGE\r\n\r\n')).status).toBe(400);
    expect((await get('/app.js')).status).toBe(200);
  });
});
