// The hub's round keeper: when the chain's head enters round w+1, round w is closed and decided
// from the payloads committed on chain in round w's blocks (the hub copies each announced payload;
// one it lacks is fetched from the committing peer). With the Gauntlet (a Validator, the default
// of `webloco hub`), the validator's gather set is the decision and its record is published; without
// one, every payload that decodes against H_w goes in, ordered by payload hash. Either way the hub
// computes θ_{w+1} exactly as every peer will (src/engine/global-model.ts), signs the decision with
// the chain's validator key, submits it to the chain and gossips it. A peer that committed late is
// simply not in the list: no round ever waits for anyone. Every `checkpointEvery` rounds θ is
// written as a checkpoint into the object store, so a joining peer downloads it and replays the
// decisions since.
import type { DevChain } from '../chain/dev-chain.ts';
import { signDecision, type SignedDecision } from '../chain/extrinsics.ts';
import { applyDecision, decodeContribution, hashHex, type GlobalModel } from '../engine/global-model.ts';
import type { Submission } from '../gauntlet/round.ts';
import { signDecisionRecord, type Validator } from '../gauntlet/validator.ts';
import type { SigningKey } from '../identity/keys.ts';
import type { LlamaConfig } from '../model/config.ts';
import type { ParameterLayout } from '../model/layout.ts';
import type { CheckpointRef, Exclusion, JudgedRoundRecord } from '../run/api.ts';
import type { WireLayout } from '../sparseloco/types.ts';
import { toContentHash } from '../base/content-hash.ts';
import { errorMessage } from '../base/errors.ts';
import { printable } from '../base/log-text.ts';
import { PAYLOAD_PROTOCOL } from '../swarm/protocol.ts';
import type { Swarm } from '../swarm/swarm.ts';
import { encodeCheckpoint, MODEL_FILE } from '../train/checkpoint.ts';
import type { DiskContentStore } from './object-store.ts';

export interface RoundDecided {
  round: number;
  decision: SignedDecision;
  excluded: Exclusion[];
  checkpoint: CheckpointRef | null;
  /** Present when the Gauntlet decided the round. */
  judged?: JudgedRoundRecord;
}

export interface CoordinatorOptions {
  chain: DevChain;
  swarm: Swarm;
  store: DiskContentStore;
  config: LlamaConfig;
  layout: ParameterLayout;
  wire: WireLayout;
  /** Signs decisions: a validator of the chain's genesis. */
  decisionKey: SigningKey;
  /** The Gauntlet; without it every payload that decodes is taken. */
  gauntlet?: Validator;
  /** θ at the start of `round` (θ_0, or a stored checkpoint with the decisions since replayed). */
  model: GlobalModel;
  round: number;
  checkpointEvery: number;
  /** The newest checkpoint, or null before the first. */
  checkpoint: CheckpointRef | null;
  onDecided?: (event: RoundDecided) => void | Promise<void>;
  /** How long to try fetching a committed payload the hub does not hold (ms). */
  fetchTimeoutMs?: number;
}

export class RoundCoordinator {
  private model: GlobalModel;
  private nextRound: number;
  private latest: CheckpointRef | null;
  private stopHead: (() => void) | null = null;
  private deciding: Promise<void> = Promise.resolve();

  constructor(private readonly o: CoordinatorOptions) {
    this.model = o.model;
    this.nextRound = o.round;
    this.latest = o.checkpoint;
  }

  /** The round being trained now (the next to decide) and H of its θ. */
  get state(): { round: number; modelHash: string; checkpoint: CheckpointRef | null } {
    return { round: this.nextRound, modelHash: hashHex(this.model), checkpoint: this.latest };
  }

  /** Writes the first checkpoint when there is none, then decides each round as the chain closes it. */
  async start(): Promise<void> {
    if (!this.latest) this.latest = await this.writeCheckpoint(this.nextRound);
    this.stopHead = this.o.chain.onHead((head) => {
      const current = this.o.chain.clock.roundAt(head.height);
      if (current > this.nextRound)
        this.deciding = this.deciding
          .then(() => this.decideClosedRounds(current))
          .catch((err) => console.error(`hub: deciding failed: ${printable(errorMessage(err))}`));
    });
  }

  async stop(): Promise<void> {
    this.stopHead?.();
    this.stopHead = null;
    await this.deciding;
  }

