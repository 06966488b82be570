// The Gauntlet hub survives SIGKILL (issue 18), at length: the restart scenario
// (gauntlet-restart-scenario.ts) over 10 rounds with 4 kills at instants drawn from a printed seed
// (WEBLOCO_CRASH_SEED=<seed> replays them). The unit suite runs 5 rounds with 2 kills
// (test/hub/gauntlet-restart.test.ts).
import { beforeAll, it } from 'vitest';
import { testRuntime } from '../helpers/gpu.ts';
import { runRestartScenario } from './gauntlet-restart-scenario.ts';
import { bytesData, type BytesData } from './swarm-vs-centralized.ts';

let data: BytesData;
beforeAll(async () => {
  data = await bytesData();
}, 300_000);

it('a Gauntlet hub killed 4 times at random instants across 10 rounds decides every round and its judgements read as one run', async () => {
  await runRestartScenario(await testRuntime(), data, { rounds: 10, kills: 4 });
}, 1_200_000);
