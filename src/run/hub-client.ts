// What a member (a tab, `webloco peer`, a validator, an auditor) reads from a hub over HTTP:
// the run (GET /api/run) and its chain (`connectToRun`: verified from genesis, sealed by the
// authority the member pinned), objects by hash (checked against the hash on arrival) and the
// Gauntlet's public records. Every read is capped in size before it is buffered: a hub that
// answers with more is refused, not read.
import { contentHash, type ContentHash } from '../base/content-hash.ts';
import { CodedError, errorMessage } from '../base/errors.ts';
import { HttpChain } from '../chain/http-chain.ts';
import { MAX_OBJECT_BYTES, PAYLOAD_PROTOCOL } from '../swarm/protocol.ts';
import type { ChainedRunInfo, IceServer, JudgedRoundRecord, Retention, RunInfo } from './api.ts';
import { PEER_STATUS_KIND, signPeerStatus, type PeerStatus, type SignedPeerStatus } from '../identity/peer-status.ts';
import type { Session } from '../identity/session.ts';
import type { Participant } from './participant.ts';

/** Largest JSON document a member reads from a hub (the run, the wall, a judged round). */
const MAX_JSON_BYTES = 8 * 1024 * 1024;

/**
 * The body of `response`, refused once it exceeds `maxBytes` (by its Content-Length before
 * reading, or while reading when the hub sends more than it declared or declares nothing).
 */
async function readCapped(response: Response, maxBytes: number, what: string): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new Error(`${what}: the hub sends ${declared} bytes, more than the ${maxBytes} allowed`);
  }
  if (!response.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new Error(`${what}: the hub sent more than the ${maxBytes} bytes allowed`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

async function readJson(response: Response, what: string): Promise<unknown> {
  const bytes = await readCapped(response, MAX_JSON_BYTES, what);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new Error(`${what}: the hub's answer is not JSON (${errorMessage(err)})`, { cause: err });
  }
}

/**
 * The run of the hub at `hubUrl`, or null when nothing there answers /api/run as a hub does (the
 * page was served by a plain static server or a dev server: the tab then trains on its own).
 */
export async function fetchRunInfo(hubUrl: string, signal?: AbortSignal): Promise<RunInfo | null> {
  let response: Response;
  try {
    response = await fetch(new URL('/api/run', hubUrl), { signal, headers: { accept: 'application/json' } });
  } catch {
    return null; // nothing listens there, or it is not reachable: not a hub
  }
  if (!response.ok || !(response.headers.get('content-type') ?? '').startsWith('application/json')) {
    await response.body?.cancel();
    return null;
  }
  const info = (await readJson(response, 'GET /api/run').catch(() => null)) as RunInfo | null;
  return info && typeof info.runId === 'string' && info.settings && info.hub && Array.isArray(info.hub.multiaddrs) ? info : null;
}

/** The run of a hub that hosts its chain; throws with what to do otherwise. */
export async function requireRunInfo(hubUrl: string, signal?: AbortSignal): Promise<ChainedRunInfo> {
  const info = await fetchRunInfo(hubUrl, signal);
  if (!info) throw new Error(`${hubUrl} is not a WebLoCo hub (GET /api/run did not answer with a run): use the address a hub printed`);
  if (info.round === null || !info.checkpoint || !info.chain || info.modelHash === null || !info.firstHub) {
    throw new Error(
      `the hub at ${hubUrl} relays run '${info.runId}' but cannot reach the hub that hosts its chain: use the run's first hub, or retry later`,
    );
  }
  return info as ChainedRunInfo;
}

/**
 * When the earliest TURN credential among `servers` expires (ms since the epoch; a `use-auth-secret`
 * username starts with its expiry in unix seconds), or undefined when none carries one.
 */
export function iceCredentialsExpiry(servers: readonly IceServer[]): number | undefined {
  const expiries = servers.map((s) => /^(\d{1,12}):/.exec(s.username ?? '')).flatMap((m) => (m ? [Number(m[1]) * 1000] : []));
  return expiries.length > 0 ? Math.min(...expiries) : undefined;
}

/**
 * ICE servers for each new WebRTC link: `initial` (from GET /api/run) until half their TURN
 * credentials' lifetime has passed, then fresh ones from the hub (the old ones if it does not answer).
 */
export function freshIceServers(hubUrl: string, initial: IceServer[]): () => Promise<IceServer[]> {
  let servers = initial;
  let fetchedAt = Date.now();
  return async () => {
    const expiry = iceCredentialsExpiry(servers);
    if (expiry !== undefined && Date.now() > fetchedAt + (expiry - fetchedAt) / 2) {
      const info = await fetchRunInfo(hubUrl, AbortSignal.timeout(10_000));
      if (info) {
        servers = info.iceServers;
        fetchedAt = Date.now();
      }
    }
    return servers;
  };
}

/** The run's authority as the member pinned it, and where the pin came from (for the refusal to say). */
export interface AuthorityPin {
  /** The SS58 address that seals the run's blocks. */
  address: string;
  /** Where it came from: '--authority', "the page's #authority", 'this browser's first visit', … */
  from: string;
}

/** The hub serves another chain than the run the member pinned. */
export class WrongAuthorityError extends CodedError<'wrong-authority'> {}

/**
 * The run of the hub at `hubUrl` and its chain, verified from genesis. With `authority` pinned the
 * chain must be sealed by it: a hub serving another chain (its own, or a fake's) is refused before
 * anything is taken from it. Without a pin the authority the hub names is taken on its word (a
 * member should say so); either way every block is verified against that one authority.
 */
export async function connectToRun(
  hubUrl: string,
  o: { authority?: AuthorityPin; fetch?: typeof fetch } = {},
): Promise<{ info: ChainedRunInfo; chain: HttpChain }> {
  const info = await requireRunInfo(hubUrl);
  const shown = info.chain.authority;
  if (o.authority && o.authority.address !== shown)
    throw new WrongAuthorityError(
      'wrong-authority',
      `the hub at ${hubUrl} serves a chain sealed by ${shown}, but ${o.authority.from} pins the run's authority ${o.authority.address}: ` +
        'this hub does not serve that run (a fake or replaced hub); refusing it',
    );
  const chain = await HttpChain.connect(hubUrl, { authority: o.authority?.address ?? shown, ...(o.fetch ? { fetch: o.fetch } : {}) });
  if (chain.run !== info.runId) {
    chain.close();
    throw new WrongAuthorityError(
      'wrong-authority',
      `the hub at ${hubUrl} names run '${info.runId}' but serves the chain of run '${chain.run}'`,
    );
  }
  return { info, chain };
}

/** An object from the hub's store by its blake3 hash, at most `maxBytes`, refused unless its bytes hash to it. */
export async function fetchHubObject(
  hubUrl: string,
  hash: ContentHash,
  maxBytes: number = MAX_OBJECT_BYTES[PAYLOAD_PROTOCOL],
): Promise<Uint8Array> {
  const res = await fetch(new URL(`/api/objects/${hash}`, hubUrl));
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`object ${hash}: the hub answered ${res.status}`);
  }
  const bytes = await readCapped(res, maxBytes, `object ${hash}`);
  if (contentHash(bytes) !== hash) throw new Error(`object ${hash}: the hub's bytes hash to something else`);
  return bytes;
}

