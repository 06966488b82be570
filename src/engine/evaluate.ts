// Held-out loss of a θ that no peer holds (a downloaded checkpoint, an audit): a replica without
// an optimizer, freed afterwards.
import type { GpuRuntime } from '../gpu/runtime.ts';
import type { LlamaConfig } from '../model/config.ts';
import { LlamaModel } from '../model/model.ts';
import type { Batch } from '../train/batches.ts';
import { evaluateLoss } from '../train/inner-loop.ts';

/** Mean loss of `theta` over `batches` (all of one [rows, seqLen] shape). */
export async function evaluateModel(rt: GpuRuntime, config: LlamaConfig, theta: Float32Array, batches: readonly Batch[]): Promise<number> {
  if (batches.length === 0) throw new RangeError('evaluateModel: no batches to evaluate on');
  const model = await LlamaModel.create(rt, config, { batch: batches[0]!.rows, seqLen: batches[0]!.seqLen });
  try {
    model.setParameters(theta);
    return await evaluateLoss(model, batches);
  } finally {
    model.destroy();
  }
}
