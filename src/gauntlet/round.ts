// One round of the Gauntlet, from the payloads at the deadline to the decision record:
//   1. integrity of every submission (integrity.ts), in upload order, then each sound payload's
//      norm against the round's median (the admitted peers', when any sent one); the reasons are recorded;
//   2. index overlap of every accepted payload with the earlier uploads (the later one copied);
//   3. evaluation: up to `maxEvaluated` peers chosen by sampling.ts (of them up to `maxNewcomers`
//      on probation, never admitted yet), each update applied alone at lr × 0.2 (each tensor
//      clipped to the round's median norm, as the aggregate clips it) and the loss measured before
//      and after on its own assigned sequences and on the round's random ones; a peer on probation
//      whose update lowered the random loss by at least `admissionGainRatio` of the round's
//      reference is admitted;
//   4. the gather set from the standings before this round: peers ranked by final score, the
//      first `gatherSize` of them with a sound payload, reaching at most `gatherReserves` further
//      down the ranking for stand-ins; never a peer excluded, a copier, one whose payload failed,
//      or one on probation that this round did not admit; and H_{w+1}, computed with the decision
//      step every peer runs (engine/global-model.ts);
//   5. standings.ts moves every standing (docs/DESIGN.md step 7: it feeds later rounds' gather sets).
// Evaluating before deciding is what keeps fresh hotkeys out: a payload counts only once an
// evaluation showed it lowers the loss, never on trust.
// `judgeRound` is a function of (evaluator, context, previous state, round input, evaluation
// seed): the validator calls it with a fresh seed, the audit (audit.ts) with the recorded one.
import { bytesToHex } from '../base/hex.ts';
import { applyDecision, hashHex, type GlobalModel } from '../engine/global-model.ts';
import { contentHash } from '../base/content-hash.ts';
import type { ParameterLayout } from '../model/layout.ts';
import type { CompressedUpdate, WireLayout } from '../sparseloco/types.ts';
import type { GauntletConfig } from './config.ts';
import { applyAlone, windowBatches, type LossEvaluator } from './evaluator.ts';
import { decodedNorm, lowerMedian } from '../sparseloco/aggregate.ts';
import { checkIntegrity, indexOverlap, updateNorm, type IntegrityReason } from './integrity.ts';
import { assignedWindows, chooseForEvaluation, chooseOnProbation, randomWindows } from './sampling.ts';
import {
  chainWeights,
  compareStandings,
  isExcluded,
  newStanding,
  onProbation,
  scoreMeasurement,
  updateStandings,
  type GauntletState,
  type Measurement,
  type PeerScore,
} from './standings.ts';

export const DECISION_RECORD_KIND = 'webloco/gauntlet-decision/v1';

/** What a run's validator and auditor both know. */
export interface GauntletContext {
  runId: string;
  config: GauntletConfig;
  layout: ParameterLayout;
  wire: WireLayout;
  /** The train split: peers' assigned samples and the random evaluation sequences come from it. */
  trainTokens: Uint16Array;
  seqLen: number;
  /** The run's outer learning rate (the evaluation uses evaluationLrScale of it). */
  outerLr: number;
}

/** One payload as it reached the validator. */
export interface Submission {
  /** The hotkey the announcement names. */
  hotkey: string;
  payload: Uint8Array;
  /** Checks the announcement's signature and session binding: null when they hold, else what is wrong. */
  verify?: () => string | null;
}

export interface RoundInput {
  round: number;
  /** θ_w and H_w. */
  base: GlobalModel;
  /** In upload order (what decides who copied whom). */
  submissions: readonly Submission[];
  /** Model hashes (hex) of recent rounds → round, for the sync score of payloads computed on an older θ. */
  recentModels?: ReadonlyMap<string, number>;
}

export interface Rejection {
  peer: string;
  payloadHash: string;
  reason: IntegrityReason;
  detail: string;
}

