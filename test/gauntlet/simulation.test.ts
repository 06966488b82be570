// The Gauntlet's claim, end to end on Dawn: a swarm of 6 honest tiny-preset peers and 4 cheaters
// (signflip, noise, copycat, lazy: the behaviours only scoring can catch; the ones integrity
// catches are in round.test.ts) decided round by round by the validator, 6 rounds of H = 4 on
// 2×32-token batches. No adversarial payload is gathered after its first evaluation, every honest
// peer ranks above every adversary, the final held-out loss is within 2 % of the same honest peers
// alone, and the audit reproduces a recorded round of the run.
//
// Measured (4096 held-out tokens): 6 rounds gave ratios 0.995, 1.005 and 1.007 to honest-only in
// three runs (round 0 takes every newcomer, signflip, noise and lazy included; from round 1 only
// honest peers); 5 rounds gave 1.011, hence 6.
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureShards } from '../../src/data/node.ts';
import type { Behavior } from '../../src/engine/adversary.ts';
import { simulate } from '../../src/engine/simulate.ts';
import { auditRound } from '../../src/gauntlet/audit.ts';
import { LossEvaluator } from '../../src/gauntlet/evaluator.ts';
import { GauntletJudge } from '../../src/gauntlet/simulation.ts';
import type { JudgedRound } from '../../src/gauntlet/validator.ts';
import { preset } from '../../src/model/config.ts';
import { testRuntime } from '../helpers/gpu.ts';

let data: Awaited<ReturnType<typeof ensureShards>>;
beforeAll(async () => {
  data = await ensureShards('bytes');
}, 300_000);

const ADVERSARIES: Behavior[] = ['signflip', 'noise', 'copycat', 'lazy'];
const ROUNDS = 6;

describe('Gauntlet simulation', () => {
  it('6 honest + signflip, noise, copycat, lazy: adversaries out after their first evaluation, ranked below every honest peer, loss within 2 % of honest-only; the audit reproduces a round', async () => {
    const rt = await testRuntime();
    const config = preset('tiny');
    const runId = 'gauntlet-sim';
    const judged: JudgedRound[] = [];
    const judge = await GauntletJudge.create(rt, {
      runId,
      config,
      trainTokens: data.train.tokens,
      seqLen: 32,
      secret: 'simulation-test',
      onRound: (j) => judged.push(j),
    });
    try {
      const result = await simulate(rt, {
        config,
        trainTokens: data.train.tokens,
        heldOutTokens: data.heldout.tokens,
        peers: 6,
        rounds: ROUNDS,
        innerSteps: 4,
        batch: 2,
        seqLen: 32,
        evalBatches: 1,
        finalEvalBatches: 64,
        baseline: false,
        runId,
        adversaries: ADVERSARIES,
        judge,
      });
      const adversaries = Object.entries(result.behaviors)
        .filter(([, b]) => b !== 'honest')
        .map(([h]) => h);
      const honest = Object.entries(result.behaviors)
        .filter(([, b]) => b === 'honest')
        .map(([h]) => h);
      console.log(
        JSON.stringify({
          heldOutLoss: result.heldOutLoss,
          honestOnlyHeldOutLoss: result.honestOnlyHeldOutLoss,
          ratio: result.heldOutLoss / result.honestOnlyHeldOutLoss!,
          gathered: result.gathered,
          rank: result.rank!.map((r) => `${r.hotkey}`),
          perRound: judge.records.map((r) => r.gathered.join(',')),
        }),
      );
      expect(adversaries).toHaveLength(4);
      expect(judge.records).toHaveLength(ROUNDS);

      // No adversarial payload in a gather set after the round of its first evaluation.
      for (const adversary of adversaries) {
        const first = judge.records.findIndex((r) => r.scores.some((s) => s.hotkey === adversary));
        expect(first, `${adversary} was never judged`).toBeGreaterThanOrEqual(0);
        expect(first).toBe(0);
        for (const record of judge.records.slice(first + 1))
          expect(record.gathered, `${adversary} in round ${record.round}`).not.toContain(adversary);
      }
      // The copycat never got in at all: the index overlap is checked before the gather set.
      expect(result.gathered['adversary-2-copycat']).toBe(0);
      // Every honest peer ranks above every adversary.
      const place = new Map(result.rank!.map((r, i) => [r.hotkey, i]));
      expect(Math.max(...honest.map((h) => place.get(h)!))).toBeLessThan(Math.min(...adversaries.map((h) => place.get(h)!)));
      // The adversaries cost less than 2 % of held-out loss.
      expect(result.honestOnlyHeldOutLoss).toBeGreaterThan(0);
      expect(result.heldOutLoss).toBeLessThanOrEqual(result.honestOnlyHeldOutLoss! * 1.02);
      expect(result.heldOutLoss).toBeLessThan(result.initialHeldOutLoss - 0.5);

      // The audit of a round with history (standings from earlier rounds) gives the same numbers.
      const auditor = await LossEvaluator.create(rt, config, 8, 32);
      try {
        const { previous, input, record } = judged[2]!;
        const audit = await auditRound(auditor, judge.validator.context, previous, input, record);
        expect(audit.problems).toEqual([]);
        expect(audit.maxDifference).toBeLessThanOrEqual(1e-6);
      } finally {
        auditor.destroy();
      }
    } finally {
      judge.destroy();
    }
  }, 1_200_000);
});
