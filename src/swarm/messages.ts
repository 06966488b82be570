// Gossip messages of a run: the canonical JSON (src/identity/canonical.ts) of the signed objects
// that identity and the chain define, so the bytes gossiped are the bytes signed and committed.
//   announce topic: a SignedAnnouncement {announcement, signature} (src/identity/announcement.ts)
//   decision topic: a SignedDecision {decision, signature} (src/chain/extrinsics.ts)
// Decoding checks the size limit, UTF-8 JSON, every field, the run, and (for a decision, which
// names its signer) the validator's signature. An announcement's signature needs its session
// binding from the chain, so the Swarm's `acceptGossip` hook verifies it. docs/PROTOCOL.md, "Swarm".
import { errorMessage } from '../base/errors.ts';
import { parseDecision, verifyValidatorStatement, type SignedDecision } from '../chain/extrinsics.ts';
import { parseAnnouncement, type SignedAnnouncement } from '../identity/announcement.ts';
import { canonicalBytes } from '../identity/canonical.ts';
import { expectHex, expectRecord } from '../identity/fields.ts';
import { MAX_ANNOUNCE_BYTES, MAX_DECISION_BYTES } from './protocol.ts';
import { ProtocolError } from './stream-bytes.ts';

export function encodeAnnouncementMessage(signed: SignedAnnouncement): Uint8Array {
  parseSignedAnnouncement(signed);
  return sized(canonicalBytes(signed), MAX_ANNOUNCE_BYTES, 'announcement');
}

export function decodeAnnouncementMessage(data: Uint8Array, runId: string): SignedAnnouncement {
  const signed = parseSignedAnnouncement(parseJson(data, MAX_ANNOUNCE_BYTES, 'announcement'));
  if (signed.announcement.run !== runId)
    throw new ProtocolError(`announcement for run '${signed.announcement.run}' on run '${runId}''s topic`, 'malformed-message');
  return signed;
}

export function encodeDecisionMessage(signed: SignedDecision): Uint8Array {
  verifyValidatorStatement(signed, 'decision', parseDecision);
  return sized(canonicalBytes(signed), MAX_DECISION_BYTES, 'decision');
}

/** Parses a gossiped decision and checks that its `validator` signed it (not that it may decide). */
export function decodeDecisionMessage(data: Uint8Array, runId: string): SignedDecision {
  const { statement, signature } = verifyValidatorStatement(parseJson(data, MAX_DECISION_BYTES, 'decision'), 'decision', parseDecision);
  if (statement.run !== runId)
    throw new ProtocolError(`decision for run '${statement.run}' on run '${runId}''s topic`, 'malformed-message');
  return { decision: statement, signature };
}

function parseSignedAnnouncement(value: unknown): SignedAnnouncement {
  const signed = expectRecord(value, 'signed announcement', ['announcement', 'signature']);
  return {
    announcement: parseAnnouncement(signed.announcement),
    signature: expectHex(signed.signature, 'signed announcement.signature', 64),
  };
}

function sized(bytes: Uint8Array, maxBytes: number, what: string): Uint8Array {
  if (bytes.byteLength > maxBytes)
    throw new ProtocolError(`${what} of ${bytes.byteLength} bytes exceeds the ${maxBytes}-byte limit`, 'malformed-message');
  return bytes;
}

function parseJson(data: Uint8Array, maxBytes: number, what: string): unknown {
  sized(data, maxBytes, what);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (err) {
    throw new ProtocolError(`${what} is not UTF-8 JSON: ${errorMessage(err)}`, 'malformed-message');
  }
}
