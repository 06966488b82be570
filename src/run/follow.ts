// Following the chain's decisions, the one way every member does it: a round's decision names
// payloads (by content hash, in aggregation order) and H_{w+1}; the follower fetches the payloads,
// applies them to its θ_w and checks that its model hash is the decided one. A mismatch means the
// follower is out of sync (a participant resyncs, a validator or an auditor stops). The hub
// replaying its own decisions after a restart, a participant joining or applying a round, a
// validator and an auditor all go through `followDecision`. θ a member starts from (a hub's
// checkpoint, its own saved one) is taken only when the chain vouches for its model hash
// (`checkVouchedModel`): the decision of the round before names it, and θ_0 is the run's seed's.
import { toContentHash, type ContentHash } from '../base/content-hash.ts';
import { CodedError } from '../base/errors.ts';
import { waitForDecision, type Chain } from '../chain/chain.ts';
import type { SignedDecision } from '../chain/extrinsics.ts';
import { applyDecision, hashHex, initialModel, type GlobalModel } from '../engine/global-model.ts';
import { preset } from '../model/config.ts';
import { parameterLayout, type ParameterLayout } from '../model/layout.ts';
import type { WireLayout } from '../sparseloco/types.ts';

/** The payloads a decision names, in aggregation order. */
export function decidedPayloads(decision: SignedDecision): ContentHash[] {
  return decision.decision.payloadHashes.map((h) => toContentHash(h));
}

/** H_{w+1} as the decision names it. */
export function decidedModelHash(decision: SignedDecision): ContentHash {
  return toContentHash(decision.decision.modelHash);
}

/** Applying a decision gave another model than the one it names: the follower is out of sync. */
export class ModelMismatchError extends CodedError<'model-mismatch'> {
  constructor(
    readonly round: number,
    readonly decided: ContentHash,
    readonly reached: ContentHash,
  ) {
    super('model-mismatch', `applying round ${round}'s decision gave model ${reached}, the decision names ${decided}`);
  }
}

/** θ a member was about to start from is not the one the chain names for its round: it is refused. */
export class UntrustedCheckpointError extends CodedError<'untrusted-checkpoint'> {}

/** H of θ_0, the run's seed's (the one model no decision names). CPU; for θ_0's checkpoint only. */
export function initialModelHash(settings: { preset: string; seed: number }): ContentHash {
  return toContentHash(hashHex(initialModel(parameterLayout(preset(settings.preset)), settings.seed)));
}

/**
 * H of θ_round as the chain vouches for it: the decision of round − 1 names it (undefined while
 * the chain holds none), and θ_0 is the run's seed's (`initialHash`, asked for only then).
 */
export async function vouchedModelHash(
  chain: Pick<Chain, 'decision'>,
  round: number,
  initialHash: () => ContentHash | Promise<ContentHash>,
): Promise<ContentHash | undefined> {
  if (round === 0) return initialHash();
  const decision = await chain.decision(round - 1);
  return decision && decidedModelHash(decision);
}

/**
 * Throws UntrustedCheckpointError unless `reached`, the model hash of θ that `source` gave for the
 * start of `round`, is the one the chain vouches for. Every member checks θ it loads this way: a
 * participant (tab or `webloco peer`) joining or resyncing, a validator starting; an auditor
 * starts from θ_0 and checks every decision instead.
 */
export async function checkVouchedModel(
  chain: Pick<Chain, 'decision'>,
  round: number,
  reached: string,
  initialHash: () => ContentHash | Promise<ContentHash>,
  source: string,
): Promise<void> {
  const vouched = await vouchedModelHash(chain, round, initialHash);
  if (vouched === undefined)
    throw new UntrustedCheckpointError(
      'untrusted-checkpoint',
      `${source} is θ of round ${round}, but the chain has no decision of round ${round - 1} to vouch for it: refusing it`,
    );
  if (toContentHash(reached) !== vouched) {
    const named =
      round === 0 ? `θ_0 of the run's seed hashes to ${vouched}` : `the chain's decision of round ${round - 1} names ${vouched}`;
    throw new UntrustedCheckpointError(
      'untrusted-checkpoint',
      `${source} of round ${round} holds model ${reached}, but ${named}: refusing it (the hub serves a checkpoint the chain does not vouch for)`,
    );
  }
}

