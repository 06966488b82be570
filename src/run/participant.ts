// A participant's rounds in a swarm, the same for a browser tab (its engine peer lives in the
// training worker) and a headless `webloco peer` (its engine peer in the same process):
//   join:  download the hub's newest checkpoint by hash (or take this peer's own saved θ when it
//          is as new), take it only if the chain vouches for its model hash (follow.ts:
//          checkVouchedModel), replay the chain's decisions since, and check the model hash each
//          decision names;
//   round: if the chain is still in round w, train and compress (RoundBackend.contribute), keep
//          the payload in the local store, commit it on chain and only then announce it (gossip,
//          signed by the session key): nobody can commit a payload hash before its author, and
//          the chain refuses it after (copied-payload). A commit that lands after round w's last
//          block is refused as late, and none is tried before the chain's binding age allows;
//          then wait for round w's decision, fetch its payloads (from whoever announced them,
//          else the hub), apply it, and compare the model hash with the decision's. A mismatch
//          means this peer is out of sync: it joins again from the newest checkpoint.
//   fetch: every payload announced for the round this peer is in is fetched from its announcer
//          as the announcement arrives (at most PREFETCH_PER_ROUND a round), so that applying the
//          decision seldom waits on a download.
// Nothing here waits for other peers: the chain's clock closes rounds, the hub decides them.
import { TypedEventEmitter } from '@libp2p/interface';
import { contentHash, signedHash, toContentHash, type ContentHash } from '../base/content-hash.ts';
import { errorMessage } from '../base/errors.ts';
import { waitForDecision, type Chain } from '../chain/chain.ts';
import { ChainError, type SignedDecision } from '../chain/extrinsics.ts';
import type { SignedAnnouncement } from '../identity/announcement.ts';
import type { Hex } from '../identity/fields.ts';
import type { Session } from '../identity/session.ts';
import { CHECKPOINT_PROTOCOL, MAX_OBJECT_BYTES, PAYLOAD_PROTOCOL } from '../swarm/protocol.ts';
import type { Swarm } from '../swarm/swarm.ts';
import { MODEL_FILE, type CheckpointFiles } from '../train/checkpoint.ts';
import type { CheckpointRef } from './api.ts';
import { checkVouchedModel, decidedPayloads, followDecision, followDecisions, vouchedModelHash, type DecisionFollower } from './follow.ts';
import { UtilisationMeter, type Utilisation } from './utilisation.ts';

/**
 * Payloads of one round fetched as they are announced, before the decision: as many as a decision
 * gathers with its reserves (the Gauntlet's 20 + 10), with room for take-all swarms of a few more.
 */
const PREFETCH_PER_ROUND = 32;

/** The engine peer behind a participant: in this process, or in the tab's worker. */
export interface RoundBackend {
  /** Sets θ from a checkpoint as the model at the start of `round`; returns its model hash. */
  load(files: CheckpointFiles, round: number): Promise<string>;
  /**
   * This peer's payload for `round` (null in a null round or when the wire format refused it), and
   * how long its GPU trained for it (the inner steps' time; none for a backend that does not train).
   */
  contribute(round: number): Promise<{ payload: Uint8Array | null; cancelled: boolean; skipped?: string; trainingMs?: number }>;
  /** θ_{w+1} from the decision's payloads, in order; returns its model hash. */
  applyDecision(round: number, payloads: Uint8Array[]): Promise<string>;
}

export interface ParticipantOptions {
  swarm: Swarm;
  chain: Chain;
  session: Session;
  backend: RoundBackend;
  /** The hub's peer id: it holds every payload that made a decision, and the checkpoints. */
  hubPeerId: string;
  /** Reads the hub's newest checkpoint (GET /api/run), for joining and resyncing. */
  latestCheckpoint: () => Promise<CheckpointRef>;
  /** H of θ_0 from the run's seed (follow.ts initialModelHash): what vouches for a checkpoint of round 0. */
  initialModelHash: () => ContentHash | Promise<ContentHash>;
  /**
   * This peer's own saved θ (a tab reloading): joining starts from it instead of the hub's
   * checkpoint when it is at least as new and the chain's decision of the round before names its
   * model hash; otherwise it is ignored.
   */
  localCheckpoint?: () => Promise<LocalCheckpoint | null>;
  /** Awaited after each round, before the next starts (a tab saves θ and e here). */
  afterRound?: (report: ParticipantRound) => Promise<void>;
  /**
   * Signs the round's announcement: the session's own (the default). A `webloco peer --behavior
   * forged` signs one naming another peer's binding, which the chain refuses.
   */
  announce?: (fields: { round: number; baseModelHash: Hex; payloadHash: Hex; bytes: number }) => Promise<SignedAnnouncement>;
}

