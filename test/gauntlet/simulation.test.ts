// The Gauntlet simulation in the unit suite: a 2-round smoke version of the Gauntlet's claim (the
// full 6 rounds are `npm run test:claims`, test/claims/gauntlet.claim.ts) with the same checks of
// direction: the cheaters are never admitted nor gathered and rank below every honest peer,
// the swarm learns, and the audit reproduces round 1.
import { beforeAll, it } from 'vitest';
import { runGauntletScenario } from '../claims/gauntlet-scenario.ts';
import { bytesData, type BytesData } from '../claims/swarm-vs-centralized.ts';
import { testRuntime } from '../helpers/gpu.ts';

let data: BytesData;
beforeAll(async () => {
  data = await bytesData();
}, 300_000);

it('smoke: 6 honest + signflip, noise, copycat, lazy over 2 rounds: adversaries kept out, the swarm learns, the audit reproduces a round', async () => {
  await runGauntletScenario(await testRuntime(), data, { honestPeers: 6, rounds: 2, innerSteps: 2, finalEvalBatches: 4, auditedRound: 1 });
  // About 40 s on two quiet cores; the limit only catches a hang (it took over 120 s beside other jobs).
}, 600_000);
