// Following the chain's decisions, the one way every member does it: a round's decision names
// payloads (by content hash, in aggregation order) and H_{w+1}; the follower fetches the payloads,
// applies them to its θ_w and checks that its model hash is the decided one. A mismatch means the
// follower is out of sync (a participant resyncs, a validator or an auditor stops). The hub
// replaying its own decisions after a restart, a participant joining or applying a round, a
// validator and an auditor all go through `followDecision`.
import { toContentHash, type ContentHash } from '../base/content-hash.ts';
import { CodedError } from '../base/errors.ts';
import { waitForDecision, type Chain } from '../chain/chain.ts';
import type { SignedDecision } from '../chain/extrinsics.ts';
import { applyDecision, hashHex, type GlobalModel } from '../engine/global-model.ts';
import type { ParameterLayout } from '../model/layout.ts';
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