/** θ of `round` as this peer saved it. */
export interface LocalCheckpoint {
  round: number;
  modelHash: string;
  files: CheckpointFiles;
}

/** Where joining took θ from, and which round that was. */
export interface JoinedFrom {
  source: 'local' | 'hub';
  round: number;
  /** Decisions replayed after it. */
  replayed: number;
}

/** One finished round, as `webloco peer --json` prints it and the page shows it. */
export interface ParticipantRound {
  round: number;
  /** H_{w+1}, which the decision named and this peer reached. */
  modelHash: string;
  /** Bytes this peer offered (its payload) and fetched (others' payloads, checkpoints) this round. */
  bytesUp: number;
  bytesDown: number;
  /** Bytes of others' payloads fetched this round, by the peer (id) that served them: their announcer, else the hub. */
  fetchedFrom: Record<string, number>;
  /** Peers connected now, and those over a direct WebRTC link. */
  peers: number;
  direct: number;
  /** Its payload's hash, when it committed one in time. */
  payloadHash: string | null;
  /** Whether the decision included it. */
  included: boolean;
  /** Payloads in the decision. */
  decisionSize: number;
  /** Of them, those this peer held when the decision arrived (its own, and those fetched as they were announced). */
  heldAtDecision: number;
  /** Why it sent nothing or was not included, when it was not. */
  note?: string;
  /**
   * How busy its GPU was (utilisation.ts): in this round, from the end of the round before (or the
   * join) to the end of this one, and over every round since it joined.
   */
  gpu: { round: Utilisation; run: Utilisation };
}

export interface ParticipantEvents {
  round: CustomEvent<ParticipantRound>;
  status: CustomEvent<{ phase: 'joining' | 'training' | 'submitting' | 'waiting' | 'applying' | 'resyncing'; round: number }>;
}

export class Participant extends TypedEventEmitter<ParticipantEvents> {
  /** The round whose θ the backend holds (the next to train), or -1 before joining. */
  round = -1;
  private modelHash: ContentHash = '';
  /** Where the last join or resync took θ from. */
  joinedFrom: JoinedFrom | null = null;
  /** Whether payloads are fetched as they are announced (off: a tab at its data cap fetches nothing it is not made to). */
  prefetching = true;
  private bytesDown = 0;
  private fetchedFrom: Record<string, number> = {};
  /** Who announced each payload: fetch from them first, the hub second. */
  private readonly announcers = new Map<string, string>();
  /** The first round the chain takes this session's commits in (its binding's age). */
  private commitsFrom = 0;
  /** Counts from the end of the join. */
  private utilisation: UtilisationMeter | null = null;
  /** Payload fetches in flight, by hash: an announcement's and the decision's share one. */
  private readonly fetching = new Map<ContentHash, Promise<Uint8Array>>();
  private prefetched = { round: -1, count: 0 };

  constructor(private readonly o: ParticipantOptions) {
    super();
    o.swarm.addEventListener('announcement', (e) => {
      if (this.announcers.size > 4096) this.announcers.clear();
      const { round, payloadHash, bytes } = e.detail.message.announcement;
      const hash = toContentHash(payloadHash);
      this.announcers.set(hash, e.detail.from);
      this.prefetch(round, hash, bytes);
    });
  }

  /** Registers the session's binding on chain (once) and loads the run's current model. */
  async join(): Promise<void> {
    const { chain, session } = this.o;
    if (!(await chain.binding(session.id))) await chain.register(session.signed);
    this.commitsFrom = (await chain.firstCommitRound(session.id)) ?? 0;
    await this.syncFromCheckpoint(true);
    this.utilisation = new UtilisationMeter();
  }

  /** Takes part in `rounds` rounds (or until `signal` aborts) and reports each. */
  async run(rounds: number, signal?: AbortSignal): Promise<void> {
    for (let done = 0; done < rounds && !signal?.aborted; done++) {
      const report = await this.oneRound();
      await this.o.afterRound?.(report);
      this.safeDispatchEvent('round', { detail: report });
    }
  }

