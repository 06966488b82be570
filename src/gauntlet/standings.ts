// Each peer's standing with the validator and the pure arithmetic that moves it, one round at a
// time: the binary moving average, the OpenSkill Plackett-Luce rating over the round's gradient
// scores (the maintained `openskill` package, not a re-derivation), the sync score, the penalties
// and the final score final = ordinal × max(0, binaryMA) × sync. No GPU and no randomness: the
// loss measurements come in as numbers, so an auditor who re-measures them recomputes the same
// standings. The state is plain JSON (a validator persists it; a decision record carries enough
// to replay a round from the previous one).
import { ordinal, rate, rating } from 'openskill';
import type { GauntletConfig } from './config.ts';
import type { IntegrityReason } from './integrity.ts';

export interface PeerStanding {
  hotkey: string;
  /** OpenSkill rating. */
  mu: number;
  sigma: number;
  binaryMA: number;
  /** Latest sync score (1 when in sync). */
  sync: number;
  final: number;
  /** The last `negativeWindow` evaluations, oldest first: true when negative. */
  recent: boolean[];
  /** Negative evaluations in a row; at `excludeAfterNegativeRun` the peer is kept out of the gather set. */
  negativeRun: number;
  evaluations: number;
  /** Rounds whose payload failed integrity. */
  failures: number;
  /** Times its standing was reset for copying. */
  resets: number;
  /** −1 until first evaluated. */
  lastEvaluated: number;
  /** −1 until first seen. */
  lastSeen: number;
  /** The round it first sent a payload in; −1 until then. Probation evaluations go to the longest waiting first. */
  firstSeen: number;
  /**
   * Whether an evaluation has shown its payload lowers the loss (round.ts, `admissionGainRatio`).
   * Until then the peer is on probation: evaluated before the decision, never gathered. A copier's
   * reset puts it back on probation.
   */
  admitted: boolean;
}

export interface GauntletState {
  /** The next round to judge. */
  round: number;
  peers: Record<string, PeerStanding>;
}

/** What was measured of one evaluated peer this round (the evaluator's output). */
export interface Measurement {
  hotkey: string;
  lossBeforeAssigned: number;
  lossAfterAssigned: number;
  lossBeforeRandom: number;
  lossAfterRandom: number;
}

/** Everything that happened to peers in a round, as the standings need it. */
export interface RoundOutcome {
  round: number;
  /** Hotkeys with any payload this round attributed to them (the inactive ones are the rest). */
  active: readonly string[];
  measurements: readonly Measurement[];
  /** Integrity failures attributed to the sender (a forged payload is not attributed to the peer it names). */
  failures: readonly { hotkey: string; reason: IntegrityReason; roundsBehind?: number }[];
  /** Highest index overlap with an earlier upload this round, for peers whose payload passed integrity. */
  overlaps: ReadonlyMap<string, number>;
  /** Peers on probation whose evaluation this round admitted them. */
  admitted: readonly string[];
}

/** What the round did to one peer: the record a decision carries and an audit compares. */
export interface PeerScore {
  hotkey: string;
  evaluated: boolean;
  gradientScore?: number;
  assignedGain?: number;
  randomGain?: number;
  binary?: 1 | -1;
  failure?: IntegrityReason;
  overlap?: number;
  /** Multipliers applied this round, by name. */
  penalties: string[];
  reset: boolean;
  /** Admitted after this round (false: still on probation, never gathered). */
  admitted: boolean;
  binaryMA: number;
  ordinal: number;
  sync: number;
  final: number;
}

export function emptyState(): GauntletState {
  return { round: 0, peers: {} };
}

export function newStanding(hotkey: string): PeerStanding {
  const { mu, sigma } = rating();
  return {
    hotkey,
    mu,
    sigma,
    binaryMA: 0,
    sync: 1,
    final: 0,
    recent: [],
    negativeRun: 0,
    evaluations: 0,
    failures: 0,
    resets: 0,
    lastEvaluated: -1,
    lastSeen: -1,
    firstSeen: -1,
    admitted: false,
  };
}

export function ordinalOf(standing: Pick<PeerStanding, 'mu' | 'sigma'>): number {
  return ordinal({ mu: standing.mu, sigma: standing.sigma });
}

/** sync = (1 − min(x, max)/max)^exponent for a peer x rounds behind. */
export function syncScore(roundsBehind: number, config: Pick<GauntletConfig, 'maxRoundsBehind' | 'syncExponent'>): number {
  return (1 - Math.min(Math.max(roundsBehind, 0), config.maxRoundsBehind) / config.maxRoundsBehind) ** config.syncExponent;
}

/** Relative loss reduction (L_before − L_after) / L_before. */
function relativeGain(before: number, after: number): number {
  return (before - after) / before;
}

/** gradient_score = relative gain on random data; binary = +1 when the gain on its assigned data beats it. */
export function scoreMeasurement(m: Measurement): { gradientScore: number; assignedGain: number; randomGain: number; binary: 1 | -1 } {
  const randomGain = relativeGain(m.lossBeforeRandom, m.lossAfterRandom);
  const assignedGain = relativeGain(m.lossBeforeAssigned, m.lossAfterAssigned);
  // NaN (a loss that is not finite after the step) is negative: it compares false.
  const gradientScore = Number.isFinite(randomGain) ? randomGain : -Infinity;
  return { gradientScore, assignedGain, randomGain, binary: assignedGain > randomGain ? 1 : -1 };
}

