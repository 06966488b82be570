// The Gauntlet's arithmetic without a GPU: sync score, the binary indicator, the OpenSkill game,
// every penalty, exclusion, the ranking, chain weights and the seeded evaluation sample.
import { rate, rating, ordinal } from 'openskill';
import { describe, expect, it } from 'vitest';
import { gauntletConfig } from '../../src/gauntlet/config.ts';
import { chooseForEvaluation, chooseOnProbation, evaluationSeed, randomWindows } from '../../src/gauntlet/sampling.ts';
import {
  chainWeights,
  emptyState,
  isExcluded,
  newStanding,
  ranking,
  scoreMeasurement,
  syncScore,
  updateStandings,
  type GauntletState,
  type Measurement,
  type RoundOutcome,
} from '../../src/gauntlet/standings.ts';

const config = gauntletConfig();

/** A measurement whose random-data gain is `gain` and assigned-data gain `assigned` (relative). */
function measured(hotkey: string, gain: number, assigned = gain * 1.5): Measurement {
  return { hotkey, lossBeforeRandom: 5, lossAfterRandom: 5 * (1 - gain), lossBeforeAssigned: 4, lossAfterAssigned: 4 * (1 - assigned) };
}

function outcome(round: number, parts: Partial<RoundOutcome>): RoundOutcome {
  const measurements = parts.measurements ?? [];
  const failures = parts.failures ?? [];
  return {
    round,
    active: parts.active ?? [...measurements.map((m) => m.hotkey), ...failures.map((f) => f.hotkey), ...(parts.overlaps?.keys() ?? [])],
    measurements,
    failures,
    overlaps: parts.overlaps ?? new Map(),
    // By default every evaluated peer passes its admission (round.ts decides it; here it is given).
    admitted: parts.admitted ?? measurements.map((m) => m.hotkey),
  };
}

/** Standings in which `hotkeys` have been admitted, and nothing else happened. */
function admittedPeers(...hotkeys: string[]): GauntletState {
  return { round: 0, peers: Object.fromEntries(hotkeys.map((h) => [h, { ...newStanding(h), admitted: true }])) };
}

/** Runs rounds; each round's parts come from `round(r)`. */
function play(rounds: number, round: (r: number) => Partial<RoundOutcome>, from: GauntletState = emptyState()) {
  let state = from;
  const scores = [];
  for (let r = 0; r < rounds; r++) {
    const result = updateStandings(state, outcome(state.round, round(r)), config);
    state = result.state;
    scores.push(result.scores);
  }
  return { state, scores };
}