/** Everything the validator decided and measured in a round. Plain JSON. */
export interface DecisionRecord {
  kind: typeof DECISION_RECORD_KIND;
  run: string;
  round: number;
  /** H_w. */
  baseModelHash: string;
  /** The seed that chose the evaluated peers and the random sequences, revealed with the record. */
  evaluationSeed: string;
  /** The gather set's payloads, in aggregation order. */
  payloadHashes: string[];
  /** Their peers, in the same order. */
  gathered: string[];
  /** How many of them stood in from past the first `gatherSize` places of the ranking. */
  reservesUsed: number;
  /** H_{w+1} = the model hash after applying exactly `payloadHashes` to θ_w. */
  nextModelHash: string;
  rejected: Rejection[];
  /**
   * Probation this round: the gradient score a peer on probation had to reach (null when no
   * evaluation gave a reference, so nobody could be admitted) and the peers admitted.
   */
  admission: { minGain: number | null; admitted: string[] };
  /** Peers evaluated on the GPU this round, and what was measured. */
  measurements: Measurement[];
  scores: PeerScore[];
  /** Set every `weightsInterval` rounds: normalised positive final scores. */
  weights?: { hotkey: string; weight: number }[];
}

interface Accepted {
  hotkey: string;
  payload: Uint8Array;
  payloadHash: string;
  update: CompressedUpdate;
}

/** The peer's standing (a fresh one for a peer never seen), for ranking. */
function standingOf(state: GauntletState, hotkey: string) {
  return state.peers[hotkey] ?? newStanding(hotkey);
}

/**
 * Whether the standings allow `hotkey` into a gather set (its payload this round aside): admitted,
 * not excluded, a positive final score. `admittedNow` are the peers on probation that this round's
 * evaluation admitted: they may be gathered in the round that admitted them.
 */
export function mayBeGathered(
  state: GauntletState,
  hotkey: string,
  config: GauntletConfig,
  admittedNow: ReadonlySet<string> = new Set(),
): boolean {
  const s = state.peers[hotkey];
  if (admittedNow.has(hotkey)) return !s || !isExcluded(s, config);
  return s !== undefined && !onProbation(s) && !isExcluded(s, config) && s.final > 0;
}

/**
 * Whether a peer's own record vouches for it although its final score is not positive: evaluated,
 * its last evaluation lowered the loss, and its binary average is positive. Only consulted for a
 * round nobody with a positive final score could join (see gatherSet).
 */
function vouchedFor(state: GauntletState, hotkey: string, config: GauntletConfig): boolean {
  const s = state.peers[hotkey];
  return s !== undefined && s.admitted && !isExcluded(s, config) && s.evaluations > 0 && s.recent.at(-1) === false && s.binaryMA > 0;
}

/**
 * The gather set: candidates ranked as standings.ts's `ranking` ranks them; walking down the
 * ranking, each peer that may be gathered and has a sound payload is taken, until `gatherSize`
 * are taken or `gatherSize + gatherReserves` places have been looked at. A round that would
 * gather nobody takes the peers whose last evaluation vouches for them instead: a lone peer plays
 * no rating game, so its conservative ordinal (μ − 3σ) stays at 0 and its final score with it,
 * and without this a swarm of one would stop learning after the first evaluation.
 */
function gatherSet(
  state: GauntletState,
  sound: ReadonlySet<string>,
  candidates: readonly string[],
  config: GauntletConfig,
  admittedNow: ReadonlySet<string>,
): { gathered: string[]; reservesUsed: number } {
  const chosen = walkRanking(state, sound, candidates, config, (h) => mayBeGathered(state, h, config, admittedNow));
  return chosen.gathered.length > 0 ? chosen : walkRanking(state, sound, candidates, config, (h) => vouchedFor(state, h, config));
}

function walkRanking(
  state: GauntletState,
  sound: ReadonlySet<string>,
  candidates: readonly string[],
  config: GauntletConfig,
  eligible: (hotkey: string) => boolean,
): { gathered: string[]; reservesUsed: number } {
  const ranked = [...new Set(candidates)]
    .filter(eligible)
    .map((h) => standingOf(state, h))
    .sort(compareStandings);
  const gathered: string[] = [];
  let reservesUsed = 0;
  for (
    let place = 0;
    place < ranked.length && place < config.gatherSize + config.gatherReserves && gathered.length < config.gatherSize;
    place++
  ) {
    const hotkey = ranked[place]!.hotkey;
    if (!sound.has(hotkey)) continue;
    gathered.push(hotkey);
    if (place >= config.gatherSize) reservesUsed++;
  }
  return { gathered, reservesUsed };
}

