// The SparseLoCo claim, end to end on Dawn: a swarm of 4 tiny-preset peers, each training on its
// own assigned samples and exchanging only compressed, encoded pseudo-gradients, ends within 5 % of
// the held-out loss of centralized training on exactly the same tokens, while each peer sends at
// least 146× fewer bytes a round than the dense fp32 model. Plus: the GPU and CPU compressors lead
// every peer to the same θ, bit for bit.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_DIR, ensureShards, readManifest } from '../../src/data/node.ts';
import { FINAL_EVAL_TOKENS, SIMULATE_DEFAULTS, simulate, type SimulateOptions } from '../../src/engine/simulate.ts';
import { preset } from '../../src/model/config.ts';
import { testRuntime } from '../helpers/gpu.ts';

let data: Awaited<ReturnType<typeof ensureShards>>;
let unigramEntropy: number;

beforeAll(async () => {
  data = await ensureShards('bytes');
  unigramEntropy = (await readManifest(join(DEFAULT_DATA_DIR, 'bytes'))).stats.trainUnigramEntropyNats;
}, 300_000);

function options(overrides: Partial<SimulateOptions>): SimulateOptions {
  return {
    config: preset('tiny'),
    trainTokens: data.train.tokens,
    heldOutTokens: data.heldout.tokens,
    ...SIMULATE_DEFAULTS,
    ...overrides,
  };
}

describe('simulate', () => {
  it('4 peers reach the centralized baseline within 5 % at equal tokens with ≥ 146× less communication', async () => {
    const rt = await testRuntime();
    const result = await simulate(rt, options({ compressor: 'gpu' }));
    const { reports, ...summary } = result;
    console.log(JSON.stringify(summary));

    // It learned, and used context: from ln(256) = 5.55 (uniform over bytes) to well below the
    // byte unigram entropy (≈ 3.08 nats), which no model that ignores the previous bytes can
    // pass. A wrong sign, a lost aggregate or an update that never arrives stays far above it.
    // Measured (`webloco simulate --peers 4 --rounds 30 --preset tiny --json`, final comparison on
    // 16,384 held-out tokens): swarm 2.580, baseline 2.516 nats, ratio 1.0255, 153.9x less than dense fp32.
    expect(result.initialHeldOutLoss).toBeGreaterThan(Math.log(256) - 0.2);
    // The comparison reads enough held-out text not to be decided by a few windows.
    expect(result.finalEvalTokens).toBeGreaterThanOrEqual(FINAL_EVAL_TOKENS);
    expect(result.heldOutLoss).toBeLessThan(unigramEntropy - 0.3);
    expect(result.baselineHeldOutLoss).toBeLessThan(unigramEntropy - 0.3);
    // The claim: within 5 % of the baseline, at ≥ 146× less than dense fp32 a peer a round.
    expect(result.lossRatio).toBeLessThanOrEqual(1.05);
    expect(result.compressionRatio).toBeGreaterThanOrEqual(146);
    expect(result.bytesPerPeerPerRound * 146).toBeLessThanOrEqual(result.denseBytes);

    expect(reports).toHaveLength(SIMULATE_DEFAULTS.rounds);
    for (const r of reports) {
      // Every peer sent every round, each its own payload (its own samples and error feedback),
      expect(r.payloadHashes).toHaveLength(SIMULATE_DEFAULTS.peers);
      expect(new Set(r.payloadHashes).size).toBe(SIMULATE_DEFAULTS.peers);
      // and every peer arrived at the same θ.
      expect(new Set(r.peerModelHashes).size).toBe(1);
      expect(Number.isFinite(r.heldOutLoss)).toBe(true);
    }
    expect(reports.at(-1)!.peerModelHashes[0]).toBe(result.modelHash);
    expect(result.modelHash).not.toBe(result.baselineModelHash);
  }, 1_800_000);

  it('the GPU and CPU compressors give every peer the same θ, bit for bit', async () => {
    const rt = await testRuntime();
    const short = { peers: 2, rounds: 2, innerSteps: 1, evalBatches: 1, finalEvalBatches: 1, baseline: false } as const;
    const gpu = await simulate(rt, options({ ...short, compressor: 'gpu' }));
    const cpu = await simulate(rt, options({ ...short, compressor: 'cpu' }));
    expect(gpu.reports.map((r) => r.payloadHashes)).toEqual(cpu.reports.map((r) => r.payloadHashes));
    expect(gpu.modelHash).toBe(cpu.modelHash);
    // A null round sends nothing and leaves θ where it was.
    const nulled = await simulate(rt, options({ ...short, rounds: 1, nullRounds: 1, compressor: 'gpu' }));
    expect(nulled.reports[0]!.payloadHashes).toEqual([]);
    expect(nulled.reports[0]!.bytesPerPeer).toBe(0);
  }, 600_000);

  it('refuses adversaries without a judge (take-everything would apply their payloads)', async () => {
    const rt = await testRuntime();
    await expect(simulate(rt, options({ peers: 2, rounds: 1, adversaries: ['nan'] }))).rejects.toThrow(/adversaries need a judge/);
  });
});
