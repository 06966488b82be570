// Adversarial participants for tests and demos (`webloco peer --behavior …`): a RoundBackend's
// contribution transformed by src/engine/adversary.ts, and the forged announcement a `forged`
// peer signs. The Gauntlet must keep every one of them out of the model.
import type { HttpChain } from '../chain/http-chain.ts';
import { adversarialPayload, trains, type Behavior } from '../engine/adversary.ts';
import type { Peer } from '../engine/peer.ts';
import { ANNOUNCEMENT_KIND, signAnnouncement, type SignedAnnouncement } from '../identity/announcement.ts';
import type { Hex } from '../identity/fields.ts';
import type { Session } from '../identity/session.ts';
import { toContentHash } from '../base/content-hash.ts';
import { PAYLOAD_PROTOCOL } from '../swarm/protocol.ts';
import type { Swarm } from '../swarm/swarm.ts';

/**
 * What an adversarial `webloco peer` sends (src/engine/adversary.ts): its honest contribution
 * transformed, or, for the behaviours that do not train, something made without a GPU step. A
 * copycat waits for another peer's announced payload of the round and fetches it from the hub.
 */
export class Adversary {
  private previous: Uint8Array | null = null;
  private readonly announced = new Map<number, string[]>();

  constructor(
    private readonly behavior: Behavior,
    private readonly engine: Peer,
    private readonly swarm: Swarm,
    private readonly hubPeerId: string,
  ) {
    swarm.addEventListener('announcement', (e) => {
      const { round, payloadHash } = e.detail.message.announcement;
      this.announced.set(round, [...(this.announced.get(round) ?? []), toContentHash(payloadHash)]);
    });
  }

  async contribute(round: number): Promise<{ payload: Uint8Array | null; cancelled: boolean; skipped?: string }> {
    const honest = trains(this.behavior) ? (await this.engine.contribute(round)).contribution : null;
    const payload = adversarialPayload(this.behavior, {
      origin: { runId: this.engine.identity.runId, round, baseModelHash: this.engine.modelHashBytes },
      wire: this.engine.wire,
      layout: this.engine.layout.tensors,
      honest,
      previous: this.previous,
      earlier: this.behavior === 'copycat' ? await this.earlier(round) : [],
      seed: round * 7919 + 17,
    });
    if (payload) this.previous = payload;
    return { payload, cancelled: false, ...(payload ? {} : { skipped: `${this.behavior}: nothing to send this round` }) };
  }

  /** Payloads others announced this round (waiting up to 20 s for the first), fetched from the hub. */
  private async earlier(round: number): Promise<Uint8Array[]> {
    for (let waited = 0; !this.announced.get(round)?.length && waited < 20_000; waited += 250) await new Promise((r) => setTimeout(r, 250));
    const out: Uint8Array[] = [];
    for (const hash of this.announced.get(round) ?? []) {
      try {
        out.push(await this.swarm.fetch(PAYLOAD_PROTOCOL, this.hubPeerId, hash, { timeoutMs: 10_000 }));
      } catch {
        // not copied by the hub yet: try the next
      }
    }
    return out;
  }
}

/** An announcement naming another registered peer's session binding, signed with this session's key. */
export async function forgedAnnouncement(
  chain: Pick<HttpChain, 'metagraph'>,
  session: Session,
  fields: { round: number; baseModelHash: Hex; payloadHash: Hex; bytes: number },
): Promise<SignedAnnouncement> {
  const victim = (await chain.metagraph()).neurons.find((n) => n.binding.id !== session.id);
  return signAnnouncement(session.key, {
    kind: ANNOUNCEMENT_KIND,
    run: session.signed.binding.run,
    binding: victim?.binding.id ?? session.id,
    nonce: fields.round,
    ...fields,
  });
}
