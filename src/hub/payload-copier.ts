// The hub keeps a copy of every committed payload, so that it stays available after its sender
// leaves: for the decision, for members fetching it and for audits. Only what the chain vouches
// for is copied, so what a stranger can make the hub store is bounded by what the chain accepts
// (one commit per binding per round): for each commit of the round in progress (and the one just
// closed) it fetches the payload from the binding's own peer (the binding proves that peer id), no
// longer than the announced size nor the wire layout's longest valid payload, and stores it only
// if its header is its commit's (run, round, base model hash, layout). Gossiped announcements
// alone are never copied: they cost nothing to make. docs/PROTOCOL.md, "Hub".
import { toContentHash, type ContentHash } from '../base/content-hash.ts';
import { CodedError, errorMessage } from '../base/errors.ts';
import { hexToBytes } from '../base/hex.ts';
import { printable } from '../base/log-text.ts';
import type { Chain } from '../chain/chain.ts';
import type { Announcement } from '../identity/announcement.ts';
import { CodecError, PayloadDecoder } from '../sparseloco/codec.ts';
import type { WireLayout } from '../sparseloco/types.ts';
import type { ContentStore } from '../swarm/content.ts';
import { PAYLOAD_PROTOCOL } from '../swarm/protocol.ts';
import type { Swarm } from '../swarm/swarm.ts';

/** Commits waiting to be copied; past this the decision fetches what the copier did not (coordinator.ts). */
const MAX_QUEUED = 1024;
const CONCURRENT_COPIES = 4;

/** A fetched object that cannot be its commit's payload. */
export class PayloadRefused extends CodedError<'too-large' | 'header-mismatch'> {}

/**
 * Checks that `bytes`, fetched under a commit's payload hash, are a payload of that commit: a header
 * naming the run, the commit's round and base model hash, and the layout. The body is left to the
 * decision (the Gauntlet scores a malformed body; take-all leaves it out).
 */
export function checkCommittedPayload(decoder: PayloadDecoder, runId: string, announcement: Announcement, bytes: Uint8Array): void {
  try {
    decoder.readHeader(bytes, {
      expect: { runId, round: announcement.round, baseModelHash: hexToBytes(announcement.baseModelHash) },
    });
  } catch (err) {
    if (!(err instanceof CodecError)) throw err;
    throw new PayloadRefused(
      err.code === 'too-large' ? 'too-large' : 'header-mismatch',
      `payload ${toContentHash(announcement.payloadHash)} is not round ${announcement.round}'s committed payload: ${err.message}`,
    );
  }
}

/** The largest payload a commit may name: its announced size, never more than the longest valid payload. */
export function committedPayloadLimit(decoder: PayloadDecoder, announcement: Announcement): number {
  if (announcement.bytes > decoder.maxBytes)
    throw new PayloadRefused(
      'too-large',
      `the commit announces ${announcement.bytes} bytes, more than the ${decoder.maxBytes} of the longest valid payload`,
    );
  return announcement.bytes;
}

export interface CopierOptions {
  swarm: Swarm;
  store: ContentStore;
  chain: Pick<Chain, 'run' | 'clock' | 'onHead' | 'commits' | 'binding'>;
  wire: WireLayout;
}

/** Starts copying committed payloads into `store`; returns the function that stops it. */
export function copyCommittedPayloads({ swarm, store, chain, wire }: CopierOptions): () => void {
  const decoder = new PayloadDecoder(wire);
  const queue: Announcement[] = [];
  /** Per round, the bindings whose commit was queued (the chain takes one commit per binding per round). */
  const seen = new Map<number, Set<string>>();
  let active = 0;
  let scanning = false;

  const copy = async (announcement: Announcement): Promise<void> => {
    const hash: ContentHash = toContentHash(announcement.payloadHash);
    if (await store.has(hash)) return;
    const maxBytes = committedPayloadLimit(decoder, announcement);
    const signer = await chain.binding(announcement.binding);
    if (!signer) return; // the chain took the commit, so the binding was registered: replaced since
    const bytes = await swarm.fetch(PAYLOAD_PROTOCOL, signer.binding.peerId, hash, { maxBytes });
    checkCommittedPayload(decoder, chain.run, announcement, bytes);
    await store.put(bytes);
  };
  const pump = (): void => {
    while (active < CONCURRENT_COPIES && queue.length > 0) {
      const announcement = queue.shift()!;
      active++;
      copy(announcement)
        .catch((err: unknown) =>
          console.error(
            `hub: not copying round ${announcement.round}'s payload ${announcement.payloadHash}: ${printable(errorMessage(err))}`,
          ),
        )
        .finally(() => {
          active--;
          pump();
        });
    }
  };
  const scan = async (round: number): Promise<void> => {
    const bindings = seen.get(round) ?? new Set<string>();
    seen.set(round, bindings);
    for (const { announcement } of await chain.commits(round)) {
      if (bindings.has(announcement.binding)) continue;
      bindings.add(announcement.binding);
      if (queue.length < MAX_QUEUED) queue.push(announcement);
    }
    pump();
  };
  const stop = chain.onHead((head) => {
    if (scanning) return; // the next head scans again
    const round = chain.clock.roundAt(head.height);
    for (const r of seen.keys()) if (r < round - 1) seen.delete(r);
    scanning = true;
    // The round just closed too: its last commits land in its last block.
    Promise.all([...(round > 0 ? [scan(round - 1)] : []), scan(round)])
      .catch((err: unknown) => console.error(`hub: reading round ${round}'s commits failed: ${printable(errorMessage(err))}`))
      .finally(() => (scanning = false));
  });
  return stop;
}