  private async oneRound(): Promise<ParticipantRound> {
    const { chain, backend } = this.o;
    const round = this.round;
    const downBefore = this.bytesDown;
    this.fetchedFrom = {};
    let payloadHash: string | null = null;
    let bytesUp = 0;
    let note: string | undefined;
    let trainingMs = 0;
    const current = chain.clock.roundAt((await chain.head()).height);
    if (current === round) {
      this.status('training', round);
      const result = await backend.contribute(round);
      trainingMs = result.trainingMs ?? 0;
      if (result.payload && round < this.commitsFrom) {
        // Only an engine told to skip its null rounds gets here: the chain would refuse the commit.
        note = `this session's binding may commit from round ${this.commitsFrom} on (the chain's binding age): nothing sent`;
      } else if (result.payload) {
        this.status('submitting', round);
        payloadHash = contentHash(result.payload);
        bytesUp = result.payload.byteLength;
        note = await this.submit(round, result.payload, payloadHash);
      } else {
        note = result.skipped ?? (result.cancelled ? 'training was stopped' : 'a null round after joining: nothing to send yet');
      }
    } else {
      note = `the chain is already in round ${current}: catching up without training`;
    }
    this.status('waiting', round);
    const decision = (await waitForDecision(this.o.chain, round))!;
    const hashes = decidedPayloads(decision);
    const held = await Promise.all(hashes.map((h) => this.o.swarm.store.has(toContentHash(h))));
    await this.apply(round, decision);
    const included = payloadHash !== null && hashes.includes(payloadHash);
    if (payloadHash && !included && !note) note = 'the decision did not include this payload';
    const links = this.o.swarm.links();
    return {
      round,
      modelHash: this.modelHash,
      bytesUp,
      bytesDown: this.bytesDown - downBefore,
      fetchedFrom: this.fetchedFrom,
      peers: new Set(links.map((l) => l.peer)).size,
      direct: this.o.swarm.directPeers().length,
      payloadHash,
      included,
      decisionSize: hashes.length,
      heldAtDecision: held.filter(Boolean).length,
      ...(note ? { note } : {}),
      gpu: (this.utilisation ??= new UtilisationMeter()).roundEnded(trainingMs),
    };
  }

  /**
   * Keeps the payload where others can fetch it, commits it on chain, then announces it. The
   * commit comes first: a payload hash gossiped before its commit could be committed by a copier
   * first, and the chain credits a payload to whoever committed it first.
   */
  private async submit(round: number, payload: Uint8Array, payloadHash: string): Promise<string | undefined> {
    const { swarm, chain, session } = this.o;
    await swarm.store.put(payload);
    const fields = { round, baseModelHash: signedHash(this.modelHash), payloadHash: signedHash(payloadHash), bytes: payload.byteLength };
    const signed = this.o.announce ? await this.o.announce(fields) : session.announce(fields);
    try {
      await chain.commit(signed);
    } catch (err) {
      if (err instanceof ChainError && err.code === 'wrong-round') return `committed too late: round ${round} had closed`;
      return `the chain refused the commit: ${errorMessage(err)}`;
    }
    await swarm.announce(signed).catch(() => 0); // no gossip peers yet (publishing throws): the chain commit still stands
    return undefined;
  }

  /** Fetches the decision's payloads, applies it, and resyncs when the model hash disagrees. */
  private async apply(round: number, signed: SignedDecision): Promise<void> {
    this.status('applying', round);
    try {
      this.modelHash = (await followDecision(round, signed, this.follower)).modelHash;
      this.round = round + 1;
    } catch (err) {
      console.warn(`round ${round}: could not follow the decision (${errorMessage(err)}); resyncing from the newest checkpoint`);
      this.status('resyncing', round);
      await this.syncFromCheckpoint();
    }
  }

  /** The backend as a decision follower: payloads from their announcers or the hub. */
  private readonly follower: DecisionFollower = {
    payload: (hash) => this.payload(hash),
    apply: (round, payloads) => this.o.backend.applyDecision(round, payloads),
  };

