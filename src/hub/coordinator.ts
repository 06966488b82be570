// The hub's round keeper: when the chain's head enters round w+1, round w is closed and decided
// from the payloads committed on chain in round w's blocks. The hub holds most of them already
// (payload-copier.ts); the rest it fetches from their committers all at once, and at one deadline
// (`payloadDeadlineMs` after it starts) it decides from what it holds: a peer that never serves its
// payload delays nobody. With the Gauntlet (a Validator, the default of `webloco hub`), the
// validator's gather set is the decision and its judgement is published; without one, every payload
// that decodes against H_w goes in, ordered by payload hash. Either way the round's record, with
// every commit left out and why, is public (GET /api/rounds/<w>), and the hub computes θ_{w+1}
// exactly as every peer will (src/engine/global-model.ts), signs the decision with the chain's
// validator key, submits it to the chain and gossips it. Every `checkpointEvery` rounds (and every
// retention base round) θ goes into the object store as a checkpoint; then what the hub no longer
// keeps expires (retention.ts).
//
// Surviving a kill at any instant: the round's records and the Gauntlet's state after it are saved
// before the decision goes to the chain, and the chain is the truth. A restarted hub replays the
// chain's decisions (hub.ts) and resumes at the first round without one; if the Gauntlet had judged
// and saved that round already, the saved judgement is submitted as it was (`pending`), so the
// standings, the revealed evaluation seed and the decision never fork.
import { toContentHash, type ContentHash } from '../base/content-hash.ts';
import { errorMessage } from '../base/errors.ts';
import { printable } from '../base/log-text.ts';
import type { DevChain } from '../chain/dev-chain.ts';
import { signDecision } from '../chain/extrinsics.ts';
import { applyDecision, decodeContribution, hashHex, type GlobalModel } from '../engine/global-model.ts';
import type { DecisionRecord } from '../gauntlet/round.ts';
import { signDecisionRecord, type Validator } from '../gauntlet/validator.ts';
import type { Announcement } from '../identity/announcement.ts';
import type { SigningKey } from '../identity/keys.ts';
import type { LlamaConfig } from '../model/config.ts';
import type { ParameterLayout } from '../model/layout.ts';
import type { CheckpointRef, Exclusion, JudgedRoundRecord, RoundRecord } from '../run/api.ts';
import { PayloadDecoder } from '../sparseloco/codec.ts';
import type { WireLayout } from '../sparseloco/types.ts';
import { PAYLOAD_PROTOCOL } from '../swarm/protocol.ts';
import type { Swarm } from '../swarm/swarm.ts';
import { encodeCheckpoint, MODEL_FILE } from '../train/checkpoint.ts';
import type { HubDataDir } from './data-dir.ts';
import type { DiskContentStore } from './object-store.ts';
import { checkCommittedPayload, committedPayloadLimit, PayloadRefused } from './payload-copier.ts';
import { DEFAULT_RETAIN_ROUNDS, expireOld, isBaseRound } from './retention.ts';

/** How long after a round closes the hub waits for committed payloads it does not hold: 5 s. */
export const DEFAULT_PAYLOAD_DEADLINE_MS = 5_000;
/** Committed payloads fetched at once while deciding. */
const CONCURRENT_FETCHES = 16;

export interface CoordinatorOptions {
  chain: DevChain;
  swarm: Swarm;
  store: DiskContentStore;
  /** Where the round records, the Gauntlet's state and the checkpoints are saved. */
  dir: HubDataDir;
  config: LlamaConfig;
  layout: ParameterLayout;
  wire: WireLayout;
  /** Signs decisions: a validator of the chain's genesis. */
  decisionKey: SigningKey;
  /** The Gauntlet (restored from `dir` by its maker); without it every payload that decodes is taken. */
  gauntlet?: Validator;
  /** θ at the start of `round` (θ_0, or a stored checkpoint with the decisions since replayed). */
  model: GlobalModel;
  round: number;
  checkpointEvery: number;
  /** The newest checkpoint, or null before the first. */
  checkpoint: CheckpointRef | null;
  /** How long to wait for committed payloads the hub does not hold, all fetched at once (ms): DEFAULT_PAYLOAD_DEADLINE_MS. */
  payloadDeadlineMs?: number;
  /** Rounds of payloads and records kept (retention.ts): DEFAULT_RETAIN_ROUNDS. */
  retainRounds?: number;
}

