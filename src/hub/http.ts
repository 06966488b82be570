// The hub's HTTP side: the built app (with a single-page-app fallback to index.html), the JSON
// API under /api/, and objects from the content store. Errors are JSON {"error": "..."} with
// the right status. Every request first passes its address's rate limit, mounted routes included;
// a refusal sent before the request's body was read closes the connection. Served over HTTP, or
// HTTPS with the hub's certificate; libp2p's WebSockets share the port (shared-port.ts). Routes:
// docs/PROTOCOL.md, "Swarm" → "HTTP API".
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import { extname, join, resolve, sep } from 'node:path';
import { toContentHash } from '../base/content-hash.ts';
import { errorMessage } from '../base/errors.ts';
import type { GauntletStandings, JudgedRoundRecord, RunInfo, WallView } from '../run/api.ts';
import { RateLimiter, addressKey, type RateLimit } from '../swarm/rate-limit.ts';
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

/** Token buckets per client address (an IPv6 /64): every request takes from `requests`, a POST (or any non-GET) from `posts` too. */
export interface HttpRateLimits {
  requests: RateLimit;
  posts: RateLimit;
}

/**
 * Generous: a local swarm of ~10 members behind one address polls the chain every block, loads the
 * app and fetches objects without ever meeting them; they bound what one address can make the hub
 * do (signature checks and SQLite writes behind every POST).
 */
const DEFAULT_HTTP_RATE_LIMITS: HttpRateLimits = { requests: { burst: 1000, perSecond: 200 }, posts: { burst: 100, perSecond: 20 } };

export interface HubHttpOptions {
  /** The built app (vite build's dist/). */
  appDir: string;
  store: DiskContentStore;
  /** GET /api/run's body. */
  runInfo: () => RunInfo | Promise<RunInfo>;
  /** The Gauntlet's public record: a round's judgement (for audits) and the standings; absent without it. */
  gauntlet?: {
    round(round: number): Promise<JudgedRoundRecord | undefined>;
    standings(): GauntletStandings;
  };
  /** GET /api/wall's body (the swarm wall, wall.ts); absent on a hub without the run's chain. */
  wall?: () => Promise<WallView>;
  /** Route handlers mounted before the hub's own (e.g. src/chain's chainRoutes); true = handled. */
  routes?: HubRoute[];
  /** Per-address rate limits (default DEFAULT_HTTP_RATE_LIMITS: 1000 + 200/s requests, 100 + 20/s POSTs). */
  rateLimits?: Partial<HttpRateLimits>;
}

export type HubRoute = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** The hub's certificate chain and private key (PEM), for HTTPS and WSS on its one port. */
export interface TlsCredentials {
  cert: string | Buffer;
  key: string | Buffer;
}

/** The hub's HTTP or, with a certificate, HTTPS server. */
export type HubServer = Server | TlsServer;

/**
 * A server that answers 503 until `serve` hands it the hub's handler: it listens first, because
 * libp2p's WebSockets listener (shared-port.ts) is driven by its upgrades.
 */
export function startingHubServer(tls: TlsCredentials | undefined): { server: HubServer; serve(handler: RequestListener): void } {
  let handler: RequestListener = (_req, res) => {
    res.setHeader('Retry-After', '1');
    sendJson(res, 503, { error: 'the hub is starting: retry in a second' });
  };
  const listener: RequestListener = (req, res) => handler(req, res);
  return {
    server: tls ? createTlsServer({ cert: tls.cert, key: tls.key }, listener) : createServer(listener),
    serve: (h) => (handler = h),
  };
}

export function createHubHttpServer(options: HubHttpOptions): Server {
  return createServer(hubRequestHandler(options));
}

/** The hub's request handler: the rate limits, then the mounted routes, the API and the app. */
export function hubRequestHandler(options: HubHttpOptions): RequestListener {
  const appDir = resolve(options.appDir);
  const limits = { ...DEFAULT_HTTP_RATE_LIMITS, ...options.rateLimits };
  const requests = new RateLimiter(limits.requests);
  const posts = new RateLimiter(limits.posts);
  return (req, res) => {
    const client = addressKey(req.socket.remoteAddress) ?? 'unknown';
    const limiter = !requests.take(client)
      ? requests
      : req.method !== 'GET' && req.method !== 'HEAD' && !posts.take(client)
        ? posts
        : undefined;
    if (limiter) {
      const seconds = Math.max(1, Math.ceil(limiter.retryAfterMs(client) / 1000));
      res.setHeader('Retry-After', String(seconds));
      return sendJson(res, 429, { error: `too many requests from your address: retry in ${seconds} s` });
    }
    handle(req, res, appDir, options).catch((err) => {
      if (!res.headersSent) sendJson(res, 500, { error: `internal error: ${errorMessage(err)}` });
      else res.destroy();
    });
  };
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

  if (path === '/api/run') return sendJson(res, 200, await options.runInfo());
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
    // Streamed from its verified file: a checkpoint is hundreds of MB, never read whole per request.
    const object = await options.store.verifiedFile(hash);
    if (!object) return sendJson(res, 404, { error: `object ${hash} is not in this hub's store` });
    return sendFile(req, res, object.path, {
      'Content-Type': 'application/octet-stream',
      'Cache-Control': 'public, max-age=31536000, immutable',
    });
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

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, headers: Record<string, string> = {}): Promise<void> {
  const { size } = await stat(file);
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': size,
    ...headers,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await new Promise<void>((done, fail) => {
    createReadStream(file).on('error', fail).pipe(res).on('finish', done).on('error', fail);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    // Refused before its body was read (a 405, a 429 on a POST): close rather than read the rest.
    ...(bodyUnread(res.req) ? { Connection: 'close' } : {}),
  });
  res.end(text);
}

/** The request carries a body that has not all arrived yet. */
function bodyUnread(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return !req.complete && (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0'));
}
