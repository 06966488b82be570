// What each registered peer says of itself: training, or paused and why (its person, battery,
// heat, idle-only mode, a data cap, a lost GPU), with its intensity and the machine's pressure.
// A tab posts it (POST /api/peers/status) whenever it changes, signed by its session key; the hub
// keeps the latest claim of each binding (one per registered binding, so the memory is bounded by
// the chain's registrations, not by requests) and the wall shows it beside what the chain says.
// It is a claim the hub cannot check, shown as such; it never affects a decision.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../chain/routes.ts';
import { IdentityError } from '../identity/errors.ts';
import type { VerifiedBinding } from '../identity/binding.ts';
import type { Hex } from '../identity/fields.ts';
import { MAX_PEER_STATUS_BYTES, verifyPeerStatus, type PeerStatus } from '../identity/peer-status.ts';
import { sendJson, type HubRoute } from './http.ts';

const PEER_STATUS_PATH = '/api/peers/status';

/** A claim may be this far ahead of the hub's clock (ms): clocks differ; further is refused. */
const MAX_CLOCK_AHEAD_MS = 60_000;
/** A claim older than this (ms) is shown as stale: the tab may have closed without saying so. */
const PEER_STATUS_FRESH_MS = 5 * 60_000;

export interface PeerStatusSources {
  runId: string;
  /** The chain's binding of this id, if registered. */
  binding(id: Hex): Promise<VerifiedBinding | undefined>;
  now?: () => number;
}

export class PeerStatuses {
  /** The latest status of each binding, by binding id. */
  private readonly latest = new Map<Hex, PeerStatus>();

  constructor(private readonly sources: PeerStatusSources) {}

  private now(): number {
    return this.sources.now?.() ?? Date.now();
  }

  /**
   * Verifies and keeps a signed status (throws IdentityError saying why not): its signature by the
   * session key of a registered, unexpired binding of this run, `at` not far ahead of the hub's
   * clock and later than the binding's last claim (so an old claim cannot be replayed).
   */
  async accept(body: unknown): Promise<PeerStatus> {
    const now = this.now();
    const { status } = await verifyPeerStatus(body, { run: this.sources.runId, bindingOf: (id) => this.sources.binding(id), now });
    if (status.at > now + MAX_CLOCK_AHEAD_MS)
      throw new IdentityError('malformed', `status.at is ${status.at - now} ms ahead of the hub's clock (at most ${MAX_CLOCK_AHEAD_MS})`);
    const last = this.latest.get(status.binding);
    if (last && status.at <= last.at)
      throw new IdentityError('replay', `binding ${status.binding} already said something at ${last.at}, not before ${status.at}`);
    this.latest.set(status.binding, status);
    return status;
  }

  /** The binding's latest status, with whether it is older than PEER_STATUS_FRESH_MS. */
  of(binding: Hex): (PeerStatus & { stale: boolean }) | undefined {
    const status = this.latest.get(binding);
    return status && { ...status, stale: this.now() - status.at > PEER_STATUS_FRESH_MS };
  }
}

/** POST /api/peers/status: 204 when kept; 400 malformed, 403 not the binding's key, 404 unknown binding, 409 replayed, 413 too long. */
export function peerStatusRoute(statuses: PeerStatuses): HubRoute {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if ((req.url ?? '').split('?')[0] !== PEER_STATUS_PATH) return false;
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      sendJson(res, 405, { error: `${PEER_STATUS_PATH} takes a POST of a signed status (docs/PROTOCOL.md, "Peer status")` });
      return true;
    }
    const body = await readBody(req, MAX_PEER_STATUS_BYTES);
    if (body.length > MAX_PEER_STATUS_BYTES) {
      sendJson(res, 413, { error: `a peer status is at most ${MAX_PEER_STATUS_BYTES} bytes` });
      return true;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (err) {
      sendJson(res, 400, { error: `the body is not JSON: ${(err as Error).message}` });
      return true;
    }
    try {
      await statuses.accept(parsed);
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      const status = err.code === 'bad-signature' ? 403 : err.code === 'unknown-binding' ? 404 : err.code === 'replay' ? 409 : 400;
      sendJson(res, status, { error: err.message, code: err.code });
      return true;
    }
    res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
    return true;
  };
}
