// Runs in headless Chromium (driven by `npm run bench:train`): times one training step of our
// LlamaModel (bench/train-step.ts) and of the same model in tfjs (bench/tfjs-llama.ts,
// tfjs-backend-webgpu autodiff) on the same weights and batch, same browser, same device, same
// method: wall time from recording the step (forward, backward, clipped AdamW update with
// src/train/optimizer.ts's defaults) to its loss read back and the queue drained, after warm-up.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { browserGpuDevice } from '../src/gpu/browser.ts';
import { GpuRuntime } from '../src/gpu/runtime.ts';
import type { ParameterLayout } from '../src/model/layout.ts';
import { ADAMW_DEFAULTS } from '../src/train/optimizer.ts';
import { TfjsLlama } from './tfjs-llama.ts';
import { exposeBenchApi, logLine } from './page.ts';
import {
  timeOurTrainingStep,
  trainBenchResult,
  trainBenchSetup,
  type TrainBenchRequest,
  type TrainBenchResult,
  type TrainStepTimings,
} from './train-step.ts';

/** The tfjs counterpart of timeOurTrainingStep: same setup, same steps, same clock. */
async function timeTfjsTrainingStep(
  req: TrainBenchRequest,
  layout: ParameterLayout,
  initial: Float32Array,
  log: (line: string) => void,
): Promise<TrainStepTimings> {
  const { tokens, targets, steps } = trainBenchSetup(req);
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  await tf.setBackend('webgpu');
  await tf.ready();
  const backend = tf.backend() as WebGPUBackend;
  // Submits whatever tfjs still holds recorded (an empty command buffer when data() already
  // submitted everything), then waits for the queue: the counterpart of our rt.sync().
  const drain = async () => {
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    backend.submitQueue();
    await backend.device.queue.onSubmittedWorkDone();
  };
  const model = new TfjsLlama(layout, initial);
  const tfTokens = tf.tensor2d(tokens, [req.batch, req.seqLen], 'int32');
  const tfTargets = tf.tensor2d(targets, [req.batch, req.seqLen], 'int32');
  const losses: number[] = [];
  const stepsMs: number[] = [];
  const initialGradients = new Float32Array(layout.totalFloats);
  let tensorsAfterFirstStep = 0;
  try {
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      const { loss, gradients } = model.step(tfTokens, tfTargets, req.lr, ADAMW_DEFAULTS, i === 0);
      losses.push((await loss.data())[0]!);
      await drain();
      const ms = performance.now() - t0;
      loss.dispose();
      if (gradients) {
        for (const [j, t] of layout.tensors.entries()) initialGradients.set(await gradients[j]!.data(), t.offset);
        tf.dispose(gradients);
      }
      if (i === 0) tensorsAfterFirstStep = tf.memory().numTensors; // the first step builds the RoPE tables and mask
      if (i >= req.warmupSteps) stepsMs.push(ms);
      log(`tfjs ${req.preset} step ${i}: ${ms.toFixed(1)} ms, loss ${losses[i]}`);
    }
    const leaked = tf.memory().numTensors - tensorsAfterFirstStep;
    if (leaked !== 0)
      throw new Error(`tfjs LLaMA leaked ${leaked} tensors in ${steps - 1} steps: a tf.tidy is missing in bench/tfjs-llama.ts`);
  } finally {
    tf.dispose([tfTokens, tfTargets]);
    model.dispose();
  }
  return { losses, stepsMs, initialGradients };
}

async function benchTrain(req: TrainBenchRequest, log: (line: string) => void): Promise<TrainBenchResult> {
  // Ours first, on its own device, destroyed before tfjs allocates: neither holds the other's memory.
  const rt = new GpuRuntime(await browserGpuDevice(), req.runtime);
  let ours: Awaited<ReturnType<typeof timeOurTrainingStep>>;
  try {
    ours = await timeOurTrainingStep(rt, req, log);
  } finally {
    rt.destroy();
  }
  const tfjs = await timeTfjsTrainingStep(req, ours.layout, ours.initial, log);
  return trainBenchResult(req, ours.layout, ours, tfjs);
}

const page = {
  benchTrain: (req: TrainBenchRequest) =>
    benchTrain(req, (line) => {
      logLine(line);
      console.log(line); // bench/train.ts shows it on stderr as progress
    }),
};
export type TrainPage = typeof page;
exposeBenchApi(page);