/** A JSON route of the hub; its `{error}` becomes the thrown message. */
async function fetchHubJson<T>(hubUrl: string, path: string): Promise<T> {
  const res = await fetch(new URL(path, hubUrl));
  const body = (await readJson(res, `GET ${path}`)) as T & { error?: string };
  if (!res.ok) throw new Error(`GET ${path} answered ${res.status}: ${body.error ?? 'no reason given'}`);
  return body;
}

/** What the hub keeps (GET /api/retention): the rounds it can still serve and the checkpoints it holds. */
export function fetchRetention(hubUrl: string): Promise<Retention> {
  return fetchHubJson<Retention>(hubUrl, '/api/retention');
}

/** The Gauntlet's published judgement of `round` (GET /api/gauntlet/rounds/<round>). */
export function fetchJudgedRound(hubUrl: string, round: number): Promise<JudgedRoundRecord> {
  return fetchHubJson<JudgedRoundRecord>(hubUrl, `/api/gauntlet/rounds/${round}`);
}

/** Sends a member's signed status to its hub (POST /api/peers/status; a joining hub forwards it); throws with the hub's reason when refused. */
async function postPeerStatus(hubUrl: string, signed: SignedPeerStatus): Promise<void> {
  const response = await fetch(`${hubUrl}/api/peers/status`, { method: 'POST', body: JSON.stringify(signed) });
  if (response.status === 204) return;
  const body = (await readJson(response, 'the refusal of a peer status').catch(() => null)) as { error?: string } | null;
  throw new Error(`the hub refused this tab's status (${response.status}): ${body?.error ?? response.statusText}`);
}

/** What a member says of itself; the reporter adds the run, its binding, the time and its GPU's utilisation. */
export type PeerStatusReport = Omit<PeerStatus, 'kind' | 'run' | 'binding' | 'at' | 'gpuBusy'>;

/** A member training at full intensity, with nothing else to say (a headless member's status). */
const TRAINING_STATUS: PeerStatusReport = { state: 'training', reasons: [], intensity: 100, pressure: 'unknown', gpuRecoveries: 0 };

/**
 * Signs a member's statuses with its session key and sends them to its hub (POST
 * /api/peers/status), each with an `at` later than the last (the hub refuses an older or equal one
 * as a replay). What the member says goes out when it changes, and again after every round with
 * its GPU's utilisation since it joined.
 */
export class PeerStatusReporter {
  private lastAt = 0;
  private said: PeerStatusReport = TRAINING_STATUS;
  private gpuBusy: number | null = null;
  private afterRound: Promise<void> = Promise.resolve();

  constructor(
    private readonly hubUrl: string,
    private readonly runId: string,
    private readonly session: Session,
  ) {}

  /** Says `report`; throws with the hub's reason when it refuses. */
  say(report: PeerStatusReport): Promise<void> {
    this.said = report;
    return this.send();
  }

  /**
   * After each of `participant`'s rounds, says the last status again with its GPU's utilisation
   * since joining; a status the hub did not take is logged, not thrown.
   */
  follow(participant: Participant): void {
    participant.addEventListener('round', (e) => {
      this.gpuBusy = Math.round(e.detail.gpu.run.fraction * 1000);
      this.afterRound = this.send().catch((err: unknown) => console.warn(`peer status not sent: ${errorMessage(err)}`));
    });
  }

  /** Settles once the status sent after the latest round has been answered (a member stopping waits for it). */
  sent(): Promise<void> {
    return this.afterRound;
  }

  private async send(): Promise<void> {
    this.lastAt = Math.max(Date.now(), this.lastAt + 1);
    const status: PeerStatus = {
      kind: PEER_STATUS_KIND,
      run: this.runId,
      binding: this.session.id,
      at: this.lastAt,
      ...this.said,
      gpuBusy: this.gpuBusy,
    };
    await postPeerStatus(this.hubUrl, signPeerStatus(this.session.key, status));
  }
}