/** A round decided and saved whose decision is not on the chain yet. */
interface PendingRound {
  round: number;
  payloadHashes: ContentHash[];
  next: GlobalModel;
  record: RoundRecord;
  judged?: JudgedRoundRecord;
}

/** A commit's payload as the decision sees it. */
interface Held {
  hotkey: string;
  payloadHash: ContentHash;
  payload: Uint8Array;
}

export class RoundCoordinator {
  private model: GlobalModel;
  private nextRound: number;
  private latest: CheckpointRef | null;
  private pending: PendingRound | null = null;
  private oldestKept = 0;
  private stopHead: (() => void) | null = null;
  private deciding: Promise<void> = Promise.resolve();
  private readonly decoder: PayloadDecoder;

  constructor(private readonly o: CoordinatorOptions) {
    this.model = o.model;
    this.nextRound = o.round;
    this.latest = o.checkpoint;
    this.decoder = new PayloadDecoder(o.wire);
  }

  /** The round being trained now (the next to decide) and H of its θ. */
  get state(): { round: number; modelHash: string; checkpoint: CheckpointRef | null } {
    return { round: this.nextRound, modelHash: hashHex(this.model), checkpoint: this.latest };
  }

  /** The oldest round whose payloads and records this hub keeps (retention.ts). */
  get retainedFrom(): number {
    return this.oldestKept;
  }

  get retainRounds(): number {
    return this.o.retainRounds ?? DEFAULT_RETAIN_ROUNDS;
  }

  /**
   * Reconciles the Gauntlet's saved state with the chain, writes a checkpoint when the newest is
   * missing or due, then decides each round as the chain closes it.
   */
  async start(): Promise<void> {
    await this.resumeGauntlet();
    if (!this.latest || this.dueCheckpoint(this.nextRound, this.latest.round)) await this.checkpoint(this.nextRound);
    this.oldestKept = await this.expire();
    this.stopHead = this.o.chain.onHead((head) => {
      const current = this.o.chain.clock.roundAt(head.height);
      if (current > this.nextRound)
        this.deciding = this.deciding
          .then(() => this.decideClosedRounds(current))
          .catch((err) =>
            console.error(`hub: deciding round ${this.nextRound} failed (retrying at the next block): ${printable(errorMessage(err))}`),
          );
    });
  }

  async stop(): Promise<void> {
    this.stopHead?.();
    this.stopHead = null;
    await this.deciding;
  }

  /**
   * The Gauntlet's standings are saved with each judged round before its decision is submitted, so
   * after a restart they are either for the chain's next round, or one ahead: the round was judged
   * and saved but its decision never reached the chain, and is submitted now as it was judged.
   * Standings behind the chain (rounds decided without this Gauntlet) move on unscored.
   */
  private async resumeGauntlet(): Promise<void> {
    const { gauntlet, dir } = this.o;
    if (!gauntlet) return;
    const round = this.nextRound;
    const at = gauntlet.state.round;
    if (at === round + 1) {
      const judged = await dir.judgedRound(round);
      const record = await dir.roundRecord(round);
      if (judged?.record.round !== round || record?.round !== round)
        throw new Error(
          `${dir.path}/gauntlet/state.json is past round ${round}, but the round's records are missing: restore them or the data dir`,
        );
      const payloads = await Promise.all(judged.record.payloadHashes.map((h) => this.heldPayload(h, round)));
      const next = applyDecision(this.o.layout, this.o.wire, this.model, { runId: this.o.chain.run, round }, payloads);
      if (hashHex(next) !== judged.record.nextModelHash)
        throw new Error(
          `round ${round}: the saved judgement names model ${judged.record.nextModelHash}, its payloads give ${hashHex(next)}`,
        );
      this.pending = { round, payloadHashes: judged.record.payloadHashes, next, record, judged };
      console.log(`hub: round ${round} was judged and saved before the hub stopped; submitting that judgement`);
    } else if (at < round) {
      console.error(
        `hub: the Gauntlet's standings are for round ${at}, the chain decided up to round ${round - 1}; they carry on unscored`,
      );
      gauntlet.skipTo(round);
      await dir.saveGauntletSnapshot(gauntlet.snapshot());
    } else if (at > round + 1) {
      throw new Error(`${dir.path}/gauntlet/state.json is for round ${at}, but the chain has no decision after round ${round - 1}`);
    }
  }

