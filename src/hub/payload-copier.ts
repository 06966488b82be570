// The hub keeps a copy of every announced payload: it fetches each from its announcer (at most two
// at a time, no more than the announced size) so that it stays available after the announcer
// leaves, for the decision, for members fetching it and for audits.
import { toContentHash, type ContentHash } from '../base/content-hash.ts';
import { errorMessage } from '../base/errors.ts';
import { printable } from '../base/log-text.ts';
import type { SignedAnnouncement } from '../identity/announcement.ts';
import type { ContentStore } from '../swarm/content.ts';
import { PAYLOAD_PROTOCOL } from '../swarm/protocol.ts';
import type { Swarm } from '../swarm/swarm.ts';

/** Payloads waiting to be copied; announcements past this are dropped (the decision fetches what it misses). */
const MAX_QUEUED = 256;
const CONCURRENT_COPIES = 2;

/** Starts copying announced payloads into `store`; returns the function that stops it. */
export function copyAnnouncedPayloads(swarm: Swarm, store: ContentStore): () => void {
  const queue: { from: string; hash: ContentHash; bytes: number }[] = [];
  const queued = new Set<ContentHash>();
  let active = 0;
  const pump = (): void => {
    while (active < CONCURRENT_COPIES && queue.length > 0) {
      const { from, hash, bytes } = queue.shift()!;
      active++;
      swarm
        .fetch(PAYLOAD_PROTOCOL, from, hash, { maxBytes: bytes })
        .then((payload) => store.put(payload))
        .catch((err: unknown) => console.error(`hub: could not copy payload ${hash} from ${from}: ${printable(errorMessage(err))}`))
        .finally(() => {
          active--;
          queued.delete(hash);
          pump();
        });
    }
  };
  const onAnnouncement = (event: CustomEvent<{ from: string; message: SignedAnnouncement }>): void => {
    const { from, message } = event.detail;
    const hash = toContentHash(message.announcement.payloadHash);
    if (queued.has(hash) || queue.length >= MAX_QUEUED) return;
    queued.add(hash);
    void store.has(hash).then((held) => {
      if (held) queued.delete(hash);
      else {
        queue.push({ from, hash, bytes: message.announcement.bytes });
        pump();
      }
    });
  };
  swarm.addEventListener('announcement', onAnnouncement);
  return () => swarm.removeEventListener('announcement', onAnnouncement);
}
