// Centralized training in Node on Dawn: bit-identical runs for a seed, and the schedule policy
// written once. That it learns real text (held-out loss well below the byte unigram entropy) is
// asserted on the simulator's centralized baseline (test/claims/simulate.claim.ts, `npm run
// test:claims`), which is this same trainCentralized on 61k tokens: one long training run, not two.
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureShards } from '../../src/data/node.ts';
import { trainCentralized, type CentralizedOptions } from '../../src/engine/centralized.ts';
import { innerSchedule, MAX_WARMUP_STEPS } from '../../src/engine/policy.ts';
import { preset } from '../../src/model/config.ts';
import { heldOutBatches } from '../../src/train/batches.ts';
import { testRuntime } from '../helpers/gpu.ts';

describe('the inner schedule policy', () => {
  it('warms up for a tenth of the whole run, at most 20 steps, and ends at 0.1 x peak', () => {
    expect(innerSchedule(30)).toEqual({ peak: 3e-3, warmupSteps: 3, totalSteps: 30, minRatio: 0.1 });
    expect(innerSchedule(240).warmupSteps).toBe(MAX_WARMUP_STEPS);
    expect(innerSchedule(240, { lr: 5e-3, warmup: 10 })).toMatchObject({ peak: 5e-3, warmupSteps: 10 });
    expect(() => innerSchedule(0)).toThrow(/positive/);
    expect(() => innerSchedule(10, { lr: -1 })).toThrow(/learning rate/);
  });
});

describe('centralized training (tiny preset, Brown corpus bytes)', () => {
  const config = preset('tiny');
  let data: Awaited<ReturnType<typeof ensureShards>>;
  beforeAll(async () => {
    data = await ensureShards('bytes');
  }, 300_000);

  const options = (o: Partial<CentralizedOptions> & Pick<CentralizedOptions, 'steps' | 'batch' | 'seqLen'>): CentralizedOptions => ({
    config,
    trainTokens: data.train.tokens,
    heldOut: heldOutBatches(data.heldout.tokens, 1, o.batch, o.seqLen),
    ...o,
  });

  it('is bit-identical for the same seed and data', async () => {
    const rt = await testRuntime();
    const o = options({ steps: 3, batch: 2, seqLen: 32, evalEvery: 3, seed: 5 });
    const a = await trainCentralized(rt, o);
    const b = await trainCentralized(rt, o);
    expect(a.modelHash).toBe(b.modelHash);
    const c = await trainCentralized(rt, { ...o, seed: 6 });
    expect(c.modelHash).not.toBe(a.modelHash);
  });
});
