// The run's first hub's own read-only routes, mounted by hub.ts before http.ts's (docs/PROTOCOL.md,
// "HTTP API"): each decided round's public record with every commit left out and why, what the hub
// keeps, the wall's peers page by page, and a 410 for a Gauntlet judgement older than what it keeps.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WALL_PEERS, type Retention, type RoundRecord, type WallPeersPage } from '../run/api.ts';
import { sendJson, type HubRoute } from './http.ts';

export interface RoundRoutesSources {
  /** A decided round's record (undefined before its decision is on the chain). */
  round(round: number): Promise<RoundRecord | undefined>;
  retention(): Promise<Retention>;
  wallPeers(offset: number, limit: number): Promise<WallPeersPage>;
}

const ROUND_PATH = /^\/api\/rounds\/(\d{1,10})$/;
const JUDGED_PATH = /^\/api\/gauntlet\/rounds\/(\d{1,10})$/;

export function roundRoutes(sources: RoundRoutesSources): HubRoute {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://hub');
    } catch {
      return false; // http.ts answers malformed URLs
    }
    const path = url.pathname;
    const round = ROUND_PATH.exec(path) ?? JUDGED_PATH.exec(path);
    if (round) {
      const r = Number(round[1]);
      const { fromRound } = await sources.retention();
      if (r < fromRound) {
        sendJson(res, 410, {
          error: `round ${r} is older than this hub keeps: its payloads and records are gone (it keeps rounds from ${fromRound} on; GET /api/retention, docs/PROTOCOL.md "Retention")`,
        });
        return true;
      }
      if (JUDGED_PATH.test(path)) return false; // http.ts serves the Gauntlet's judgements
      const record = await sources.round(r);
      if (record) sendJson(res, 200, record);
      else sendJson(res, 404, { error: `round ${r} has not been decided yet` });
      return true;
    }
    if (path === '/api/retention') {
      sendJson(res, 200, await sources.retention());
      return true;
    }
    if (path === '/api/wall/peers') {
      const offset = count(url.searchParams.get('offset'), 0);
      const limit = count(url.searchParams.get('limit'), WALL_PEERS);
      if (offset === undefined || limit === undefined || limit < 1 || limit > WALL_PEERS)
        sendJson(res, 400, { error: `offset and limit are plain decimal integers, limit 1..${WALL_PEERS}` });
      else sendJson(res, 200, await sources.wallPeers(offset, limit));
      return true;
    }
    return false;
  };
}

/** A query parameter that must be plain decimal digits, or `absent` when missing; undefined when malformed. */
function count(value: string | null, absent: number): number | undefined {
  if (value === null) return absent;
  return /^\d{1,9}$/.test(value) ? Number(value) : undefined;
}
