// The Gauntlet's claim's scenario, on Dawn: honest tiny-preset peers and four cheaters (signflip,
// noise, copycat, lazy: the behaviours only scoring can catch; the ones integrity catches are in
// test/gauntlet/round.test.ts), decided round by round by the validator on 2×32-token batches.
// Every adversary is evaluated in round 0 (on probation: payloads count only once an evaluation
// admits their peer) and none is ever admitted or gathered, every honest peer ranks above every
// adversary, the swarm still learns, and the audit reproduces a recorded round of the run. The claim (gauntlet.claim.ts) adds the loss bound against the honest peers
// alone over 6 rounds; test/gauntlet/simulation.test.ts runs the same checks over 2 rounds.
import { expect } from 'vitest';
import type { Behavior } from '../../src/engine/adversary.ts';
import { simulate, type SimulationResult } from '../../src/engine/simulate.ts';
import { auditRound, type AuditResult } from '../../src/gauntlet/audit.ts';
import { LossEvaluator } from '../../src/gauntlet/evaluator.ts';
import { GauntletJudge } from '../../src/gauntlet/simulation.ts';
import type { DecisionRecord } from '../../src/gauntlet/round.ts';
import type { JudgedRound } from '../../src/gauntlet/validator.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { preset } from '../../src/model/config.ts';
import type { BytesData } from './swarm-vs-centralized.ts';

const ADVERSARIES: Behavior[] = ['signflip', 'noise', 'copycat', 'lazy'];

export interface GauntletScenario {
  honestPeers: number;
  rounds: number;
  /** H: inner steps a round. */
  innerSteps: number;
  /** Held-out batches (2 × 32 tokens) of the final comparison. */
  finalEvalBatches: number;
  /** The round the audit recomputes: one after round 0, so it starts from earlier standings. */
  auditedRound: number;
}

export interface GauntletRun {
  result: SimulationResult;
  records: DecisionRecord[];
  audit: AuditResult;
}

/** Runs the scenario, prints its summary, audits `auditedRound` and checks what holds after any number of rounds. */
export async function runGauntletScenario(rt: GpuRuntime, data: BytesData, scenario: GauntletScenario): Promise<GauntletRun> {
  const config = preset('tiny');
  const runId = 'gauntlet-sim';
  const judged: JudgedRound[] = [];
  const judge = await GauntletJudge.create(rt, {
    runId,
    config,
    trainTokens: data.train,
    seqLen: 32,
    secret: 'simulation-test',
    onRound: (j) => judged.push(j),
  });
  let run: GauntletRun;
  try {
    const result = await simulate(rt, {
      config,
      trainTokens: data.train,
      heldOutTokens: data.heldOut,
      peers: scenario.honestPeers,
      rounds: scenario.rounds,
      innerSteps: scenario.innerSteps,
      batch: 2,
      seqLen: 32,
      evalBatches: 1,
      finalEvalBatches: scenario.finalEvalBatches,
      baseline: false,
      runId,
      adversaries: ADVERSARIES,
      judge,
    });
    // The audit of a round with history (standings from earlier rounds) gives the same numbers.
    const auditor = await LossEvaluator.create(rt, config, 8, 32);
    try {
      const { previous, input, record } = judged[scenario.auditedRound]!;
      run = { result, records: judge.records, audit: await auditRound(auditor, judge.validator.context, previous, input, record) };
    } finally {
      auditor.destroy();
    }
  } finally {
    judge.destroy();
  }
  const { result, records } = run;
  console.log(
    JSON.stringify({
      heldOutLoss: result.heldOutLoss,
      honestOnlyHeldOutLoss: result.honestOnlyHeldOutLoss,
      ratio: result.heldOutLoss / result.honestOnlyHeldOutLoss!,
      gathered: result.gathered,
      rank: result.rank!.map((r) => `${r.hotkey}`),
      perRound: records.map((r) => r.gathered.join(',')),
    }),
  );
  expectAdversariesKeptOut(run, scenario);
  return run;
}

function expectAdversariesKeptOut({ result, records, audit }: GauntletRun, scenario: GauntletScenario): void {
  const peersWith = (honest: boolean) =>
    Object.entries(result.behaviors)
      .filter(([, b]) => (b === 'honest') === honest)
      .map(([h]) => h);
  const adversaries = peersWith(false);
  const honest = peersWith(true);
  expect(adversaries).toHaveLength(ADVERSARIES.length);
  expect(records).toHaveLength(scenario.rounds);

  // Every adversary is judged from round 0 on and never admitted, so no adversarial payload is ever
  // gathered (the copycat's overlap is checked before evaluation; the others are evaluated and fail).
  for (const adversary of adversaries) {
    const first = records.findIndex((r) => r.scores.some((s) => s.hotkey === adversary));
    expect(first, `${adversary} was never judged`).toBe(0);
    for (const record of records) {
      expect(record.gathered, `${adversary} in round ${record.round}`).not.toContain(adversary);
      expect(record.admission.admitted, `${adversary} admitted in round ${record.round}`).not.toContain(adversary);
    }
    expect(result.gathered[adversary]).toBe(0);
  }
  // Every honest peer ranks above every adversary.
  const place = new Map(result.rank!.map((r, i) => [r.hotkey, i]));
  expect(Math.max(...honest.map((h) => place.get(h)!))).toBeLessThan(Math.min(...adversaries.map((h) => place.get(h)!)));
  // The swarm learned, and so did the honest peers alone.
  expect(result.honestOnlyHeldOutLoss).toBeGreaterThan(0);
  expect(result.honestOnlyHeldOutLoss).toBeLessThan(result.initialHeldOutLoss);
  expect(result.heldOutLoss).toBeLessThan(result.initialHeldOutLoss);

  expect(audit.problems).toEqual([]);
  expect(audit.maxDifference).toBeLessThanOrEqual(1e-6);
}
