// The Gauntlet hub survives SIGKILL (issue 18): the restart scenario (test/claims/gauntlet-restart-scenario.ts)
// over 5 rounds with 2 kills; `npm run test:claims` runs it over 10 rounds with 4. The seed of the
// kill instants is printed; WEBLOCO_CRASH_SEED=<seed> replays them.
import { beforeAll, it } from 'vitest';
import { runRestartScenario } from '../claims/gauntlet-restart-scenario.ts';
import { bytesData, type BytesData } from '../claims/swarm-vs-centralized.ts';
import { testRuntime } from '../helpers/gpu.ts';

let data: BytesData;
beforeAll(async () => {
  data = await bytesData();
}, 300_000);

it('a Gauntlet hub killed twice at random instants decides every round and its judgements read as one run', async () => {
  await runRestartScenario(await testRuntime(), data, { rounds: 5, kills: 2 });
}, 600_000);
