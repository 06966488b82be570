// Centralized training in Node on Dawn: bit-identical runs for a seed, the schedule policy written
// once, and the baseline learning real text.
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureShards } from '../../src/data/node.ts';
import { unigramEntropyNats } from '../../src/data/entropy.ts';
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

  it('brings held-out loss well below the unigram entropy of the byte stream', { timeout: 1_200_000 }, async () => {
    const rt = await testRuntime();
    const unigram = unigramEntropyNats(data.train.tokens, 256);
    expect(unigram).toBeGreaterThan(3);
    const losses: number[] = [];
    // ~82k tokens: measured 2.56 nats held-out after 300 such steps (`webloco train --steps 300
    // --batch 8 --seq-len 32 --lr 5e-3 --warmup 10`); the loss sits near the unigram level for
    // the first ~120 steps, so fewer steps would not prove much.
    const result = await trainCentralized(rt, {
      ...options({ steps: 320, batch: 8, seqLen: 32, evalEvery: 320, seed: 0, schedule: { lr: 5e-3, warmup: 10 } }),
      heldOut: heldOutBatches(data.heldout.tokens, 4, 8, 32),
      onStep: (p) => losses.push(p.loss),
    });
    expect(losses[0]).toBeGreaterThan(5.3); // ln 256 = 5.55 untrained
    // No model that ignores context can go below the unigram entropy (3.08 nats); a working
    // model uses the previous bytes and goes well below it.
    expect(result.heldOutLoss).toBeLessThan(unigram - 0.3);
  });
});
