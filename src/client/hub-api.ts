// What a participant, a validator or an auditor reads from a hub over HTTP: the run (GET
// /api/run) and objects by hash (GET /api/objects/<hash>, checked against the hash on arrival).
import type { CheckpointRef } from './participant.ts';
import { contentHash } from '../base/content-hash.ts';

export interface HubRunInfo {
  runId: string;
  settings: {
    preset: string;
    seed: number;
    batch: number;
    seqLen: number;
    innerSteps: number;
    rounds: number;
    blocksPerRound: number;
    blockTimeMs: number;
  };
  /** The round being trained; null on a hub that does not host the run's chain. */
  round: number | null;
  modelHash: string | null;
  checkpoint: CheckpointRef | null;
  hub: { peerId: string; multiaddrs: string[] };
}

/**
 * The run of the hub at `hubUrl`, or null when nothing there answers /api/run as a hub does (the
 * page was served by a plain static server or a dev server: the tab then trains on its own).
 */
export async function fetchRunInfo(hubUrl: string, signal?: AbortSignal): Promise<HubRunInfo | null> {
  let response: Response;
  try {
    response = await fetch(new URL('/api/run', hubUrl), { signal, headers: { accept: 'application/json' } });
  } catch {
    return null;
  }
  if (!response.ok || !(response.headers.get('content-type') ?? '').startsWith('application/json')) return null;
  const info = (await response.json().catch(() => null)) as HubRunInfo | null;
  return info && typeof info.runId === 'string' && info.hub && Array.isArray(info.hub.multiaddrs) ? info : null;
}

/**
 * True when `hubUrl` names this machine or a private network (loopback, RFC 1918, link-local,
 * .local): the tab may then dial private addresses and plain ws://, which browsers' libp2p
 * refuses by default, and needs no STUN server to find its peers.
 */
/** The run of a hub that hosts its chain; throws with what to do otherwise. */
export async function requireRunInfo(hubUrl: string): Promise<HubRunInfo & { round: number; checkpoint: CheckpointRef }> {
  const info = await fetchRunInfo(hubUrl);
  if (!info) throw new Error(`${hubUrl} does not answer GET /api/run as a hub does: is it the http address a hub printed?`);
  if (info.round === null || !info.checkpoint) throw new Error(`${hubUrl} does not host its run's chain: point at the run's first hub`);
  return info as HubRunInfo & { round: number; checkpoint: CheckpointRef };
}

/** An object from the hub's store by its blake3 hash, refused unless its bytes hash to it. */
export async function fetchHubObject(hubUrl: string, hash: string): Promise<Uint8Array> {
  const res = await fetch(new URL(`/api/objects/${hash}`, hubUrl));
  if (!res.ok) throw new Error(`object ${hash}: the hub answered ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if ((contentHash(bytes)) !== hash) throw new Error(`object ${hash}: the hub's bytes hash to something else`);
  return bytes;
}

/** A JSON route of the hub; its `{error}` becomes the thrown message. */
export async function fetchHubJson<T>(hubUrl: string, path: string): Promise<T> {
  const res = await fetch(new URL(path, hubUrl));
  const body = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(`${path} answered ${res.status}: ${body.error ?? 'no reason given'}`);
  return body;
}