  private async decideClosedRounds(current: number): Promise<void> {
    while (this.nextRound < current) await this.decide(this.nextRound);
  }

  private async decide(round: number): Promise<void> {
    const { chain, swarm, layout, wire, decisionKey, gauntlet } = this.o;
    const origin = { runId: chain.run, round };
    const received = new Map<string, Uint8Array>();
    const uploads: (Submission & { payloadHash: string })[] = [];
    const excluded: Exclusion[] = [];
    for (const { announcement } of await chain.commits(round)) {
      const hash = toContentHash(announcement.payloadHash);
      try {
        const signer = await chain.binding(announcement.binding);
        if (!signer) throw new Error(`binding ${announcement.binding} is not registered`);
        const bytes = received.get(hash) ?? (await this.payload(hash, announcement.bytes, signer.binding.peerId));
        received.set(hash, bytes);
        // The chain checked the announcement's session signature when it took the commit.
        uploads.push({ hotkey: signer.binding.hotkey, payload: bytes, payloadHash: hash });
      } catch (err) {
        excluded.push({ payloadHash: hash, reason: err instanceof Error ? err.message : String(err) });
      }
    }
    let payloadHashes: string[];
    let judged: JudgedRoundRecord | undefined;
    if (gauntlet) {
      const result = await gauntlet.judge({
        round,
        base: this.model,
        submissions: uploads.map(({ hotkey, payload }) => ({ hotkey, payload })),
      });
      payloadHashes = result.record.payloadHashes;
      for (const r of result.record.rejected) excluded.push({ payloadHash: r.payloadHash, reason: `${r.reason}: ${r.detail}` });
      judged = {
        record: result.record,
        previous: result.previous,
        submissions: uploads.map(({ hotkey, payloadHash }) => ({ hotkey, payloadHash })),
        recentModels: [...(result.input.recentModels ?? [])],
      };
    } else {
      // Until scores exist: every payload that decodes against H_w, each counted once.
      const accepted = new Set<string>();
      for (const [hash, bytes] of received) {
        try {
          decodeContribution(wire, this.model, origin, bytes);
          accepted.add(hash);
        } catch (err) {
          excluded.push({ payloadHash: hash, reason: err instanceof Error ? err.message : String(err) });
        }
      }
      payloadHashes = [...accepted].sort();
    }
    const next = applyDecision(
      layout,
      wire,
      this.model,
      origin,
      payloadHashes.map((h) => received.get(h)!),
    );
    if (judged && hashHex(next) !== judged.record.nextModelHash)
      throw new Error(`round ${round}: the Gauntlet expects model ${judged.record.nextModelHash}, its gather set gives ${hashHex(next)}`);
    const nonce = await chain.nextNonce({ validator: decisionKey.address });
    const decision = judged
      ? signDecisionRecord(decisionKey, judged.record, nonce)
      : signDecision(decisionKey, {
          run: chain.run,
          round,
          payloadHashes: payloadHashes.map((h) => `0x${h}` as const),
          modelHash: `0x${hashHex(next)}`,
          nonce,
        });
    await chain.decide(decision);
    this.model = next;
    this.nextRound = round + 1;
    await swarm.publishDecision(decision).catch(() => 0); // peers also read decisions from the chain
    const checkpoint = (round + 1) % this.o.checkpointEvery === 0 ? await this.writeCheckpoint(round + 1) : null;
    if (checkpoint) this.latest = checkpoint;
    await this.o.onDecided?.({ round, decision, excluded, checkpoint, ...(judged ? { judged } : {}) });
  }

  /** The payload's bytes from the store, or fetched from the peer that committed it. */
  private async payload(hash: string, bytes: number, peerId: string): Promise<Uint8Array> {
    const held = await this.o.store.get(hash);
    if (held) return held;
    const fetched = await this.o.swarm.fetch(PAYLOAD_PROTOCOL, peerId, hash, {
      maxBytes: bytes,
      timeoutMs: this.o.fetchTimeoutMs ?? 5_000,
    });
    await this.o.store.put(fetched);
    return fetched;
  }

  private async writeCheckpoint(round: number): Promise<CheckpointRef> {
    const modelHash = hashHex(this.model);
    const files = encodeCheckpoint({ config: this.o.config, params: this.model.theta, step: round, modelHash });
    const model = files[MODEL_FILE]!;
    const objectHash = await this.o.store.put(model);
    return { round, objectHash, modelHash, bytes: model.length };
  }
}
