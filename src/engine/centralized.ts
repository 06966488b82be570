// Centralized training, the baseline SparseLoCo is measured against: one replica, the same inner
// loop and the same schedule policy as a peer, run for many steps, with held-out checks along
// the way. `webloco train` is a shell over it; the simulator's baseline uses it with the peers'
// batches stacked.
import type { GpuRuntime } from '../gpu/runtime.ts';
import type { LlamaConfig } from '../model/config.ts';
import { initParameters } from '../model/init.ts';
import { LlamaModel } from '../model/model.ts';
import { roundBatches, type Batch } from '../train/batches.ts';
import { checkpointHash } from '../train/checkpoint.ts';
import { InnerLoop, type StepProgress } from '../train/inner-loop.ts';
import { AdamW, type AdamWState } from '../train/optimizer.ts';
import { innerSchedule, type ScheduleOptions } from './policy.ts';

export interface CentralizedOptions {
  config: LlamaConfig;
  /** Steps to take in this call. */
  steps: number;
  batch: number;
  seqLen: number;
  microBatches?: number;
  schedule?: ScheduleOptions;
  /** Held-out loss every this many steps and at the end (25). */
  evalEvery?: number;
  heldOut: readonly Batch[];
  /** Starting θ (the seeded init of `seed` when omitted) and optimizer state (a resumed run). */
  theta?: Float32Array;
  optimizer?: AdamWState;
  seed?: number;
  /**
   * The batch of (step counted from this call's first, micro-batch). Default: the train split's
   * samples under a fixed identity, from the same sampler a peer uses.
   */
  batches?: (step: number, micro: number) => Batch;
  trainTokens?: Uint16Array;
  onStep?: (p: StepProgress) => void;
  onHeldOut?: (step: number, loss: number) => void;
}

export interface CentralizedResult {
  heldOutLoss: number;
  modelHash: string;
  params: Float32Array;
  optimizer: AdamWState;
}

/** The batches `webloco train` uses: a peer's sampler under a fixed identity, continuing after a resume. */
function centralizedBatches(
  trainTokens: Uint16Array,
  o: { seed?: number; firstStep: number; steps: number; microBatches: number; batch: number; seqLen: number },
) {
  return roundBatches(trainTokens, {
    runId: 'centralized',
    round: o.firstStep,
    hotkey: `seed-${o.seed ?? 0}`,
    steps: o.steps,
    microBatches: o.microBatches,
    rows: o.batch,
    seqLen: o.seqLen,
  });
}

export async function trainCentralized(rt: GpuRuntime, o: CentralizedOptions): Promise<CentralizedResult> {
  const micro = o.microBatches ?? 1;
  const evalEvery = o.evalEvery ?? 25;
  const model = await LlamaModel.create(rt, o.config, { batch: o.batch, seqLen: o.seqLen });
  let optimizer: AdamW | undefined;
  try {
    optimizer = await AdamW.create(model);
    model.setParameters(o.theta ?? initParameters(model.layout, { seed: o.seed ?? 0 }));
    if (o.optimizer) optimizer.setState(o.optimizer);
    const loop = new InnerLoop(model, optimizer);
    const firstStep = optimizer.stepCount;
    // The schedule spans the whole run, from step 0, so a resumed run continues its curve.
    const schedule = innerSchedule(firstStep + o.steps, o.schedule);
    let batches = o.batches;
    if (!batches) {
      if (!o.trainTokens) throw new Error('trainCentralized: pass the train split (trainTokens) or a batch source (batches)');
      batches = centralizedBatches(o.trainTokens, {
        seed: o.seed,
        firstStep,
        steps: o.steps,
        microBatches: micro,
        batch: o.batch,
        seqLen: o.seqLen,
      });
    }
    const source = batches;
    let done = 0;
    let heldOutLoss = NaN;
    while (done < o.steps) {
      const chunk = Math.min(evalEvery, o.steps - done);
      const offset = done;
      await loop.trainSteps({ steps: chunk, microBatches: micro, batch: (s, m) => source(offset + s, m), schedule, onStep: o.onStep });
      done += chunk;
      if (o.heldOut.length > 0) {
        heldOutLoss = await loop.evaluate(o.heldOut);
        o.onHeldOut?.(firstStep + done, heldOutLoss);
      }
    }
    const params = await model.getParameters();
    return { heldOutLoss, modelHash: checkpointHash(model.layout, params), params, optimizer: await optimizer.getState() };
  } finally {
    optimizer?.destroy();
    model.destroy();
  }
}