  /**
   * Starts fetching a payload announced for the round this peer is in, unless the round's share
   * is spent; a failure only means the decision will fetch it (from the hub, if need be).
   */
  private prefetch(round: number, hash: ContentHash, bytes: number): void {
    if (!this.prefetching || round !== this.round) return;
    if (this.prefetched.round !== round) this.prefetched = { round, count: 0 };
    if (this.prefetched.count >= PREFETCH_PER_ROUND) return;
    this.prefetched.count++;
    // No more than the announcement says (it is signed, and the bytes are checked against the hash).
    this.payload(hash, Math.min(bytes, MAX_OBJECT_BYTES[PAYLOAD_PROTOCOL])).catch(() => undefined);
  }

  private payload(hash: ContentHash, maxBytes = MAX_OBJECT_BYTES[PAYLOAD_PROTOCOL]): Promise<Uint8Array> {
    const inFlight = this.fetching.get(hash);
    if (inFlight) return inFlight;
    const fetching = this.fetchPayload(hash, maxBytes).finally(() => this.fetching.delete(hash));
    this.fetching.set(hash, fetching);
    return fetching;
  }

  private async fetchPayload(hash: ContentHash, maxBytes: number): Promise<Uint8Array> {
    const { swarm, hubPeerId } = this.o;
    const own = await swarm.store.get(hash);
    if (own) return own;
    // Its announcer first, the hub (which copied every committed payload) second; a link that drops
    // mid-transfer makes it the next source's turn, and the bytes are checked against the hash.
    const sources = [...new Set([this.announcers.get(hash), hubPeerId].filter((p): p is string => p !== undefined && p !== swarm.peerId))];
    try {
      const { bytes, from } = await swarm.fetchFromAny(PAYLOAD_PROTOCOL, sources, hash, {
        maxBytes,
        timeoutMs: 30_000,
      });
      this.bytesDown += bytes.byteLength;
      this.fetchedFrom[from] = (this.fetchedFrom[from] ?? 0) + bytes.byteLength;
      await swarm.store.put(bytes);
      return bytes;
    } catch (err) {
      throw new Error(`payload ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * Loads the hub's newest checkpoint (or, when joining, this peer's own saved one if it is as new
   * and the chain vouches for it), refuses it unless the chain vouches for its model hash, then
   * applies every decision the chain holds after it.
   */
  private async syncFromCheckpoint(preferLocal = false): Promise<void> {
    const { swarm, hubPeerId, backend, chain } = this.o;
    this.status('joining', this.round);
    const checkpoint = await this.o.latestCheckpoint();
    const local = preferLocal ? await this.vouchedLocalCheckpoint(checkpoint) : null;
    if (local) {
      this.modelHash = await backend.load(local.files, local.round);
      if (this.modelHash !== local.modelHash)
        throw new Error(`this peer's saved checkpoint hashes to ${this.modelHash}, not the ${local.modelHash} it was saved as`);
      this.round = local.round;
    } else {
      const bytes = await swarm.fetch(CHECKPOINT_PROTOCOL, hubPeerId, checkpoint.objectHash, { maxBytes: checkpoint.bytes });
      this.bytesDown += bytes.byteLength;
      const modelHash = await backend.load({ [MODEL_FILE]: bytes }, checkpoint.round);
      await checkVouchedModel(chain, checkpoint.round, modelHash, this.o.initialModelHash, "the hub's checkpoint");
      this.modelHash = modelHash;
      this.round = checkpoint.round;
    }
    const joinedFrom: JoinedFrom = { source: local ? 'local' : 'hub', round: this.round, replayed: 0 };
    this.joinedFrom = joinedFrom;
    this.round = await followDecisions(chain, this.round, this.follower, (_, modelHash) => {
      this.modelHash = modelHash;
      joinedFrom.replayed++;
    });
  }

  /** The saved checkpoint, if it is at least as new as the hub's and the chain names its model hash. */
  private async vouchedLocalCheckpoint(hub: CheckpointRef): Promise<LocalCheckpoint | null> {
    // A saved checkpoint that cannot be read is as good as none: join from the hub's.
    const local = await this.o.localCheckpoint?.().catch(() => null);
    if (!local || local.round < hub.round) return null;
    const named = await vouchedModelHash(this.o.chain, local.round, this.o.initialModelHash);
    return named === toContentHash(local.modelHash) ? local : null;
  }

  private status(phase: ParticipantEvents['status']['detail']['phase'], round: number): void {
    this.safeDispatchEvent('status', { detail: { phase, round } });
  }
}
