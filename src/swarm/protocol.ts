// The swarm's wire constants in one place: protocol ids, topic names, frame and message size
// limits, and the default per-peer rate limits. docs/PROTOCOL.md (section "Swarm") specifies
// each of them; a change here is a protocol change and bumps the version in the id.

/** Request/response protocols that move bytes named by their blake3 hash. */
export const PAYLOAD_PROTOCOL = '/webloco/payload/1';
export const CHECKPOINT_PROTOCOL = '/webloco/checkpoint/1';
export type TransferProtocol = typeof PAYLOAD_PROTOCOL | typeof CHECKPOINT_PROTOCOL;

/** Largest object each protocol will send or accept; checked before anything is allocated. */
export const MAX_OBJECT_BYTES: Record<TransferProtocol, number> = {
  // A `base` update is a few MB; 64 MiB leaves room for larger presets and denser settings.
  [PAYLOAD_PROTOCOL]: 64 * 1024 * 1024,
  // model.safetensors of `base` is about 494 MB of f32.
  [CHECKPOINT_PROTOCOL]: 1024 * 1024 * 1024,
};

/** Bytes of one data frame's body: at most 1 MiB. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** A request is exactly one raw blake3 digest. */
export const HASH_BYTES = 32;
/** Longest error message a responder sends (UTF-8 bytes). */
export const MAX_ERROR_MESSAGE_BYTES = 1024;

/** Response status byte. */
export const Status = {
  ok: 0,
  notFound: 1,
  badRequest: 2,
  rateLimited: 3,
  tooLarge: 4,
  internal: 5,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

/** Gossip topics of a run; `runId` is checked by `assertRunId`. */
export function announceTopic(runId: string): string {
  return `/webloco/${assertRunId(runId)}/announce/1`;
}
export function decisionTopic(runId: string): string {
  return `/webloco/${assertRunId(runId)}/decision/1`;
}
/** Peer discovery (@libp2p/pubsub-peer-discovery's signed peer records), one topic per run. */
export function discoveryTopic(runId: string): string {
  return `/webloco/${assertRunId(runId)}/peers/1`;
}

/** Largest gossip message body per topic kind (gossipsub drops >4 MiB silently; ours are small). */
export const MAX_ANNOUNCE_BYTES = 4 * 1024;
/** A decision lists at most 256 payload hashes (src/chain): about 18 KB of JSON. */
export const MAX_DECISION_BYTES = 64 * 1024;
/** Gossipsub refuses to decode any message whose data exceeds this (a hard cap under ours). */
export const MAX_GOSSIP_DATA_BYTES = 256 * 1024;

/** Default per-peer token bucket for inbound requests on each transfer protocol. */
export const DEFAULT_REQUEST_RATE = { burst: 32, perSecond: 4 };
/**
 * Default per-address token bucket on each transfer protocol, shared by every peer id on one IP:
 * eight peers' worth, so that a household or a local swarm of ~10 behind one address fetches a
 * round's payloads unthrottled, while fresh peer ids no longer multiply an address's budget.
 */
export const DEFAULT_REQUEST_RATE_PER_ADDRESS = { burst: 256, perSecond: 32 };

const RUN_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function assertRunId(runId: string): string {
  if (!RUN_ID.test(runId)) throw new Error(`run id '${runId}' is not valid: use 1 to 64 characters from A-Z a-z 0-9 . _ -`);
  return runId;
}