  private async decideClosedRounds(current: number): Promise<void> {
    while (this.nextRound < current) await this.decide(this.nextRound);
  }

  private async decide(round: number): Promise<void> {
    const { chain, swarm, decisionKey } = this.o;
    const pending = this.pending?.round === round ? this.pending : await this.judge(round);
    this.pending = pending;
    const nonce = await chain.nextNonce({ validator: decisionKey.address });
    const decision = pending.judged
      ? signDecisionRecord(decisionKey, pending.judged.record, nonce)
      : signDecision(decisionKey, {
          run: chain.run,
          round,
          payloadHashes: pending.payloadHashes.map((h) => `0x${h}` as const),
          modelHash: `0x${hashHex(pending.next)}`,
          nonce,
        });
    await chain.decide(decision);
    this.pending = null;
    this.model = pending.next;
    this.nextRound = round + 1;
    await swarm.publishDecision(decision).catch(() => 0); // peers also read decisions from the chain
    if (this.dueCheckpoint(round + 1, this.latest?.round ?? -Infinity)) await this.checkpoint(round + 1);
    this.oldestKept = await this.expire();
  }

  /** Decides round `round` from the payloads held at the deadline and saves its records; nothing is submitted yet. */
  private async judge(round: number): Promise<PendingRound> {
    const { chain, layout, wire, gauntlet, dir } = this.o;
    const origin = { runId: chain.run, round };
    const started = Date.now();
    const commits = await chain.commits(round);
    const { held, excluded } = await this.gather(
      round,
      commits.map((c) => c.announcement),
    );
    const payloadDeadlineMs = Date.now() - started;
    let payloadHashes: ContentHash[];
    let judged: JudgedRoundRecord | undefined;
    if (gauntlet) {
      const result = await gauntlet.judge({
        round,
        base: this.model,
        submissions: held.map(({ hotkey, payload }) => ({ hotkey, payload })),
      });
      payloadHashes = result.record.payloadHashes;
      excluded.push(...gauntletExclusions(result.record, held, gauntlet.context.config.maxNewcomers));
      judged = {
        record: result.record,
        previous: result.previous,
        submissions: held.map(({ hotkey, payloadHash }) => ({ hotkey, payloadHash })),
        recentModels: [...(result.input.recentModels ?? [])],
      };
    } else {
      // Until scores exist: every payload that decodes against H_w, each counted once.
      const accepted = new Set<ContentHash>();
      for (const { hotkey, payloadHash, payload } of held) {
        if (accepted.has(payloadHash)) continue;
        try {
          decodeContribution(wire, this.model, origin, payload);
          accepted.add(payloadHash);
        } catch (err) {
          excluded.push({ payloadHash, hotkey, reason: 'undecodable', detail: errorMessage(err) });
        }
      }
      payloadHashes = [...accepted].sort();
    }
    const byHash = new Map(held.map((h) => [h.payloadHash, h.payload]));
    const next = applyDecision(
      layout,
      wire,
      this.model,
      origin,
      payloadHashes.map((h) => byHash.get(h)!),
    );
    if (judged && hashHex(next) !== judged.record.nextModelHash)
      throw new Error(`round ${round}: the Gauntlet expects model ${judged.record.nextModelHash}, its gather set gives ${hashHex(next)}`);
    const record: RoundRecord = {
      round,
      validator: gauntlet ? 'gauntlet' : 'take-all',
      baseModelHash: hashHex(this.model),
      modelHash: hashHex(next),
      commits: commits.length,
      payloadHashes,
      excluded,
      payloadDeadlineMs,
    };
    // Saved before the decision is submitted: the chain never holds a round the hub has not saved.
    await dir.saveRoundRecord(record);
    if (judged && gauntlet) {
      await dir.saveJudgedRound(round, judged);
      await dir.saveGauntletSnapshot(gauntlet.snapshot());
    }
    return { round, payloadHashes, next, record, ...(judged ? { judged } : {}) };
  }

