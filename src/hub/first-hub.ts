// A hub started with --bootstrap serves members of the run as fully as its first hub: it answers
// GET /api/run itself (its own peer id, addresses and ICE servers, with where the run stands as
// the first hub reports it) and forwards every other /api/ request (the chain, objects, records,
// the wall) to the first hub. A hub's HTTP API and its WebSockets share one port, so the first
// hub's URL follows from the multiaddr the hub was bootstrapped with. Members verify the chain
// they read from genesis against the authority they pinned, so the forwarding hub is a pipe they
// need not trust.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { multiaddr } from '@multiformats/multiaddr';
import { errorMessage } from '../base/errors.ts';
import { printable } from '../base/log-text.ts';
import type { ChainedRunInfo } from '../run/api.ts';
import { fetchRunInfo } from '../run/hub-client.ts';
import type { HubRoute } from './http.ts';

/** How long a copy of the first hub's run is served before asking again (ms). */
const RUN_CACHE_MS = 1_000;
/** Waiting for a forwarded answer's headers (ms); its body then streams for as long as it takes. */
const FORWARD_HEADERS_TIMEOUT_MS = 30_000;
/** Headers of the first hub's answer passed on to the member. */
const FORWARDED_HEADERS = ['content-type', 'content-length', 'cache-control', 'retry-after', 'allow', 'connection'];

/**
 * The HTTP(S) URL of the hub at `address` (`/ip4|ip6|dns4|dns6|dns/<host>/tcp/<port>/ws|wss|tls/ws[/p2p/<id>]`):
 * its API answers on the port its WebSockets use. Undefined for any other address.
 */
export function httpUrlOf(address: string): string | undefined {
  let components: { name: string; value?: string }[];
  try {
    components = multiaddr(address).getComponents();
  } catch {
    return undefined;
  }
  const [host, tcp, ...rest] = components;
  const names = rest.map((c) => c.name).filter((n) => n !== 'p2p');
  if (!host?.value || !/^(ip[46]|dns[46]?)$/.test(host.name) || tcp?.name !== 'tcp') return undefined;
  const secure = names.join('/') === 'wss' || names.join('/') === 'tls/ws';
  if (!secure && names.join('/') !== 'ws') return undefined;
  const hostname = host.name === 'ip6' ? `[${host.value}]` : host.value;
  return `${secure ? 'https' : 'http'}://${hostname}:${tcp.value}`;
}

/**
 * The first hub's run, as `url` serves it: waited for at start (a joining hub takes the run's id
 * and settings from it), then kept fresh for GET /api/run at most once a second.
 */
export class FirstHubRun {
  private latest: ChainedRunInfo;
  private fetchedAt: number;
  private refreshing: Promise<void> | undefined;

  private constructor(
    readonly url: string,
    info: ChainedRunInfo,
  ) {
    this.latest = info;
    this.fetchedAt = Date.now();
  }

  /** Asks `url` for its run until it answers as the run's first hub (with its chain), for up to `timeoutMs`. */
  static async reach(url: string, timeoutMs = 60_000): Promise<FirstHubRun> {
    const deadline = Date.now() + timeoutMs;
    let why = 'no answer';
    for (let attempt = 0; ; attempt++) {
      const info = await fetchRunInfo(url, AbortSignal.timeout(10_000)).catch((err: unknown) => {
        why = errorMessage(err);
        return null;
      });
      if (info?.chain && info.firstHub) return new FirstHubRun(url, info as ChainedRunInfo);
      if (info) why = `it relays run '${info.runId}' but does not host its chain`;
      if (Date.now() >= deadline)
        throw new Error(
          `the run's first hub at ${url} (from --bootstrap) did not answer GET /api/run with its run (${printable(why)}): start it first, or bootstrap from the hub that hosts the chain`,
        );
      await new Promise((wake) => setTimeout(wake, Math.min(5_000, 250 * 2 ** attempt)));
    }
  }

  /** The newest copy of the first hub's run; a failed refresh keeps serving the last one. */
  async run(): Promise<ChainedRunInfo> {
    if (Date.now() - this.fetchedAt > RUN_CACHE_MS)
      await (this.refreshing ??= fetchRunInfo(this.url, AbortSignal.timeout(5_000))
        .then((info) => {
          if (info?.chain && info.firstHub) {
            this.latest = info as ChainedRunInfo;
            this.fetchedAt = Date.now();
          }
        })
        .catch(() => {}) // unreachable for a moment: the last copy stands, and the next request asks again
        .finally(() => (this.refreshing = undefined)));
    return this.latest;
  }
}

/** Forwards every /api/ request but GET /api/run to the first hub at `url`, streaming both bodies. */
export function forwardToFirstHub(url: string): HubRoute {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    if (!path.startsWith('/api/') || /^\/api\/run(\?|$)/.test(path)) return false;
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const headersTimeout = setTimeout(() => abort.abort(), FORWARD_HEADERS_TIMEOUT_MS);
    let answer: Response;
    try {
      answer = await fetch(new URL(path, url), {
        method: req.method,
        headers: {
          ...(req.headers['content-type'] ? { 'content-type': req.headers['content-type'] } : {}),
          ...(req.headers['content-length'] ? { 'content-length': req.headers['content-length'] } : {}),
        },
        ...(hasBody ? { body: Readable.toWeb(req) as unknown as BodyInit, duplex: 'half' } : {}),
        signal: abort.signal,
      });
    } catch (err) {
      if (!res.headersSent) {
        res.writeHead(502, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(JSON.stringify({ error: `the run's first hub (${url}) did not answer: ${errorMessage(err)}; retry shortly` }));
      }
      return true;
    } finally {
      clearTimeout(headersTimeout);
    }
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_HEADERS) {
      const value = answer.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    res.writeHead(answer.status, headers);
    if (!answer.body || req.method === 'HEAD') {
      res.end();
      return true;
    }
    await new Promise<void>((done) => {
      Readable.fromWeb(answer.body as ReadableStream<Uint8Array>)
        .on('error', () => {
          res.destroy();
          done();
        })
        .pipe(res)
        .on('finish', done)
        .on('close', done);
    });
    return true;
  };
}