/** Judges one round. `state` is the standings before it; the returned state is after it. */
export async function judgeRound(
  evaluator: LossEvaluator,
  context: GauntletContext,
  state: GauntletState,
  input: RoundInput,
  seed: string,
): Promise<{ record: DecisionRecord; state: GauntletState }> {
  const { config, runId, wire } = context;
  const layout = evaluator.layout;
  const { round, base } = input;
  if (state.round !== round) throw new RangeError(`gauntlet: the standings are ready for round ${state.round}, not round ${round}`);

  // 1. Integrity, in upload order; one payload per hotkey.
  const accepted = new Map<string, Accepted>();
  const rejected: Rejection[] = [];
  const failures: { hotkey: string; reason: IntegrityReason; roundsBehind?: number }[] = [];
  const active = new Set<string>();
  for (const submission of input.submissions) {
    const hash = contentHash(submission.payload);
    const result = checkIntegrity(submission.payload, {
      wire,
      runId,
      round,
      baseModelHash: base.hash,
      recentModels: input.recentModels,
      verify: submission.verify,
    });
    if (!result.ok && result.reason === 'forged') {
      // Not the named peer's doing: nothing is held against it.
      rejected.push({ peer: submission.hotkey, payloadHash: hash, reason: 'forged', detail: result.detail });
      continue;
    }
    if (active.has(submission.hotkey)) {
      rejected.push({
        peer: submission.hotkey,
        payloadHash: hash,
        reason: 'duplicate',
        detail: 'a second payload from this peer in the round; the first counts',
      });
      continue;
    }
    active.add(submission.hotkey);
    if (result.ok) {
      accepted.set(submission.hotkey, { hotkey: submission.hotkey, payload: submission.payload, payloadHash: hash, update: result.update });
    } else {
      rejected.push({ peer: submission.hotkey, payloadHash: hash, reason: result.reason, detail: result.detail });
      failures.push({
        hotkey: submission.hotkey,
        reason: result.reason,
        ...(result.roundsBehind !== undefined ? { roundsBehind: result.roundsBehind } : {}),
      });
    }
  }

  // 1b. Norms against the round's median: a gross outlier is refused like a malformed payload. The
  // median is the admitted peers' when any sent one: peers on probation cannot move it.
  const norms = new Map([...accepted.values()].map((a) => [a.hotkey, updateNorm(a.update)]));
  if (accepted.size > 0) {
    const setters = yardstick(state, accepted.keys());
    const median = lowerMedian([...norms].filter(([h]) => setters.has(h)).map(([, n]) => n));
    for (const a of [...accepted.values()]) {
      const norm = norms.get(a.hotkey)!;
      if (norm > config.maxNormRatio * median) {
        accepted.delete(a.hotkey);
        const detail = `norm ${norm.toPrecision(4)} is ${(norm / median).toPrecision(3)}× the round's median ${median.toPrecision(4)} (limit ${config.maxNormRatio}×)`;
        rejected.push({ peer: a.hotkey, payloadHash: a.payloadHash, reason: 'norm-outlier', detail });
        failures.push({ hotkey: a.hotkey, reason: 'norm-outlier' });
      }
    }
  }

  // 2. Index overlap with every earlier sound upload.
  const overlaps = new Map<string, number>();
  const inOrder = [...accepted.values()];
  inOrder.forEach((later, j) => {
    let highest = 0;
    for (let i = 0; i < j; i++) highest = Math.max(highest, indexOverlap(later.update, inOrder[i]!.update));
    if (j > 0) overlaps.set(later.hotkey, highest);
  });
  const copiers = new Set([...overlaps].filter(([, o]) => o >= config.overlapResetThreshold).map(([h]) => h));

  // 3. Evaluation, before the decision: up to `maxNewcomers` peers on probation, the rest of
  // `maxEvaluated` among the admitted.
  const sound = new Set([...accepted.keys()].filter((h) => !copiers.has(h)));
  const waiting = [...sound].filter((h) => onProbation(state.peers[h]));
  const onTrial = chooseOnProbation(waiting, state, seed, Math.min(config.maxNewcomers, config.maxEvaluated));
  const established = [...sound].filter((h) => !onProbation(state.peers[h]));
  const chosen = [...onTrial, ...chooseForEvaluation(established, state, seed, config, config.maxEvaluated - onTrial.length)].sort();
  const measurements: Measurement[] = [];
  if (chosen.length > 0) {
    const trainTokens = context.trainTokens.length;
    const rows = evaluator.rows;
    const randomBatches = windowBatches(
      context.trainTokens,
      randomWindows(seed, config.randomSequences, context.seqLen, trainTokens),
      rows,
      context.seqLen,
    );
    const lossBeforeRandom = await evaluator.loss(base.theta, randomBatches);
    const lr = context.outerLr * config.evaluationLrScale;
    const soundUpdates = [...yardstick(state, sound)].map((h) => accepted.get(h)!.update);
    const medianNorms = layout.tensors.map((_, t) => lowerMedian(soundUpdates.map((u) => decodedNorm(u.tensors[t]!))));
    for (const hotkey of chosen) {
      const assigned = windowBatches(
        context.trainTokens,
        assignedWindows(runId, round, hotkey, config.assignedSequences, context.seqLen, trainTokens),
        rows,
        context.seqLen,
      );
      const lossBeforeAssigned = await evaluator.loss(base.theta, assigned);
      const stepped = applyAlone(layout, base.theta, accepted.get(hotkey)!.update, lr, medianNorms);
      measurements.push({
        hotkey,
        lossBeforeAssigned,
        lossAfterAssigned: await evaluator.loss(stepped, assigned),
        lossBeforeRandom,
        lossAfterRandom: await evaluator.loss(stepped, randomBatches),
      });
    }
  }
  const admission = admit(state, measurements, new Set(onTrial), config);

  // 4. The gather set and H_{w+1}.
  const { gathered, reservesUsed } = gatherSet(state, sound, [...active], config, new Set(admission.admitted));
  const payloads = gathered.map((h) => accepted.get(h)!.payload);
  const next = applyDecision(layout, wire, base, { runId, round }, payloads, context.outerLr);

  // 5. Standings.
  const updated = updateStandings(
    state,
    { round, active: [...active], measurements, failures, overlaps, admitted: admission.admitted },
    config,
  );

  const record: DecisionRecord = {
    kind: DECISION_RECORD_KIND,
    run: runId,
    round,
    baseModelHash: bytesToHex(base.hash),
    evaluationSeed: seed,
    payloadHashes: gathered.map((h) => accepted.get(h)!.payloadHash),
    gathered,
    reservesUsed,
    nextModelHash: hashHex(next),
    rejected,
    admission,
    measurements,
    scores: updated.scores,
    ...((round + 1) % config.weightsInterval === 0 ? { weights: chainWeights(updated.state) } : {}),
  };
  return { record, state: updated.state };
}

