// Gossip messages of a run, as strict UTF-8 JSON: an object with exactly the listed keys, each of
// the stated type, no more than the topic's byte limit. Anything else is rejected by the topic
// validator before the message reaches the application or is forwarded. Schemas:
// docs/PROTOCOL.md, "Swarm".
import { isContentHash } from './content.ts';
import { MAX_ANNOUNCE_BYTES, MAX_DECISION_BYTES, MAX_DECISION_PAYLOADS } from './protocol.ts';

/** "I hold this object": a peer's update for a round, or a checkpoint of the model. */
export interface Announcement {
  v: 1;
  kind: 'payload' | 'checkpoint';
  /** The round (window) the payload was trained in, or the round the checkpoint's θ starts. */
  round: number;
  /** blake3 of the object's bytes: what to request over the transfer protocol. */
  hash: string;
  /** Exact size of the object in bytes. */
  bytes: number;
  /** The model hash: θ the payload was computed against, or θ the checkpoint holds. */
  modelHash: string;
}

/** The payloads that make the next model, published when a round closes. */
export interface Decision {
  v: 1;
  round: number;
  /** θ_round, which the payloads were computed against. */
  modelHash: string;
  /** The payloads to aggregate, in the order they are applied; unique. */
  payloads: string[];
  /** θ_{round+1}'s hash after applying them. */
  nextModelHash: string;
}

export class MessageError extends Error {
  override name = 'MessageError';
}

export function encodeAnnouncement(message: Announcement): Uint8Array {
  return encode(checkAnnouncement(message), MAX_ANNOUNCE_BYTES, 'announcement');
}

export function decodeAnnouncement(data: Uint8Array): Announcement {
  return checkAnnouncement(decode(data, MAX_ANNOUNCE_BYTES, 'announcement'));
}

export function encodeDecision(message: Decision): Uint8Array {
  return encode(checkDecision(message), MAX_DECISION_BYTES, 'decision');
}

export function decodeDecision(data: Uint8Array): Decision {
  return checkDecision(decode(data, MAX_DECISION_BYTES, 'decision'));
}

function encode(message: object, maxBytes: number, what: string): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify(message));
  if (bytes.byteLength > maxBytes) throw new MessageError(`${what} of ${bytes.byteLength} bytes exceeds the ${maxBytes}-byte limit`);
  return bytes;
}

function decode(data: Uint8Array, maxBytes: number, what: string): Record<string, unknown> {
  if (data.byteLength > maxBytes) throw new MessageError(`${what} of ${data.byteLength} bytes exceeds the ${maxBytes}-byte limit`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (err) {
    throw new MessageError(`${what} is not UTF-8 JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MessageError(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function exactKeys(value: object, keys: string[], what: string): void {
  const actual = Object.keys(value);
  const missing = keys.filter((k) => !actual.includes(k));
  const extra = actual.filter((k) => !keys.includes(k));
  if (missing.length || extra.length) throw new MessageError(`${what} must have exactly the keys ${keys.join(', ')}${missing.length ? `; missing ${missing.join(', ')}` : ''}${extra.length ? `; unexpected ${extra.join(', ')}` : ''}`);
}

function checkRound(value: unknown, what: string): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > 0xffffffff) throw new MessageError(`${what}.round must be an integer in [0, 2^32)`);
}

function checkHash(value: unknown, field: string): void {
  if (!isContentHash(value)) throw new MessageError(`${field} must be 64 lowercase hex characters`);
}

function checkAnnouncement(value: unknown): Announcement {
  const m = value as Record<string, unknown>;
  exactKeys(m, ['v', 'kind', 'round', 'hash', 'bytes', 'modelHash'], 'announcement');
  if (m.v !== 1) throw new MessageError(`announcement.v must be 1, got ${JSON.stringify(m.v)}`);
  if (m.kind !== 'payload' && m.kind !== 'checkpoint') throw new MessageError(`announcement.kind must be 'payload' or 'checkpoint'`);
  checkRound(m.round, 'announcement');
  checkHash(m.hash, 'announcement.hash');
  if (!Number.isSafeInteger(m.bytes) || (m.bytes as number) < 1 || (m.bytes as number) > 0xffffffff) throw new MessageError('announcement.bytes must be an integer in [1, 2^32)');
  checkHash(m.modelHash, 'announcement.modelHash');
  return m as unknown as Announcement;
}

function checkDecision(value: unknown): Decision {
  const m = value as Record<string, unknown>;
  exactKeys(m, ['v', 'round', 'modelHash', 'payloads', 'nextModelHash'], 'decision');
  if (m.v !== 1) throw new MessageError(`decision.v must be 1, got ${JSON.stringify(m.v)}`);
  checkRound(m.round, 'decision');
  checkHash(m.modelHash, 'decision.modelHash');
  checkHash(m.nextModelHash, 'decision.nextModelHash');
  if (!Array.isArray(m.payloads) || m.payloads.length > MAX_DECISION_PAYLOADS) throw new MessageError(`decision.payloads must be an array of at most ${MAX_DECISION_PAYLOADS} hashes`);
  m.payloads.forEach((h, i) => checkHash(h, `decision.payloads[${i}]`));
  if (new Set(m.payloads).size !== m.payloads.length) throw new MessageError('decision.payloads must not repeat a hash');
  return m as unknown as Decision;
}
