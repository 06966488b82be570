// What this GPU can do for a swarm, measured in a second or two before anyone joins: which
// presets fit its limits (every tensor in one storage binding, the activations planned), a short
// matmul benchmark through the model's own kernel, and from it the tokens/s each preset should
// reach. The page shows the recommendation; a run whose preset does not fit is refused up front
// with the reason, not after minutes of compiling.
import type { GpuRuntime } from '../gpu/runtime.ts';
import { matmul } from '../kernels/matmul.ts';
import { activationReport } from '../model/activations.ts';
import { PRESETS, type PresetName } from '../model/config.ts';
import { modelFlopsPerToken } from '../model/flops.ts';
import { parameterLayout } from '../model/layout.ts';

/**
 * The whole training step's rate as a share of the big matmuls' rate: on the H100 the step
 * reached 18.7% of FP32 peak while its matmuls reached 43–49% (docs/BENCHMARKS.md).
 */
const STEP_SHARE_OF_MATMUL = 0.4;
/** A preset is recommended when one row of its sequence trains in at most this long. */
const RECOMMEND_SECONDS_PER_ROW = 2;
/** Float32 copies of the parameters a peer keeps on the GPU: θ, gradients, AdamW m and v, error feedback, the pseudo-gradient. */
const PARAMETER_COPIES = 6;

export interface PresetFit {
  preset: PresetName;
  parameterCount: number;
  seqLen: number;
  /** Whether every tensor and activation fits this adapter's binding and buffer limits (one row). */
  fits: boolean;
  /** Why not, when it does not. */
  reason?: string;
  /** GPU memory a peer of this preset needs for one row of its sequence (parameters, state, activations). */
  bytes: number;
  expectedTokensPerSecond: number;
}

export interface Capability {
  /** The model's matmul kernel on this adapter, GFLOP/s (median of the timed runs). */
  matmulGflops: number;
  /** The shape it was timed at (grown until a run takes a few milliseconds). */
  matmulSize: number;
  presets: PresetFit[];
  /** The largest preset that fits and trains a row in RECOMMEND_SECONDS_PER_ROW; null when none fits. */
  recommended: PresetName | null;
}

export async function checkCapability(rt: GpuRuntime): Promise<Capability> {
  const { gflops, size } = await matmulRate(rt);
  const presets = (Object.keys(PRESETS) as PresetName[]).map((name) => presetFit(name, rt.limits, gflops));
  const fast = presets.filter((p) => p.fits && p.seqLen / p.expectedTokensPerSecond <= RECOMMEND_SECONDS_PER_ROW);
  const recommended = fast.at(-1)?.preset ?? presets.find((p) => p.fits)?.preset ?? null;
  return { matmulGflops: gflops, matmulSize: size, presets, recommended };
}

/** Whether `name` fits `limits`, and the tokens/s to expect at `gflops` through the matmul kernel. */
export function presetFit(name: PresetName, limits: GpuRuntime['limits'], gflops: number): PresetFit {
  const config = PRESETS[name];
  const seqLen = config.max_position_embeddings;
  const parameterCount = parameterLayout(config).parameterCount;
  const expectedTokensPerSecond = (gflops * 1e9 * STEP_SHARE_OF_MATMUL) / modelFlopsPerToken(config, parameterCount, seqLen);
  const base = { preset: name, parameterCount, seqLen, expectedTokensPerSecond };
  try {
    parameterLayout(config, limits);
    const activations = activationReport(config, { batch: 1, seqLen }, limits);
    return { ...base, fits: true, bytes: parameterCount * 4 * PARAMETER_COPIES + activations.totalBytes };
  } catch (err) {
    return { ...base, fits: false, reason: (err as Error).message, bytes: parameterCount * 4 * PARAMETER_COPIES };
  }
}

/** Times out[n,n] = a·b through the model's kernel, growing n until one product takes ≥ 5 ms. */
async function matmulRate(rt: GpuRuntime): Promise<{ gflops: number; size: number }> {
  let size = 128;
  for (;;) {
    const a = rt.upload(
      Float32Array.from({ length: size * size }, (_, i) => ((i % 13) - 6) / 8),
      'capability-a',
    );
    const b = rt.upload(
      Float32Array.from({ length: size * size }, (_, i) => ((i % 7) - 3) / 4),
      'capability-b',
    );
    const out = rt.acquire(size * size * 4, 'capability-out');
    try {
      const once = async () => {
        const start = performance.now();
        matmul(rt, { out, a, b, M: size, N: size, K: size });
        await rt.sync();
        return performance.now() - start;
      };
      await once(); // compiles the pipeline
      const times = [await once(), await once(), await once()].sort((x, y) => x - y);
      const ms = times[1]!;
      if (ms >= 5 || size >= 2048) return { gflops: (2 * size ** 3) / (ms * 1e6), size };
    } finally {
      for (const buffer of [a, b, out]) rt.release(buffer);
    }
    size *= 2;
  }
}
