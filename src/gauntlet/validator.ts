// The Gauntlet validator of a run: its GPU evaluator, the standings, the model hashes of recent
// rounds (for the sync score), and the secret its evaluation seeds come from. `judge(input)` turns
// one round's payloads into a decision record (round.ts); `signDecision` makes the chain statement
// of it. `snapshot()` is everything besides the secret that judging the next round needs: a hub
// saves it with each judged round and a restarted validator continues from it (`state`,
// `recentModels`) with the same secret, so the seeds it already revealed stay its seeds. It replaces the hub's take-everything rule: a hub or the simulator applies exactly the
// record's payloads, in order, and must arrive at its nextModelHash.
import { signedHash } from '../base/content-hash.ts';
import { bytesToHex } from '../base/hex.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import type { LlamaConfig } from '../model/config.ts';
import { signDecision, type SignedDecision } from '../chain/extrinsics.ts';
import type { SigningKey } from '../identity/keys.ts';
import { wireLayoutOf } from '../sparseloco/codec.ts';
import { DEFAULT_OUTER_LR } from '../sparseloco/outer.ts';
import { gauntletConfig, type GauntletConfig } from './config.ts';
import { evaluationRows, LossEvaluator } from './evaluator.ts';
import { judgeRound, type DecisionRecord, type GauntletContext, type RoundInput } from './round.ts';
import { evaluationSeed } from './sampling.ts';
import { emptyState, ranking, type GauntletState, type PeerStanding } from './standings.ts';

export interface ValidatorOptions {
  runId: string;
  config: LlamaConfig;
  trainTokens: Uint16Array;
  seqLen: number;
  outerLr?: number;
  gauntlet?: Partial<GauntletConfig>;
  /** The validator's secret: evaluation seeds derive from it and are revealed round by round. */
  secret: string;
  /** Standings to continue from (a restarted validator). */
  state?: GauntletState;
  /** The recent model hashes it knew (a restarted validator: its snapshot's). */
  recentModels?: readonly (readonly [string, number])[];
}

/** What a validator carries from one round to the next, besides its secret: plain JSON. */
export interface ValidatorSnapshot {
  /** The standings after the last judged round (`standings.round` is the next round to judge). */
  standings: GauntletState;
  /** Model hashes (hex) of recent rounds → round, for the sync score. */
  recentModels: [string, number][];
}

export interface JudgedRound {
  record: DecisionRecord;
  /** The standings before the round. */
  previous: GauntletState;
  input: RoundInput;
}

/** How many past model hashes the validator remembers to measure how far behind a payload is. */
const REMEMBERED_MODELS = 8;

export class Validator {
  private standings: GauntletState;
  private readonly recentModels: Map<string, number>;

  private constructor(
    readonly context: GauntletContext,
    readonly evaluator: LossEvaluator,
    private readonly secret: string,
    state: GauntletState,
    recentModels: readonly (readonly [string, number])[],
  ) {
    this.standings = state;
    this.recentModels = new Map(recentModels);
  }

  static async create(rt: GpuRuntime, options: ValidatorOptions): Promise<Validator> {
    const config = gauntletConfig(options.gauntlet);
    const evaluator = await LossEvaluator.create(
      rt,
      options.config,
      evaluationRows(config.assignedSequences, config.randomSequences),
      options.seqLen,
    );
    const context: GauntletContext = {
      runId: options.runId,
      config,
      layout: evaluator.layout,
      wire: wireLayoutOf(evaluator.layout.tensors),
      trainTokens: options.trainTokens,
      seqLen: options.seqLen,
      outerLr: options.outerLr ?? DEFAULT_OUTER_LR,
    };
    return new Validator(context, evaluator, options.secret, options.state ?? emptyState(), options.recentModels ?? []);
  }

  /** The standings (copy them before keeping: the next round replaces this object). */
  get state(): GauntletState {
    return this.standings;
  }

  /**
   * Judges round `input.round` (the next one: rounds are judged in order). Returns the record with
   * what an auditor needs besides θ_w and the payloads: the standings before the round and the
   * model hashes it knew.
   */
  async judge(input: Omit<RoundInput, 'recentModels'>): Promise<JudgedRound> {
    this.recentModels.set(bytesToHex(input.base.hash), input.round);
    const seed = evaluationSeed(this.secret, this.context.runId, input.round);
    const previous = this.standings;
    const full: RoundInput = { ...input, recentModels: new Map(this.recentModels) };
    const { record, state } = await judgeRound(this.evaluator, this.context, previous, full, seed);
    this.standings = state;
    for (const [hash, round] of this.recentModels) if (round <= input.round - REMEMBERED_MODELS) this.recentModels.delete(hash);
    return { record, previous, input: full };
  }

  /** What judging the next round needs besides the secret (a copy). */
  snapshot(): ValidatorSnapshot {
    return { standings: structuredClone(this.standings), recentModels: [...this.recentModels] };
  }

  /**
   * Moves the standings on to `round` without judging the rounds before it (decided without this
   * validator: a hub that ran without its GPU, or lost its saved standings). Nobody is scored for them.
   */
  skipTo(round: number): void {
    if (round < this.standings.round) throw new RangeError(`gauntlet: the standings are at round ${this.standings.round}, past ${round}`);
    this.standings = { ...this.standings, round };
  }

  /** Peers best first. */
  ranking(): PeerStanding[] {
    return ranking(this.standings);
  }

  destroy(): void {
    this.evaluator.destroy();
  }
}

/** The chain statement of a record: run, round, the exact payload list and H_{w+1}, signed. */
export function signDecisionRecord(key: SigningKey, record: DecisionRecord, nonce: number): SignedDecision {
  return signDecision(key, {
    run: record.run,
    round: record.round,
    payloadHashes: record.payloadHashes.map(signedHash),
    modelHash: signedHash(record.nextModelHash),
    nonce,
  });
}