  /**
   * Every commit's payload, fetched at once (the held ones from the store), under one deadline;
   * what is held then decides. Each commit not held is an exclusion with its reason.
   */
  private async gather(round: number, commits: Announcement[]): Promise<{ held: Held[]; excluded: Exclusion[] }> {
    const deadline = Date.now() + (this.o.payloadDeadlineMs ?? DEFAULT_PAYLOAD_DEADLINE_MS);
    const hotkeys = await Promise.all(commits.map(async (c) => (await this.o.chain.binding(c.binding))?.binding ?? null));
    const fetched = new Map<ContentHash, Uint8Array>();
    const failed = new Map<ContentHash, { reason: Exclusion['reason']; detail: string }>();
    const queue = [...new Map(commits.map((c, i) => [toContentHash(c.payloadHash), { commit: c, peerId: hotkeys[i]?.peerId }])).values()];
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const hash = toContentHash(next.commit.payloadHash);
        try {
          if (Date.now() >= deadline) throw new Error('not fetched before the deadline');
          const bytes = await this.committedPayload(next.commit, next.peerId, deadline);
          if (Date.now() <= deadline) fetched.set(hash, bytes);
          else failed.set(hash, { reason: 'unavailable', detail: 'arrived after the deadline' });
        } catch (err) {
          const reason = err instanceof PayloadRefused ? err.code : 'unavailable';
          failed.set(hash, { reason, detail: errorMessage(err) });
        }
      }
    };
    const workers = Promise.all(Array.from({ length: Math.min(CONCURRENT_FETCHES, queue.length) }, worker));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([workers, new Promise<void>((done) => (timer = setTimeout(done, Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
    const ms = this.o.payloadDeadlineMs ?? DEFAULT_PAYLOAD_DEADLINE_MS;
    const held: Held[] = [];
    const excluded: Exclusion[] = [];
    commits.forEach((commit, i) => {
      const payloadHash = toContentHash(commit.payloadHash);
      const hotkey = hotkeys[i]?.hotkey ?? '';
      const bytes = fetched.get(payloadHash);
      if (bytes) held.push({ hotkey, payloadHash, payload: bytes });
      else
        excluded.push({
          payloadHash,
          hotkey,
          ...(failed.get(payloadHash) ?? { reason: 'unavailable', detail: `not held within ${ms} ms of round ${round} closing` }),
        });
    });
    return { held, excluded };
  }

  /** A commit's payload from the store, or from the committing binding's peer; a fetched one is checked and stored. */
  private async committedPayload(commit: Announcement, peerId: string | undefined, deadline: number): Promise<Uint8Array> {
    const hash = toContentHash(commit.payloadHash);
    const held = await this.o.store.get(hash);
    if (held) return held;
    const maxBytes = committedPayloadLimit(this.decoder, commit);
    if (!peerId) throw new Error(`binding ${commit.binding} is not registered`);
    const bytes = await this.o.swarm.fetch(PAYLOAD_PROTOCOL, peerId, hash, { maxBytes, timeoutMs: Math.max(1, deadline - Date.now()) });
    checkCommittedPayload(this.decoder, this.o.chain.run, commit, bytes);
    await this.o.store.put(bytes);
    return bytes;
  }

  /** A payload a saved judgement names, from the store (it was stored before it was judged). */
  private async heldPayload(hash: ContentHash, round: number): Promise<Uint8Array> {
    const bytes = await this.o.store.get(hash);
    if (!bytes) throw new Error(`round ${round}'s saved judgement names payload ${hash}, which is not in the object store`);
    return bytes;
  }

  /** Whether θ at the start of `round` is due as a checkpoint: every `checkpointEvery` rounds, and at every retention base round. */
  private dueCheckpoint(round: number, newest: number): boolean {
    return round > newest && (round % this.o.checkpointEvery === 0 || isBaseRound(round, this.retainRounds));
  }

  /** Writes θ (the model at the start of `round`) as a checkpoint and records it among the kept ones. */
  private async checkpoint(round: number): Promise<CheckpointRef> {
    const modelHash = hashHex(this.model);
    const files = encodeCheckpoint({ config: this.o.config, params: this.model.theta, step: round, modelHash });
    const model = files[MODEL_FILE]!;
    const objectHash = await this.o.store.put(model);
    const checkpoint = { round, objectHash, modelHash, bytes: model.length };
    const kept = (await this.o.dir.checkpoints()).filter((c) => c.round < round);
    await this.o.dir.saveCheckpoints([...kept, checkpoint]);
    this.latest = checkpoint;
    return checkpoint;
  }

  private expire(): Promise<number> {
    const { clock } = this.o.chain;
    return expireOld({
      dir: this.o.dir,
      chain: this.o.chain,
      current: this.nextRound,
      retainRounds: this.retainRounds,
      graceMs: clock.blocksPerRound * clock.blockTimeMs,
    });
  }
}

/**
 * Why the Gauntlet left each held commit out of its gather set: its integrity reason, a copy, still
 * on probation (evaluated below the admission bar, or waiting for one of the round's
 * `maxNewcomers` probation evaluations), or a standing that kept it out.
 */
function gauntletExclusions(record: DecisionRecord, held: readonly Held[], maxNewcomers: number): Exclusion[] {
  const gathered = new Set(record.payloadHashes);
  const rejected = new Map(record.rejected.map((r) => [`${r.peer}/${r.payloadHash}`, r]));
  const scores = new Map(record.scores.map((s) => [s.hotkey, s]));
  const measured = new Map(record.measurements.map((m) => [m.hotkey, m]));
  const out: Exclusion[] = [];
  for (const { hotkey, payloadHash } of held) {
    if (gathered.has(payloadHash) && record.gathered.includes(hotkey)) continue;
    const refusal = rejected.get(`${hotkey}/${payloadHash}`);
    const score = scores.get(hotkey);
    if (refusal) out.push({ payloadHash, hotkey, reason: refusal.reason, detail: refusal.detail });
    else if (score?.reset)
      out.push({ payloadHash, hotkey, reason: 'copy', detail: `index overlap ${score.overlap} with an earlier upload` });
    else if (!score?.admitted) {
      const m = measured.get(hotkey);
      const gain = m && (m.lossBeforeRandom - m.lossAfterRandom) / m.lossBeforeRandom;
      out.push({
        payloadHash,
        hotkey,
        reason: 'probation',
        detail:
          gain === undefined
            ? `not admitted yet: waiting for one of the round's ${maxNewcomers} probation evaluations`
            : `not admitted: its update lowered the random loss by ${gain.toPrecision(3)}, the round's bar was ${record.admission.minGain?.toPrecision(3) ?? 'unset (no reference)'}`,
      });
    } else
      out.push({
        payloadHash,
        hotkey,
        reason: 'not-gathered',
        detail: `its standing (final ${score.final.toPrecision(3)}) did not place it in the gather set`,
      });
  }
  return out;
}
