// The Gauntlet's numbers, all in one place: the defaults are the Covenant run's (docs/DESIGN.md,
// "Gauntlet"), and every one can be overridden (tests on the tiny preset use smaller evaluation
// sets). A validator and an auditor must use the same configuration to agree.

export interface GauntletConfig {
  /** Peers evaluated (their loss measured on the GPU) per round: 20. */
  maxEvaluated: number;
  /** Ordinal bins the evaluation sample is drawn from, round robin: 5. */
  evaluationBins: number;
  /** Sequences of the peer's own assigned samples the loss is measured on: 8. */
  assignedSequences: number;
  /** Random train sequences (the same for every peer of a round) the loss is measured on: 8. */
  randomSequences: number;
  /** The peer's update is applied alone with this fraction of the outer learning rate: 0.2. */
  evaluationLrScale: number;
  /** Moving average of the binary indicator: m ← (1 − α)·m + α·(±1), α = 0.05. */
  binaryAlpha: number;
  /** OpenSkill Plackett-Luce β = 7 and τ = 0.1. */
  openSkillBeta: number;
  openSkillTau: number;
  /** The OpenSkill score of a peer that was due but delivered nothing usable: −99. */
  missingScore: number;
  /** Rounds behind at which the sync score reaches 0: 3 (sync = (1 − min(x, 3)/3)^2.5). */
  maxRoundsBehind: number;
  syncExponent: number;
  /** Multipliers on the final score: missing ×0.75, out of sync ×0.75, inactive ×0.75 a round. */
  missingPenalty: number;
  outOfSyncPenalty: number;
  inactivePenalty: number;
  /** `negativeLimit` (4) of the last `negativeWindow` (8) evaluations negative: ×0.25. */
  negativeWindow: number;
  negativeLimit: number;
  negativePenalty: number;
  /** This many negative evaluations in a row (3) keep a peer out of the gather set. */
  excludeAfterNegativeRun: number;
  /** Index overlap with an earlier upload ≥ 0.4: ×0.5; ≥ 0.5: the copier's standing is reset. */
  overlapPenaltyThreshold: number;
  overlapPenalty: number;
  overlapResetThreshold: number;
  /**
   * A payload whose norm (over all its tensors) exceeds this multiple of the round's median is
   * refused ('norm-outlier'): 10. Not a Covenant number: the aggregate clips every tensor to the
   * median norm anyway, so a scaled update cannot move θ further than an honest one, but applied
   * alone a grossly scaled update can score higher than any honest one; the evaluation also clips
   * to the round's median (evaluator.ts), so moderate scaling earns nothing either.
   */
  maxNormRatio: number;
  /** Gather set: the top 20 by final score, with 10 reserves standing in for top peers whose payload fails. */
  gatherSize: number;
  gatherReserves: number;
  /**
   * Peers on probation (never admitted: newcomers, and peers reset for copying) evaluated per round
   * before the decision, the longest waiting first: 10. Nothing of theirs is gathered before an
   * evaluation admits them, so this also caps the peers admitted in one round; with the evaluation
   * budget (`maxEvaluated`) it bounds what a flood of fresh hotkeys costs the validator.
   */
  maxNewcomers: number;
  /**
   * A peer on probation is admitted when its gradient score (relative loss reduction on the round's
   * random windows) is positive and at least this fraction (0.5) of the round's reference: the lower
   * median over the admitted peers evaluated in the round, or with none, over the round's positive
   * scores. On the tiny preset honest scores sat within 0.67-1.2× of their round's median and
   * noise at most 0.21× of it (in the Gauntlet scenario; test/gauntlet/sybil.test.ts prints its rounds).
   */
  admissionGainRatio: number;
  /** Chain weights (normalised positive final scores) are set every this many rounds: 5. */
  weightsInterval: number;
}

export const GAUNTLET_DEFAULTS: GauntletConfig = {
  maxEvaluated: 20,
  evaluationBins: 5,
  assignedSequences: 8,
  randomSequences: 8,
  evaluationLrScale: 0.2,
  binaryAlpha: 0.05,
  openSkillBeta: 7,
  openSkillTau: 0.1,
  missingScore: -99,
  maxRoundsBehind: 3,
  syncExponent: 2.5,
  missingPenalty: 0.75,
  outOfSyncPenalty: 0.75,
  inactivePenalty: 0.75,
  negativeWindow: 8,
  negativeLimit: 4,
  negativePenalty: 0.25,
  excludeAfterNegativeRun: 3,
  overlapPenaltyThreshold: 0.4,
  overlapPenalty: 0.5,
  overlapResetThreshold: 0.5,
  maxNormRatio: 10,
  gatherSize: 20,
  gatherReserves: 10,
  maxNewcomers: 10,
  admissionGainRatio: 0.5,
  weightsInterval: 5,
};

/** The defaults with `overrides` applied, checked. */
export function gauntletConfig(overrides: Partial<GauntletConfig> = {}): GauntletConfig {
  const config = { ...GAUNTLET_DEFAULTS, ...overrides };
  for (const key of [
    'maxEvaluated',
    'evaluationBins',
    'assignedSequences',
    'randomSequences',
    'negativeWindow',
    'gatherSize',
    'weightsInterval',
    'maxRoundsBehind',
    'maxNewcomers',
  ] as const) {
    if (!Number.isSafeInteger(config[key]) || config[key] < 1)
      throw new RangeError(`gauntlet: ${key} must be a positive integer, got ${config[key]}`);
  }
  if (!Number.isSafeInteger(config.gatherReserves) || config.gatherReserves < 0)
    throw new RangeError(`gauntlet: gatherReserves must be a non-negative integer, got ${config.gatherReserves}`);
  if (!(config.binaryAlpha > 0 && config.binaryAlpha <= 1))
    throw new RangeError(`gauntlet: binaryAlpha must be in (0, 1], got ${config.binaryAlpha}`);
  if (!(config.maxNormRatio >= 1)) throw new RangeError(`gauntlet: maxNormRatio must be at least 1, got ${config.maxNormRatio}`);
  if (!(config.admissionGainRatio >= 0))
    throw new RangeError(`gauntlet: admissionGainRatio must be non-negative, got ${config.admissionGainRatio}`);
  if (!(config.evaluationLrScale > 0))
    throw new RangeError(`gauntlet: evaluationLrScale must be positive, got ${config.evaluationLrScale}`);
  return config;
}