/** Whatever follows decisions: where it gets payloads from, and how it applies them to its θ. */
export interface DecisionFollower {
  /** The bytes of a payload a decision of `round` names. */
  payload(hash: ContentHash, round: number): Promise<Uint8Array>;
  /** θ_{w+1} from θ_w and the payloads in order (θ moves even when the hash then disagrees); returns its model hash. */
  apply(round: number, payloads: Uint8Array[]): Promise<ContentHash> | ContentHash;
}

/** Fetches round `round`'s payloads, applies them, and checks the model hash; throws ModelMismatchError. */
export async function followDecision(
  round: number,
  decision: SignedDecision,
  follower: DecisionFollower,
): Promise<{ modelHash: ContentHash; payloads: Uint8Array[] }> {
  const payloads = await Promise.all(decidedPayloads(decision).map((hash) => follower.payload(hash, round)));
  const modelHash = await follower.apply(round, payloads);
  const decided = decidedModelHash(decision);
  if (modelHash !== decided) throw new ModelMismatchError(round, decided, modelHash);
  return { modelHash, payloads };
}

/**
 * The chain's decisions from round `from` on, in order. Without `wait` it stops at the first round
 * with no decision yet; with it, it waits for each next one until `until` (exclusive) or `signal`.
 */
export async function* chainDecisions(
  chain: Pick<Chain, 'decision' | 'clock'>,
  from: number,
  options: { wait?: boolean; until?: number; signal?: AbortSignal } = {},
): AsyncGenerator<{ round: number; decision: SignedDecision }> {
  for (let round = from; round < (options.until ?? Infinity) && !options.signal?.aborted; round++) {
    const decision = options.wait ? await waitForDecision(chain, round, options.signal) : await chain.decision(round);
    if (!decision) return;
    yield { round, decision };
  }
}

/** Applies every decision the chain holds from `from` on; returns the first round without one (the round θ is now the model of). */
export async function followDecisions(
  chain: Pick<Chain, 'decision' | 'clock'>,
  from: number,
  follower: DecisionFollower,
  onRound?: (round: number, modelHash: ContentHash) => void,
): Promise<number> {
  let next = from;
  for await (const { round, decision } of chainDecisions(chain, from)) {
    const { modelHash } = await followDecision(round, decision, follower);
    onRound?.(round, modelHash);
    next = round + 1;
  }
  return next;
}

/**
 * θ on the CPU, moved by decisions exactly as every peer moves its own (src/engine/global-model.ts):
 * the hub, a validator and an auditor follow the run with one of these.
 */
export class ModelReplica implements DecisionFollower {
  constructor(
    private readonly layout: ParameterLayout,
    private readonly wire: WireLayout,
    private readonly runId: string,
    public model: GlobalModel,
    private readonly source: (hash: ContentHash, round: number) => Promise<Uint8Array>,
  ) {}

  get modelHash(): ContentHash {
    return hashHex(this.model);
  }

  payload(hash: ContentHash, round: number): Promise<Uint8Array> {
    return this.source(hash, round);
  }

  apply(round: number, payloads: Uint8Array[]): ContentHash {
    this.model = applyDecision(this.layout, this.wire, this.model, { runId: this.runId, round }, payloads);
    return hashHex(this.model);
  }
}

/**
 * The round's committed payloads as a validator judges them: each commit's hotkey (from its binding)
 * and bytes, in chain order. A payload nobody can serve is left out: to the Gauntlet it is missing.
 */
export async function committedSubmissions(
  chain: Pick<Chain, 'commits' | 'binding'>,
  round: number,
  fetchPayload: (hash: ContentHash, bytes: number) => Promise<Uint8Array>,
): Promise<{ committed: number; submissions: { hotkey: string; payload: Uint8Array }[] }> {
  const commits = await chain.commits(round);
  const submissions: { hotkey: string; payload: Uint8Array }[] = [];
  for (const { announcement } of commits) {
    const signer = await chain.binding(announcement.binding);
    if (!signer) continue;
    try {
      submissions.push({
        hotkey: signer.binding.hotkey,
        payload: await fetchPayload(toContentHash(announcement.payloadHash), announcement.bytes),
      });
    } catch {
      // Nobody serves it: a missing payload, as it is for the run's validator.
    }
  }
  return { committed: commits.length, submissions };
}