/**
 * Who of the peers evaluated on probation (`onTrial`) the round admits: a positive gradient score of
 * at least `admissionGainRatio` × the reference, the lower median of the scores of the admitted
 * peers evaluated this round that the standings let into gather sets, or, when none was, of every
 * positive score of the round (a new run's first round).
 */
function admit(
  state: GauntletState,
  measurements: readonly Measurement[],
  onTrial: ReadonlySet<string>,
  config: GauntletConfig,
): DecisionRecord['admission'] {
  const scores = measurements.map((m) => ({ hotkey: m.hotkey, score: scoreMeasurement(m).gradientScore }));
  const established = scores.filter((s) => !onTrial.has(s.hotkey) && mayBeGathered(state, s.hotkey, config)).map((s) => s.score);
  const positive = scores.filter((s) => s.score > 0).map((s) => s.score);
  const reference = established.length > 0 ? lowerMedian(established) : positive.length > 0 ? lowerMedian(positive) : null;
  if (reference === null || !(reference > 0)) return { minGain: null, admitted: [] };
  const minGain = config.admissionGainRatio * reference;
  const admitted = scores.filter((s) => onTrial.has(s.hotkey) && s.score > 0 && s.score >= minGain).map((s) => s.hotkey);
  return { minGain, admitted };
}

/**
 * The peers whose payloads set the round's median norms (the norm-outlier limit, the evaluation's
 * clipping): the admitted ones among `hotkeys` when there are any, else all of them. So a crowd of
 * peers on probation can neither drag the median down (and an honest payload past the outlier
 * limit) nor up (and their own unclipped).
 */
function yardstick(state: GauntletState, hotkeys: Iterable<string>): Set<string> {
  const all = [...hotkeys];
  const admitted = all.filter((h) => !onProbation(state.peers[h]));
  return new Set(admitted.length > 0 ? admitted : all);
}
