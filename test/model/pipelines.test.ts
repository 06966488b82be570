// A warmed-up training round compiles nothing: LlamaModel.create and AdamW.create compile every
// pipeline that the inner loop's steps (forward, backward, global norm, AdamW, gradient
// accumulation) and its evaluation dispatch, so no step stalls on a compile. Each case gets its
// own GPU device, so a pipeline one case warmed up cannot hide another case's gap.
import { describe, expect, it } from 'vitest';
import { nodeGpuDevice } from '../../src/gpu/node.ts';
import { GpuRuntime } from '../../src/gpu/runtime.ts';
import { PRESETS, type LlamaConfig } from '../../src/model/config.ts';
import { initParameters } from '../../src/model/init.ts';
import { LlamaModel } from '../../src/model/model.ts';
import type { ActivationShape } from '../../src/model/activations.ts';
import type { Batch } from '../../src/train/batches.ts';
import { InnerLoop } from '../../src/train/inner-loop.ts';
import { AdamW } from '../../src/train/optimizer.ts';
import { pipelinesCompiledDuring } from '../helpers/pipelines.ts';
import { randomTokens } from './fixtures.ts';

const CASES: [string, LlamaConfig, ActivationShape][] = [
  // The tiny preset as trained: V = 256 takes the 32-thread cross-entropy, the whole batch is one head block.
  ['tiny preset', PRESETS.tiny, { batch: 2, seqLen: 8 }],
  // An untied head, grouped KV heads, and a head + loss in a full and a ragged block (64 + 10 tokens).
  [
    'untied, grouped KV heads, two head blocks',
    { ...PRESETS.tiny, tie_word_embeddings: false, num_key_value_heads: 2 },
    { batch: 2, seqLen: 37, logitsBlockTokens: 64 },
  ],
];

function batchOf(config: LlamaConfig, shape: ActivationShape, seed: number): Batch {
  const { tokens, targets } = randomTokens(config.vocab_size, shape.batch, shape.seqLen, seed);
  return { inputs: Uint32Array.from(tokens), targets: Uint32Array.from(targets), rows: shape.batch, seqLen: shape.seqLen };
}

describe.each(CASES)('pipelines compiled ahead of a round (%s)', (_label, config, shape) => {
  it('leave the pipeline count unchanged through training steps and an evaluation', async () => {
    const rt = new GpuRuntime(await nodeGpuDevice());
    try {
      const model = await LlamaModel.create(rt, config, shape);
      const optimizer = await AdamW.create(model);
      const warm = rt.pipelineCount;
      expect(warm).toBeGreaterThan(0);
      const loop = new InnerLoop(model, optimizer);
      const theta = initParameters(model.layout, { seed: 1 });
      const compiled = await pipelinesCompiledDuring(rt, async () => {
        // Two steps of two micro-batches each: bias correction past step 1 and gradient accumulation.
        const round = await loop.innerRound(theta, {
          steps: 2,
          microBatches: 2,
          batch: (step, micro) => batchOf(config, shape, 10 * step + micro),
          schedule: { peak: 1e-3, warmupSteps: 1, totalSteps: 2, minRatio: 0.1 },
        });
        expect(round.stepsDone).toBe(2);
        expect(round.losses.every(Number.isFinite)).toBe(true);
        expect(Number.isFinite(await loop.evaluate([batchOf(config, shape, 99)]))).toBe(true);
      });
      expect(compiled.programs, 'compiled inside the loop').toEqual([]);
      expect(compiled.count).toBe(0);
    } finally {
      rt.destroy();
    }
  });
});
