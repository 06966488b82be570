// The hub's HTTP side: the built app (with a single-page-app fallback to index.html), the JSON
// API under /api/, and objects from the content store. Errors are JSON {"error": "..."} with
// the right status. Routes: docs/PROTOCOL.md, "Swarm" → "HTTP API".
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { toContentHash } from '../base/content-hash.ts';
import { errorMessage } from '../base/errors.ts';
import type { GauntletStandings, JudgedRoundRecord, RunInfo, WallView } from '../run/api.ts';
import type { DiskContentStore } from './object-store.ts';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
  '.wgsl': 'text/plain; charset=utf-8',
};

const MAX_URL_LENGTH = 2048;

export interface HubHttpOptions {
  /** The built app (vite build's dist/). */
  appDir: string;
  store: DiskContentStore;
  /** GET /api/run's body. */
  runInfo: () => RunInfo;
  /** The Gauntlet's public record: a round's judgement (for audits) and the standings; absent without it. */
  gauntlet?: {
    round(round: number): Promise<JudgedRoundRecord | undefined>;
    standings(): GauntletStandings;
  };
  /** GET /api/wall's body (the swarm wall, wall.ts); absent on a hub without the run's chain. */
  wall?: () => Promise<WallView>;
  /** Route handlers mounted before the hub's own (e.g. src/chain's chainRoutes); true = handled. */
  routes?: HubRoute[];
}

export type HubRoute = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

export function createHubHttpServer(options: HubHttpOptions): Server {
  const appDir = resolve(options.appDir);
  return createServer((req, res) => {
    handle(req, res, appDir, options).catch((err) => {
      if (!res.headersSent) sendJson(res, 500, { error: `internal error: ${errorMessage(err)}` });
      else res.destroy();
    });
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, appDir: string, options: HubHttpOptions): Promise<void> {
  const rawUrl = req.url ?? '/';
  if (rawUrl.length > MAX_URL_LENGTH) return sendJson(res, 414, { error: `URL longer than ${MAX_URL_LENGTH} characters` });
  for (const route of options.routes ?? []) if (await route(req, res)) return;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendJson(res, 405, { error: `method ${req.method} is not allowed: the hub's HTTP routes are read-only (GET)` });
  }
  let path: string;
  try {
    path = decodeURIComponent(new URL(rawUrl, 'http://hub').pathname);
  } catch {
    return sendJson(res, 400, { error: 'malformed URL: the path is not valid percent-encoded UTF-8' });
  }
  if (path.includes('\0')) return sendJson(res, 400, { error: 'malformed URL: the path contains a NUL byte' });

  if (path === '/api/run') return sendJson(res, 200, options.runInfo());
  if (path === '/api/wall') {
    if (!options.wall) return sendJson(res, 404, { error: "this hub does not host its run's chain: open the wall on the run's first hub" });
    return sendJson(res, 200, await options.wall());
  }
  if (path.startsWith('/api/objects/')) {
    let hash: string;
    try {
      hash = toContentHash(path.slice('/api/objects/'.length), 'an object name');
    } catch (err) {
      return sendJson(res, 400, { error: `${errorMessage(err)}: objects are named by their blake3 hash` });
    }
    const bytes = await options.store.get(hash);
    if (!bytes) return sendJson(res, 404, { error: `object ${hash} is not in this hub's store` });
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': bytes.byteLength,
      'Cache-Control': 'public, max-age=31536000, immutable',
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
    return;
  }
  if (path.startsWith('/api/gauntlet/') && options.gauntlet) {
    if (path === '/api/gauntlet/standings') return sendJson(res, 200, options.gauntlet.standings());
    const round = /^\/api\/gauntlet\/rounds\/(\d{1,10})$/.exec(path);
    if (!round)
      return sendJson(res, 404, { error: `no Gauntlet route ${path}: GET /api/gauntlet/standings or /api/gauntlet/rounds/<round>` });
    const judged = await options.gauntlet.round(Number(round[1]));
    if (judged === undefined) return sendJson(res, 404, { error: `round ${round[1]} has not been judged by this hub's Gauntlet` });
    return sendJson(res, 200, judged);
  }
  if (path === '/api' || path.startsWith('/api/'))
    return sendJson(res, 404, { error: `no API route ${path}; see docs/PROTOCOL.md for the routes` });
  return serveApp(req, res, appDir, path);
}

async function serveApp(req: IncomingMessage, res: ServerResponse, appDir: string, path: string): Promise<void> {
  const file = resolve(appDir, '.' + path);
  if (file !== appDir && !file.startsWith(appDir + sep)) return sendJson(res, 400, { error: 'path leads outside the app' });
  const found = await stat(file).then(
    (s) => (s.isFile() ? file : s.isDirectory() ? join(file, 'index.html') : null),
    () => null,
  );
  if (
    found &&
    (await stat(found).then(
      (s) => s.isFile(),
      () => false,
    ))
  )
    return sendFile(req, res, found);
  // Client-side routes (no extension) get the app's shell; missing assets are a plain 404.
  if (extname(path) === '') {
    const index = join(appDir, 'index.html');
    if (
      await stat(index).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      return sendFile(req, res, index);
    return sendJson(res, 503, { error: `the app is not built (${index} is missing): run npm run build` });
  }
  return sendJson(res, 404, { error: `no file ${path}` });
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
  const { size } = await stat(file);
  res.writeHead(200, { 'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream', 'Content-Length': size });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await new Promise<void>((done, fail) => {
    createReadStream(file).on('error', fail).pipe(res).on('finish', done).on('error', fail);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}
