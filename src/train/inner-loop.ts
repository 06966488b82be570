// The inner loop of a round: H AdamW steps from θ on the peer's assigned batches, with gradient
// accumulation over micro-batches, progress reports and pause/cancel between steps; the result
// is the pseudo-gradient Δ = θ_start − θ_end that SparseLoCo compresses. The same loop is the
// centralized baseline (`webloco train`), run for more steps.
import type { LlamaModel } from '../model/model.ts';
import type { Batch } from './batches.ts';
import { TrainingControl } from './control.ts';
import type { AdamW } from './optimizer.ts';
import { learningRate, type LrSchedule } from './schedule.ts';

export interface StepProgress {
  /** 1-based optimizer step, counted over the trainer's life (the schedule's clock). */
  step: number;
  loss: number;
  lr: number;
  tokensPerSecond: number;
  /** How long the step took, from zeroGrad to its loss read back: the GPU had its work all along. */
  ms: number;
}

export interface TrainStepsOptions {
  steps: number;
  /** Batches accumulated into one optimizer step (to fit a device's memory). */
  microBatches?: number;
  /** The batch for (0-based step within this call, micro-batch). */
  batch: (step: number, micro: number) => Batch;
  schedule: LrSchedule;
  onStep?: (p: StepProgress) => void;
  control?: TrainingControl;
}

export interface TrainStepsResult {
  stepsDone: number;
  losses: number[];
  cancelled: boolean;
  /** The steps' time summed (each StepProgress.ms): what the GPU spent training. */
  trainingMs: number;
}

/** Mean loss of the model's current parameters over `batches` (forward only). */
export async function evaluateLoss(model: LlamaModel, batches: readonly Batch[]): Promise<number> {
  let sum = 0;
  for (const b of batches) {
    model.forward(b.inputs, b.targets, false);
    sum += await model.readLoss();
  }
  return sum / batches.length;
}

export class InnerLoop {
  constructor(
    readonly model: LlamaModel,
    readonly optimizer: AdamW,
  ) {}

  /** Runs up to `steps` optimizer steps; stops early (between steps) when cancelled. */
  async trainSteps(opts: TrainStepsOptions): Promise<TrainStepsResult> {
    const micro = opts.microBatches ?? 1;
    const control = opts.control ?? new TrainingControl();
    const tokensPerMicro = this.model.batch * this.model.seqLen;
    const losses: number[] = [];
    let trainingMs = 0;
    for (let s = 0; s < opts.steps; s++) {
      if (!(await control.checkpoint())) return { stepsDone: s, losses, cancelled: true, trainingMs };
      const started = performance.now();
      this.model.zeroGrad();
      let lossSum = 0;
      for (let m = 0; m < micro; m++) {
        const batch = opts.batch(s, m);
        this.model.forward(batch.inputs, batch.targets, true, 1 / (tokensPerMicro * micro));
        this.model.backward();
        // Read per micro-batch: the next forward overwrites the loss buffer.
        if (micro > 1) lossSum += await this.model.readLoss();
      }
      const step = this.optimizer.stepCount + 1;
      const lr = learningRate(opts.schedule, step);
      this.optimizer.step(lr);
      const loss = micro > 1 ? lossSum / micro : await this.model.readLoss();
      losses.push(loss);
      const ms = performance.now() - started;
      trainingMs += ms;
      opts.onStep?.({ step, loss, lr, tokensPerSecond: (tokensPerMicro * micro * 1000) / ms, ms });
    }
    return { stepsDone: opts.steps, losses, cancelled: false, trainingMs };
  }

  /** Mean loss over `batches` without touching gradients or optimizer state. */
  evaluate(batches: readonly Batch[]): Promise<number> {
    return evaluateLoss(this.model, batches);
  }

  /**
   * One round's inner work: set θ, train, return Δ = θ_start − θ_end (flat, layout order).
   * The model keeps θ_end; the outer step decides what θ becomes.
   */
  async innerRound(theta: Float32Array, opts: TrainStepsOptions): Promise<TrainStepsResult & { pseudoGradient: Float32Array }> {
    this.model.setParameters(theta);
    const result = await this.trainSteps(opts);
    const end = await this.model.getParameters();
    const pseudoGradient = new Float32Array(end.length);
    for (let i = 0; i < end.length; i++) pseudoGradient[i] = theta[i]! - end[i]!;
    return { ...result, pseudoGradient };
  }
}