/** True when the peer may not be gathered whatever its score: too many negative evaluations in a row. */
export function isExcluded(standing: PeerStanding, config: GauntletConfig): boolean {
  return standing.negativeRun >= config.excludeAfterNegativeRun;
}

/** Not admitted yet (never seen, or no evaluation has shown its payload lowers the loss): nothing of it is gathered. */
export function onProbation(standing: PeerStanding | undefined): boolean {
  return !standing?.admitted;
}

function cloneState(state: GauntletState): GauntletState {
  return {
    round: state.round,
    peers: Object.fromEntries(Object.entries(state.peers).map(([k, p]) => [k, { ...p, recent: [...p.recent] }])),
  };
}

function pushRecent(standing: PeerStanding, negative: boolean, config: GauntletConfig): void {
  standing.recent.push(negative);
  if (standing.recent.length > config.negativeWindow) standing.recent.splice(0, standing.recent.length - config.negativeWindow);
  standing.negativeRun = negative ? standing.negativeRun + 1 : 0;
}

/**
 * The standings after `outcome`, and what happened to every peer it touched. Pure: `state` is not
 * modified. Order of operations (each documented in docs/PROTOCOL.md, "Gauntlet"):
 * 1. one OpenSkill Plackett-Luce game over the evaluated peers (score = gradient score) and
 *    every peer that was due and delivered nothing of its own (score = missingScore): its payload
 *    failed integrity, it copied, or an admitted peer known from earlier rounds sent nothing;
 * 2. evaluated peers: binary MA, negatives, final = ordinal × max(0, MA) × sync, then ×0.25 when
 *    4 of the last 8 evaluations were negative, ×0.5 for an index overlap ≥ 0.4; those on probation
 *    that the round admitted (outcome.admitted) are admitted;
 * 3. failed peers: MA with −1, a negative, sync from rounds behind, final × missing (× out of sync);
 * 4. copiers (overlap ≥ 0.5): binary MA and final reset to 0, back on probation (their rating keeps the game's verdict);
 * 5. admitted peers with nothing this round: final × inactive; peers on probation with nothing for
 *    more than `negativeWindow` rounds are dropped.
 */
