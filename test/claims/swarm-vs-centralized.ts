// The SparseLoCo claim's scenario, on Dawn: a swarm of tiny-preset peers, each training on its own
// assigned samples and exchanging only compressed, encoded pseudo-gradients, against centralized
// training on exactly the same tokens. The claim (simulate.claim.ts) runs it at full length; the
// unit suite's smoke version (test/engine/simulate.test.ts) runs a few rounds with the same
// checks of direction and consistency.
import { join } from 'node:path';
import { expect } from 'vitest';
import { DEFAULT_DATA_DIR, ensureShards, readManifest } from '../../src/data/node.ts';
import { SIMULATE_DEFAULTS, simulate, type SimulateOptions, type SimulationResult } from '../../src/engine/simulate.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { preset } from '../../src/model/config.ts';

export interface BytesData {
  train: Uint16Array;
  heldOut: Uint16Array;
  /** The byte unigram entropy of the train split: no model that ignores the previous bytes gets below it. */
  unigramEntropy: number;
}

/** The Brown corpus as bytes (written once by `webloco data`). */
export async function bytesData(): Promise<BytesData> {
  const data = await ensureShards('bytes');
  const manifest = await readManifest(join(DEFAULT_DATA_DIR, 'bytes'));
  return { train: data.train.tokens, heldOut: data.heldout.tokens, unigramEntropy: manifest.stats.trainUnigramEntropyNats };
}

/** simulate() on the tiny preset with SIMULATE_DEFAULTS, changed by `overrides`. */
export function simulateOptions(data: BytesData, overrides: Partial<SimulateOptions>): SimulateOptions {
  return { config: preset('tiny'), trainTokens: data.train, heldOutTokens: data.heldOut, ...SIMULATE_DEFAULTS, ...overrides };
}

/** Runs the swarm and the baseline on the GPU compressor and prints the summary. */
export async function runSwarmVsCentralized(
  rt: GpuRuntime,
  data: BytesData,
  overrides: Partial<SimulateOptions>,
): Promise<SimulationResult> {
  const options = simulateOptions(data, { compressor: 'gpu', ...overrides });
  const result = await simulate(rt, options);
  console.log(JSON.stringify({ ...result, reports: undefined }));
  expectConsistentSwarm(result, options);
  return result;
}

/** What holds after any number of rounds: both sides learned, every peer sent every round and arrived at the same θ, ≥ 146× less than dense fp32. */
function expectConsistentSwarm(result: SimulationResult, options: SimulateOptions): void {
  // θ_0 is near uniform over bytes: ln(256) = 5.55.
  expect(result.initialHeldOutLoss).toBeGreaterThan(Math.log(256) - 0.2);
  // Direction: both runs learned. A wrong sign, a lost aggregate or an update that never arrives does not.
  expect(result.heldOutLoss).toBeLessThan(result.initialHeldOutLoss);
  expect(result.baselineHeldOutLoss).toBeLessThan(result.initialHeldOutLoss);
  expect(result.compressionRatio).toBeGreaterThanOrEqual(146);
  expect(result.bytesPerPeerPerRound * 146).toBeLessThanOrEqual(result.denseBytes);

  expect(result.reports).toHaveLength(options.rounds);
  for (const r of result.reports) {
    // Every peer sent every round, each its own payload (its own samples and error feedback),
    expect(r.payloadHashes).toHaveLength(options.peers);
    expect(new Set(r.payloadHashes).size).toBe(options.peers);
    // and every peer arrived at the same θ.
    expect(new Set(r.peerModelHashes).size).toBe(1);
    expect(Number.isFinite(r.heldOutLoss)).toBe(true);
  }
  expect(result.reports.at(-1)!.peerModelHashes[0]).toBe(result.modelHash);
  expect(result.modelHash).not.toBe(result.baselineModelHash);
}
