// obtc serve's HTTP side: serves index.html from the page folder and everything else from the
// built site folder, and nothing outside them — a request path is decoded (a bad %-escape is a
// 400), normalised, resolved and then resolved again through symlinks, and must land on a regular
// file inside one of the two roots; only GET and HEAD (405 otherwise, with Allow); URLs over
// MAX_URL bytes are refused (414) and headers over MAX_HEADER bytes by Node itself (431); it
// listens on 127.0.0.1 only. Every answer carries the COOP/COEP headers that make the page
// cross-origin isolated (shared memory, Wasm threads). No request can end the process: a failure
// while answering one is a 500 for that request.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { extname, normalize, resolve, sep } from 'node:path';
import { UserError } from '../compiler/syntax/diag.ts';

export const MAX_URL = 2048;
export const MAX_HEADER = 8192;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.wgsl': 'text/plain',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
};

const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cache-Control': 'no-store',
};

/** The regular file a request path names inside root (symlinks resolved), or undefined. */
function fileUnder(root: string, rel: string): string | undefined {
  let real: string;
  let rootReal: string;
  try {
    rootReal = realpathSync(root);
    real = realpathSync(resolve(root, rel));
  } catch {
    return undefined; // missing, or a dangling link
  }
  if (!real.startsWith(rootReal + sep)) return undefined;
  try {
    return statSync(real).isFile() ? real : undefined;
  } catch {
    return undefined;
  }
}

function answer(res: ServerResponse, code: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(code, { ...HEADERS, 'content-type': 'text/plain; charset=utf-8', ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

function handle(page: string, site: string, req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return answer(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
  if (Buffer.byteLength(url) > MAX_URL) return answer(res, 414, 'URL too long');
  let path: string;
  try {
    path = decodeURIComponent(new URL(url, 'http://x').pathname);
  } catch {
    return answer(res, 400, 'bad request path');
  }
  if (path.includes('\0')) return answer(res, 400, 'bad request path');
  const rel = normalize(path === '/' ? '/index.html' : path).replace(/^[/\\]+/, '');
  const file = fileUnder(rel === 'index.html' ? page : site, rel);
  if (!file) return answer(res, 404, 'not found');
  const body = readFileSync(file);
  res.writeHead(200, {
    ...HEADERS,
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': String(body.byteLength),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Serves the page folder's index.html and a built site on 127.0.0.1 (port 0: any free port). */
export async function startServer(page: string, site: string, port: number): Promise<{ url: string; server: Server }> {
  const server = createServer({ maxHeaderSize: MAX_HEADER }, (req, res) => {
    try {
      handle(page, site, req, res);
    } catch {
      if (!res.headersSent) answer(res, 500, 'internal error');
      else res.destroy();
    }
  });
  server.on('clientError', (e: Error & { code?: string }, socket) => {
    const status = e.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e) => fail(new UserError(`cannot listen on 127.0.0.1:${port}: ${(e as Error).message}`)));
    server.listen(port, '127.0.0.1', () => ok());
  });
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : port}/`, server };
}