export function updateStandings(
  state: GauntletState,
  outcome: RoundOutcome,
  config: GauntletConfig,
): { state: GauntletState; scores: PeerScore[] } {
  const next = cloneState(state);
  next.round = outcome.round + 1;
  const standing = (hotkey: string) => (next.peers[hotkey] ??= newStanding(hotkey));
  for (const hotkey of outcome.active) {
    const s = standing(hotkey);
    s.lastSeen = outcome.round;
    if (s.firstSeen < 0) s.firstSeen = outcome.round;
  }
  const admitted = new Set(outcome.admitted);
  const isAdmitted = (hotkey: string) => state.peers[hotkey]?.admitted === true;

  const copiers = new Set([...outcome.overlaps].filter(([, o]) => o >= config.overlapResetThreshold).map(([h]) => h));
  const measured = outcome.measurements.filter((m) => !copiers.has(m.hotkey)).map((m) => ({ m, ...scoreMeasurement(m) }));
  const failed = outcome.failures;
  const active = new Set(outcome.active);
  const absent = Object.keys(state.peers)
    .filter((h) => !active.has(h))
    .sort();
  // Only admitted peers are missed when they send nothing: a peer on probation that stopped sending
  // plays no game, and is forgotten after `negativeWindow` rounds (nothing of it is worth keeping),
  // so hotkeys that come once cost the standings nothing for long.
  const inactive = absent.filter(isAdmitted);
  for (const hotkey of absent)
    if (!isAdmitted(hotkey) && state.peers[hotkey]!.lastSeen < outcome.round - config.negativeWindow) delete next.peers[hotkey];

  // 1. The round's game.
  const missing = [...failed.map((f) => f.hotkey), ...[...copiers].sort(), ...inactive];
  const players = [
    ...measured.map((e) => ({ hotkey: e.m.hotkey, score: e.gradientScore })),
    ...missing.map((hotkey) => ({ hotkey, score: config.missingScore })),
  ];
  if (players.length >= 2) {
    const teams = players.map((p) => [{ mu: standing(p.hotkey).mu, sigma: standing(p.hotkey).sigma }]);
    // −Infinity (a step that made the loss non-finite) ranks with the missing.
    const scores = players.map((p) => (Number.isFinite(p.score) ? p.score : config.missingScore));
    const rated = rate(teams, { score: scores, beta: config.openSkillBeta, tau: config.openSkillTau });
    players.forEach((p, i) => {
      const s = standing(p.hotkey);
      s.mu = rated[i]![0]!.mu;
      s.sigma = rated[i]![0]!.sigma;
    });
  }

  const scores: PeerScore[] = [];
  // 2. Evaluated peers.
  for (const e of measured) {
    const s = standing(e.m.hotkey);
    s.binaryMA = (1 - config.binaryAlpha) * s.binaryMA + config.binaryAlpha * e.binary;
    pushRecent(s, !(e.gradientScore >= 0), config);
    s.evaluations++;
    s.lastEvaluated = outcome.round;
    s.sync = 1;
    if (admitted.has(s.hotkey)) s.admitted = true;
    const penalties: string[] = [];
    let final = ordinalOf(s) * Math.max(0, s.binaryMA) * s.sync;
    if (s.recent.filter(Boolean).length >= config.negativeLimit) {
      final *= config.negativePenalty;
      penalties.push('negative');
    }
    const overlap = outcome.overlaps.get(e.m.hotkey);
    if (overlap !== undefined && overlap >= config.overlapPenaltyThreshold) {
      final *= config.overlapPenalty;
      penalties.push('overlap');
    }
    s.final = final || 0; // no −0 (a negative ordinal times a zero average)
    scores.push({
      hotkey: s.hotkey,
      evaluated: true,
      gradientScore: e.gradientScore,
      assignedGain: e.assignedGain,
      randomGain: e.randomGain,
      binary: e.binary,
      ...(overlap !== undefined ? { overlap } : {}),
      penalties,
      reset: false,
      admitted: s.admitted,
      binaryMA: s.binaryMA,
      ordinal: ordinalOf(s),
      sync: s.sync,
      final: s.final,
    });
  }
  // 3. Integrity failures.
  for (const f of failed) {
    const s = standing(f.hotkey);
    s.binaryMA = (1 - config.binaryAlpha) * s.binaryMA - config.binaryAlpha;
    pushRecent(s, true, config);
    s.failures++;
    const penalties = ['missing'];
    const outOfSync = f.reason === 'stale' || f.reason === 'wrong-model';
    if (outOfSync) s.sync = syncScore(f.roundsBehind ?? config.maxRoundsBehind, config);
    let final = ordinalOf(s) * Math.max(0, s.binaryMA) * s.sync * config.missingPenalty;
    if (outOfSync) {
      final *= config.outOfSyncPenalty;
      penalties.push('out-of-sync');
    }
    s.final = final || 0;
    scores.push({
      hotkey: s.hotkey,
      evaluated: false,
      failure: f.reason,
      penalties,
      reset: false,
      admitted: s.admitted,
      binaryMA: s.binaryMA,
      ordinal: ordinalOf(s),
      sync: s.sync,
      final: s.final,
    });
  }
  // 4. Copiers start over.
  for (const hotkey of [...copiers].sort()) {
    const s = standing(hotkey);
    s.binaryMA = 0;
    s.final = 0;
    s.resets++;
    s.admitted = false;
    pushRecent(s, true, config);
    scores.push({
      hotkey,
      evaluated: false,
      overlap: outcome.overlaps.get(hotkey)!,
      penalties: ['copy'],
      reset: true,
      admitted: s.admitted,
      binaryMA: s.binaryMA,
      ordinal: ordinalOf(s),
      sync: s.sync,
      final: s.final,
    });
  }
  // 5. Inactive peers decay.
  for (const hotkey of inactive) {
    const s = standing(hotkey);
    s.final *= config.inactivePenalty;
    scores.push({
      hotkey: s.hotkey,
      evaluated: false,
      penalties: ['inactive'],
      reset: false,
      admitted: s.admitted,
      binaryMA: s.binaryMA,
      ordinal: ordinalOf(s),
      sync: s.sync,
      final: s.final,
    });
  }
  return { state: next, scores };
}

/**
 * Peers best first: those with a positive final score (the ones that earn weight) by final score;
 * then the other admitted peers, then those on probation, each by OpenSkill ordinal, so a peer that
 * earns nothing yet but wins its games stands above one that loses them; then by hotkey, so the
 * order is total and deterministic.
 */
export function ranking(state: GauntletState): PeerStanding[] {
  return Object.values(state.peers).sort(compareStandings);
}

export function compareStandings(a: PeerStanding, b: PeerStanding): number {
  const earnsA = a.final > 0;
  const earnsB = b.final > 0;
  if (earnsA !== earnsB) return earnsA ? -1 : 1;
  if (a.admitted !== b.admitted) return a.admitted ? -1 : 1;
  return (earnsA ? b.final - a.final : 0) || ordinalOf(b) - ordinalOf(a) || (a.hotkey < b.hotkey ? -1 : a.hotkey > b.hotkey ? 1 : 0);
}

/**
 * Chain weights: positive final scores normalised so the largest is 65535 (Subtensor's u16
 * weights are read relative to their sum, so only the proportions matter). Peers at or below 0
 * get no weight.
 */
export function chainWeights(state: GauntletState): { hotkey: string; weight: number }[] {
  const positive = ranking(state).filter((s) => s.final > 0);
  if (positive.length === 0) return [];
  const top = positive[0]!.final;
  return positive.map((s) => ({ hotkey: s.hotkey, weight: Math.max(1, Math.round((s.final / top) * 0xffff)) }));
}