describe('Gauntlet standings', () => {
  it('uses the defaults of docs/DESIGN.md', () => {
    expect(config).toMatchObject({
      maxEvaluated: 20,
      assignedSequences: 8,
      randomSequences: 8,
      evaluationLrScale: 0.2,
      binaryAlpha: 0.05,
      openSkillBeta: 7,
      openSkillTau: 0.1,
      missingScore: -99,
      gatherSize: 20,
      gatherReserves: 10,
      maxNewcomers: 10,
      admissionGainRatio: 0.5,
    });
    expect(() => gauntletConfig({ gatherSize: 0 })).toThrow(/gatherSize/);
  });

  it('sync = (1 − min(x, 3)/3)^2.5', () => {
    expect(syncScore(0, config)).toBe(1);
    expect(syncScore(1, config)).toBeCloseTo((2 / 3) ** 2.5, 12);
    expect(syncScore(2, config)).toBeCloseTo((1 / 3) ** 2.5, 12);
    expect(syncScore(3, config)).toBe(0);
    expect(syncScore(10, config)).toBe(0);
  });

  it('gradient score is the relative gain on random data; binary is +1 only when the assigned gain beats it', () => {
    const s = scoreMeasurement({ hotkey: 'a', lossBeforeRandom: 5, lossAfterRandom: 4.9, lossBeforeAssigned: 4, lossAfterAssigned: 3.8 });
    expect(s.gradientScore).toBeCloseTo(0.02, 12);
    expect(s.assignedGain).toBeCloseTo(0.05, 12);
    expect(s.binary).toBe(1);
    expect(
      scoreMeasurement({ hotkey: 'a', lossBeforeRandom: 5, lossAfterRandom: 4.9, lossBeforeAssigned: 4, lossAfterAssigned: 3.95 }).binary,
    ).toBe(-1);
    // A zero update gains nothing anywhere: not better on its own data, so −1.
    expect(
      scoreMeasurement({ hotkey: 'a', lossBeforeRandom: 5, lossAfterRandom: 5, lossBeforeAssigned: 4, lossAfterAssigned: 4 }).binary,
    ).toBe(-1);
    // A step that makes the loss non-finite scores as badly as possible.
    expect(
      scoreMeasurement({ hotkey: 'a', lossBeforeRandom: 5, lossAfterRandom: NaN, lossBeforeAssigned: 4, lossAfterAssigned: NaN })
        .gradientScore,
    ).toBe(-Infinity);
  });

  it('rates each round with openskill Plackett-Luce (β = 7, τ = 0.1), the missing at −99, and final = ordinal × max(0, MA) × sync', () => {
    const { state, scores } = play(
      1,
      () => ({
        measurements: [measured('good', 0.01), measured('better', 0.02), measured('worse', -0.01, -0.02)],
        failures: [{ hotkey: 'broken', reason: 'malformed' }],
      }),
      admittedPeers('good', 'better', 'worse', 'broken'),
    );
    // The same game played directly with the package.
    const expected = rate([[rating()], [rating()], [rating()], [rating()]], { score: [0.01, 0.02, -0.01, -99], beta: 7, tau: 0.1 });
    ['good', 'better', 'worse', 'broken'].forEach((h, i) => {
      expect(state.peers[h]!.mu).toBe(expected[i]![0].mu);
      expect(state.peers[h]!.sigma).toBe(expected[i]![0].sigma);
    });
    const better = scores[0]!.find((s) => s.hotkey === 'better')!;
    expect(better.binaryMA).toBeCloseTo(0.05, 12);
    expect(better.final).toBeCloseTo(ordinal(expected[1][0]) * 0.05, 12);
    expect(better.final).toBeGreaterThan(0);
    // The worse one's binary is −1: MA −0.05, final 0 whatever its ordinal.
    expect(scores[0]!.find((s) => s.hotkey === 'worse')!.final).toBe(0);
    // The missing one: −1 into its MA, ×0.75.
    const broken = scores[0]!.find((s) => s.hotkey === 'broken')!;
    expect(broken).toMatchObject({ evaluated: false, failure: 'malformed', penalties: ['missing'], final: 0 });
    expect(ranking(state).map((s) => s.hotkey)).toEqual(['better', 'good', 'worse', 'broken']);
  });

  it('moves the binary average by α = 0.05 a round', () => {
    const { state } = play(3, () => ({ measurements: [measured('a', 0.01), measured('b', 0.005)] }));
    expect(state.peers.a!.binaryMA).toBeCloseTo(1 - 0.95 ** 3, 12);
  });

  it('stale and wrong-model peers lose sync: sync score from the rounds behind, ×0.75 missing, ×0.75 out of sync', () => {
    // Two good rounds first so the peer has something to lose.
    const good = play(2, () => ({ measurements: [measured('a', 0.02), measured('b', 0.01), measured('c', 0.005)] }));
    const before = good.state.peers.a!;
    const { state, scores } = play(
      1,
      () => ({ measurements: [measured('b', 0.01), measured('c', 0.005)], failures: [{ hotkey: 'a', reason: 'stale', roundsBehind: 1 }] }),
      good.state,
    );
    const a = scores[0]!.find((s) => s.hotkey === 'a')!;
    expect(a.penalties).toEqual(['missing', 'out-of-sync']);
    expect(a.sync).toBeCloseTo((2 / 3) ** 2.5, 12);
    const after = state.peers.a!;
    expect(after.final).toBeCloseTo(
      ordinal({ mu: after.mu, sigma: after.sigma }) * Math.max(0, 0.95 * before.binaryMA - 0.05) * (2 / 3) ** 2.5 * 0.75 * 0.75,
      12,
    );
  });

  it('4 of the last 8 evaluations negative: ×0.25; 3 negative in a row: excluded from the gather set', () => {
    // 'flaky' alternates good and bad rounds until 4 of its last 8 are negative.
    const pattern = [true, false, true, false, true, false, true];
    const { state, scores } = play(pattern.length, (r) => ({
      measurements: [
        measured('steady', 0.01),
        measured('other', 0.008),
        pattern[r] ? measured('flaky', 0.02, 0.05) : measured('flaky', -0.001),
      ],
    }));
    expect(state.peers.flaky!.recent.filter(Boolean)).toHaveLength(3);
    expect(scores.at(-1)!.find((s) => s.hotkey === 'flaky')!.penalties).toEqual([]);
    const fourth = play(
      1,
      () => ({ measurements: [measured('steady', 0.01), measured('other', 0.008), measured('flaky', -0.001)] }),
      state,
    );
    expect(fourth.scores[0]!.find((s) => s.hotkey === 'flaky')!.penalties).toEqual(['negative']);
    expect(isExcluded(fourth.state.peers.flaky!, config)).toBe(false);

    const run = play(3, () => ({ measurements: [measured('steady', 0.01), measured('sinking', -0.001)] }));
    expect(run.state.peers.sinking!.negativeRun).toBe(3);
    expect(isExcluded(run.state.peers.sinking!, config)).toBe(true);
    expect(isExcluded(run.state.peers.steady!, config)).toBe(false);
  });

  it('index overlap ≥ 0.4 halves the final score; ≥ 0.5 resets the copier', () => {
    const base = play(2, () => ({ measurements: [measured('a', 0.01), measured('b', 0.012), measured('c', 0.011)] }));
    const { state, scores } = play(
      1,
      () => ({
        measurements: [measured('a', 0.01), measured('b', 0.012), measured('c', 0.011)],
        overlaps: new Map([
          ['b', 0.45],
          ['c', 0.55],
        ]),
      }),
      base.state,
    );
    const b = scores[0]!.find((s) => s.hotkey === 'b')!;
    expect(b.penalties).toEqual(['overlap']);
    expect(b.final).toBeCloseTo(ordinal({ mu: state.peers.b!.mu, sigma: state.peers.b!.sigma }) * state.peers.b!.binaryMA * 0.5, 12);
    const c = scores[0]!.find((s) => s.hotkey === 'c')!;
    expect(c).toMatchObject({ reset: true, penalties: ['copy'], final: 0, binaryMA: 0 });
    expect(state.peers.c!.resets).toBe(1);
    // The copier played the round's game as missing: its rating fell.
    expect(state.peers.c!.mu).toBeLessThan(base.state.peers.c!.mu);
  });

  it('an inactive peer decays ×0.75 a round and plays its games as missing', () => {
    const base = play(2, () => ({ measurements: [measured('a', 0.01), measured('b', 0.02)] }));
    const finalBefore = base.state.peers.a!.final;
    const { state, scores } = play(1, () => ({ measurements: [measured('b', 0.02)] }), base.state);
    expect(scores[0]!.find((s) => s.hotkey === 'a')!.penalties).toEqual(['inactive']);
    expect(state.peers.a!.final).toBeCloseTo(finalBefore * 0.75, 12);
    expect(state.peers.a!.mu).toBeLessThan(base.state.peers.a!.mu);
  });

  it('chain weights: positive final scores scaled so the largest is 65535', () => {
    const { state } = play(3, () => ({ measurements: [measured('a', 0.01), measured('b', 0.02), measured('c', -0.01, -0.02)] }));
    const weights = chainWeights(state);
    expect(weights.map((w) => w.hotkey)).toEqual(['b', 'a']);
    expect(weights[0]!.weight).toBe(65535);
    expect(weights[1]!.weight).toBe(Math.round((state.peers.a!.final / state.peers.b!.final) * 65535));
  });

  it('evaluates everyone when at most 20 are due; otherwise 20 across the ordinal bins, least recently evaluated first, the same for the same seed', () => {
    const state = emptyState();
    const peers = Array.from({ length: 50 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    peers.forEach((h, i) => {
      state.peers[h] = { ...newStanding(h), mu: 25 + i * 0.1, lastEvaluated: i % 2 === 0 ? 3 : 1 };
    });
    expect(chooseForEvaluation(peers.slice(0, 12), state, 'seed', config)).toEqual(peers.slice(0, 12));
    const seed = evaluationSeed('secret', 'run', 4);
    const chosen = chooseForEvaluation(peers, state, seed, config);
    expect(chosen).toHaveLength(20);
    expect(chooseForEvaluation(peers, state, seed, config)).toEqual(chosen);
    // Four from each fifth of the ranking, all of them the ones looked at longest ago (odd i).
    for (let bin = 0; bin < 5; bin++) expect(chosen.filter((h) => Math.floor(Number(h.slice(1)) / 10) === bin)).toHaveLength(4);
    expect(chosen.every((h) => Number(h.slice(1)) % 2 === 1)).toBe(true);
    // The seed is per round, and so are the random sequences.
    expect(evaluationSeed('secret', 'run', 5)).not.toBe(seed);
    expect(randomWindows(seed, 8, 32, 100_000)).toEqual(randomWindows(seed, 8, 32, 100_000));
    expect(randomWindows(seed, 8, 32, 100_000)).not.toEqual(randomWindows(evaluationSeed('secret', 'run', 5), 8, 32, 100_000));
  });

  it('admits only the peers a round admitted; a copier goes back on probation; probation slots go to the longest waiting', () => {
    const { state } = play(2, (r) =>
      r === 0
        ? { measurements: [measured('good', 0.02), measured('noise', 0.001), measured('other', 0.001)], admitted: ['good'] }
        : { measurements: [measured('good', 0.02)], overlaps: new Map([['noise', 0.9]]), active: ['good', 'noise'] },
    );
    expect(state.peers.good).toMatchObject({ admitted: true, firstSeen: 0 });
    expect(state.peers.noise).toMatchObject({ admitted: false, firstSeen: 0, resets: 1 });
    // Peers on probation that send nothing are not missed in the game (so hotkeys that come once
    // weigh on nobody's rating) and are forgotten once silent for longer than the negative window.
    const alone = play(1, () => ({ measurements: [measured('good', 0.02)] }), state);
    expect(alone.state.peers.good!.mu).toBe(state.peers.good!.mu);
    expect(play(config.negativeWindow + 1, () => ({ measurements: [measured('good', 0.02)] }), state).state.peers.other).toBeUndefined();
    const copied = updateStandings(state, outcome(2, { overlaps: new Map([['good', 0.6]]), active: ['good'] }), config);
    expect(copied.state.peers.good!.admitted).toBe(false);
    expect(copied.scores.find((s) => s.hotkey === 'good')).toMatchObject({ reset: true, admitted: false });

    // Never evaluated first, then evaluated longest ago, then waiting longest; at most `limit`.
    const waiting: GauntletState = { round: 9, peers: {} };
    waiting.peers.failedEarly = { ...newStanding('failedEarly'), firstSeen: 1, lastEvaluated: 2 };
    waiting.peers.failedLate = { ...newStanding('failedLate'), firstSeen: 1, lastEvaluated: 7 };
    waiting.peers.waitingLong = { ...newStanding('waitingLong'), firstSeen: 3 };
    waiting.peers.waitingShort = { ...newStanding('waitingShort'), firstSeen: 8 };
    const order = ['waitingLong', 'waitingShort', 'fresh', 'failedEarly', 'failedLate'];
    for (let limit = 1; limit <= 5; limit++)
      expect(chooseOnProbation([...order].reverse(), waiting, 'seed', limit)).toEqual(order.slice(0, limit).sort());
  });
});
