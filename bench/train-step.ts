// The environment-free half of `npm run bench:train`: the request, the synthetic batch, and the
// timing of OUR training step on any GpuRuntime (Chromium's WebGPU in bench/train-page.ts, Dawn
// in Node for `--node`). The tfjs half needs tfjs and lives in the page.
import type { GpuRuntime, ProfiledDispatch, RuntimeOptions } from '../src/gpu/runtime.ts';
import type { KindStats, SubmissionStats } from '../src/gpu/submissions.ts';
import { preset, type PresetName } from '../src/model/config.ts';
import { initParameters } from '../src/model/init.ts';
import type { ParameterLayout } from '../src/model/layout.ts';
import { LlamaModel } from '../src/model/model.ts';
import { ADAMW_DEFAULTS, AdamW } from '../src/train/optimizer.ts';

export interface TrainBenchRequest {
  preset: PresetName;
  batch: number;
  seqLen: number;
  warmupSteps: number;
  timedSteps: number;
  seed: number;
  lr: number;
  /** After the timed steps, one more step with every dispatch timed on the GPU (`--profile`). */
  profile?: boolean;
  /**
   * The runtime's options: the f16 path and subgroups on or off (`--f16`, `--subgroups`), the
   * submission budget (`--submission-budget`); absent: the runtime's defaults (subgroups where
   * the device has them, f32, 250 ms).
   */
  runtime?: RuntimeOptions;
  /**
   * Every step, warm-up and timed, also runs unsplit (one submission per step) right before it
   * runs under the budget, on the same model and runtime: the splitting's cost, back to back
   * (`--compare-unsplit`).
   */
  compareUnsplit?: boolean;
}

/** The timed steps' submissions (the runtime's measurements: GPU timestamps, else wall time). */
export interface StepSubmissions {
  /** The budget they ran under (Infinity: unsplit). */
  budgetMs: number;
  source: 'timestamp' | 'wall';
  /** Submissions of a step and their dispatches (slices counted), on average over the timed steps. */
  perStep: number;
  dispatchesPerStep: number;
  overBudget: number;
  /** Over-budget submissions by their heaviest kernel. */
  overBudgetKernels: Record<string, number>;
  longest: KindStats['longest'];
}

/** The same steps unsplit, each timed right before its split twin (`compareUnsplit`). */
export interface UnsplitTimings {
  stepsMs: number[];
  submissions: StepSubmissions;
}

/** One implementation's run: every step's loss and wall time, and the initial gradients. */
export interface TrainStepTimings {
  /** Loss of each step, taken before that step's update; [0] is on the initial weights. */
  losses: number[];
  /** Wall time of each timed step (warm-up steps excluded). */
  stepsMs: number[];
  /** Gradients of the first step (the initial weights), flat in the layout's order. */
  initialGradients: Float32Array;
}

/** The training step's submissions over the timed steps, each step's statistics given. */
function stepSubmissions(budgetMs: number, steps: readonly SubmissionStats[]): StepSubmissions {
  const train = steps.map((s) => s.kinds['training step']);
  let longest: KindStats['longest'] = null;
  for (const t of train) if (t.longest && (!longest || t.longest.ms > longest.ms)) longest = t.longest;
  const sum = (f: (t: KindStats) => number) => train.reduce((n, t) => n + f(t), 0);
  return {
    budgetMs,
    source: steps[0]?.source ?? 'timestamp',
    perStep: sum((t) => t.submissions) / train.length,
    dispatchesPerStep: sum((t) => t.dispatches) / train.length,
    overBudget: sum((t) => t.overBudget),
    overBudgetKernels: Object.fromEntries(
      [...new Set(train.flatMap((t) => Object.keys(t.overBudgetKernels)))].map((k) => [k, sum((t) => t.overBudgetKernels[k] ?? 0)]),
    ),
    longest,
  };
}

/** What our side adds: the submissions of the timed steps, and the unsplit run where asked for. */
interface OurTimings extends TrainStepTimings {
  submissions: StepSubmissions;
  unsplit?: UnsplitTimings;
}

/** A profiled step: each dispatch's GPU time, and the step's wall time with profiling on. */
export interface StepProfile {
  dispatches: ProfiledDispatch[];
  wallMs: number;
}

/** The weights, batch and step count both implementations start from. */
export interface TrainBenchSetup {
  config: ReturnType<typeof preset>;
  tokens: Int32Array;
  targets: Int32Array;
  steps: number;
}

export function trainBenchSetup(req: TrainBenchRequest): TrainBenchSetup {
  const config = preset(req.preset);
  if (!(req.seqLen >= 1 && req.seqLen <= config.max_position_embeddings)) {
    throw new Error(
      `seqLen ${req.seqLen} is outside [1, ${config.max_position_embeddings}] (${req.preset}'s max_position_embeddings); pass another --seq-len`,
    );
  }
  if (!(req.batch >= 1)) throw new Error(`batch must be at least 1, got ${req.batch}`);
  if (!(req.warmupSteps >= 1 && req.timedSteps >= 1)) {
    throw new Error(
      `bench train needs at least one warm-up step (it compiles pipelines and checks the gradients) and one timed step; got --warmup ${req.warmupSteps} --steps ${req.timedSteps}`,
    );
  }
  const { tokens, targets } = syntheticBatch(req.batch, req.seqLen, config.vocab_size, req.seed);
  return { config, tokens, targets, steps: req.warmupSteps + req.timedSteps };
}

/** Seeded token ids in [0, V): a window of S + 1 per row gives inputs and next-token targets. */
function syntheticBatch(B: number, S: number, V: number, seed: number): { tokens: Int32Array; targets: Int32Array } {
  const tokens = new Int32Array(B * S);
  const targets = new Int32Array(B * S);
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * V);
  };
  for (let b = 0; b < B; b++) {
    let current = next();
    for (let t = 0; t < S; t++) {
      const following = next();
      tokens[b * S + t] = current;
      targets[b * S + t] = following;
      current = following;
    }
  }
  return { tokens, targets };
}

/**
 * Trains our LlamaModel with AdamW (src/train/optimizer.ts defaults) on the same batch for
 * req.warmupSteps + req.timedSteps steps from initParameters(seed). A step's wall time runs from
 * recording it (forward, backward, clipped AdamW update) to its loss read back and the queue
 * drained. With compareUnsplit, each step runs unsplit too, just before. Returns the layout and
 * initial weights too, for the tfjs side to start from.
 */
export async function timeOurTrainingStep(
  rt: GpuRuntime,
  req: TrainBenchRequest,
  log: (line: string) => void,
): Promise<OurTimings & { layout: ParameterLayout; initial: Float32Array; profile?: StepProfile; f16: boolean; subgroups: boolean }> {
  const { config, tokens, targets } = trainBenchSetup(req);
  log(`ours ${req.preset}: ${rt.f16 ? 'f16' : 'f32'} matmul operands, ${rt.subgroups ? 'subgroup' : 'plain'} reductions`);
  const model = await LlamaModel.create(rt, config, { batch: req.batch, seqLen: req.seqLen });
  const optimizer = await AdamW.create(model, ADAMW_DEFAULTS);
  const budgetMs = rt.submissionBudgetMs;
  try {
    const initial = initParameters(model.layout, { seed: req.seed });
    model.setParameters(initial);
    const losses: number[] = [];
    let initialGradients: Float32Array | undefined;
    // With compareUnsplit every step runs twice, unsplit then under the budget, so that both
    // see the same load on a shared machine; the first step of all also reads the gradients.
    const runs = (req.compareUnsplit ? [Infinity, budgetMs] : [budgetMs]).map((budget) => ({
      budget,
      stepsMs: [] as number[],
      stats: [] as SubmissionStats[],
    }));
    for (let i = 0; i < req.warmupSteps + req.timedSteps; i++) {
      for (const run of runs) {
        rt.submissionBudgetMs = run.budget;
        await rt.sync();
        rt.resetSubmissionStats();
        const t0 = performance.now();
        model.step(tokens, targets);
        if (!initialGradients) initialGradients = await model.readGradients(); // a warm-up step: not timed
        optimizer.step(req.lr);
        losses.push(await model.readLoss());
        await rt.sync();
        const ms = performance.now() - t0;
        if (i >= req.warmupSteps) {
          run.stepsMs.push(ms);
          run.stats.push(await rt.submissionStats());
        }
        log(`ours ${req.preset} step ${i} (budget ${run.budget} ms): ${ms.toFixed(1)} ms, loss ${losses.at(-1)}`);
      }
    }
    const timings = runs.map((run) => ({ stepsMs: run.stepsMs, submissions: stepSubmissions(run.budget, run.stats) }));
    const { stepsMs, submissions } = timings.at(-1)!;
    const unsplit = req.compareUnsplit ? timings[0] : undefined;
    let profile: StepProfile | undefined;
    if (req.profile) {
      // The same step once more, each dispatch in its own timed pass (src/gpu/profile.ts sums them).
      const t0 = performance.now();
      rt.startProfile();
      try {
        model.step(tokens, targets);
        optimizer.step(req.lr);
        await model.readLoss();
      } finally {
        const dispatches = await rt.stopProfile();
        profile = { dispatches, wallMs: performance.now() - t0 };
      }
      log(`ours ${req.preset} profiled step: ${profile.dispatches.length} dispatches, ${profile.wallMs.toFixed(1)} ms`);
    }
    return {
      layout: model.layout,
      initial,
      losses,
      stepsMs,
      initialGradients: initialGradients!,
      submissions,
      ...(unsplit ? { unsplit } : {}),
      profile,
      f16: rt.f16,
      subgroups: rt.subgroups,
    };
  } finally {
    rt.submissionBudgetMs = budgetMs;
    optimizer.destroy();
    model.destroy();
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The parameter whose gradient differs most, relatively: ‖a − b‖ / ‖b‖ per tensor. */
function worstGradientDiff(layout: ParameterLayout, a: Float32Array, b: Float32Array): { tensor: string; relativeDiff: number } {
  let worst = { tensor: '', relativeDiff: -1 };
  for (const t of layout.tensors) {
    let diff = 0;
    let norm = 0;
    for (let i = t.offset; i < t.offset + t.size; i++) {
      diff += (a[i]! - b[i]!) ** 2;
      norm += b[i]! ** 2;
    }
    const relativeDiff = norm > 0 ? Math.sqrt(diff / norm) : Math.sqrt(diff);
    if (!(relativeDiff <= worst.relativeDiff)) worst = { tensor: t.name, relativeDiff }; // a NaN wins
  }
  return worst;
}

/** What one preset's run reports; `tfjs` is absent where only ours ran (`--node`). */
export interface TrainBenchResult {
  preset: PresetName;
  batch: number;
  seqLen: number;
  tokens: number;
  parameterCount: number;
  /** Median wall time of the timed steps. */
  oursMs: number;
  oursStepsMs: number[];
  /** Loss on the initial weights, and of the last step (after the same updates on the same batch). */
  lossOurs: number;
  lastLossOurs: number;
  /** The paths ours took: f16 matmul operands, subgroup reductions. */
  f16: boolean;
  subgroups: boolean;
  /** The timed steps' submissions, and the same steps unsplit where compared (median step time, submissions). */
  submissions: StepSubmissions;
  unsplit?: { ms: number; stepsMs: number[]; submissions: StepSubmissions };
  profile?: StepProfile;
  tfjs?: {
    ms: number;
    stepsMs: number[];
    loss: number;
    lastLoss: number;
    /** The largest ‖g_ours − g_tfjs‖ / ‖g_tfjs‖ of any parameter at the initial weights, and which. */
    gradRelativeDiff: number;
    gradWorstTensor: string;
  };
}

export function trainBenchResult(
  req: TrainBenchRequest,
  layout: ParameterLayout,
  ours: OurTimings & { profile?: StepProfile; f16: boolean; subgroups: boolean },
  tfjs?: TrainStepTimings,
): TrainBenchResult {
  const result: TrainBenchResult = {
    preset: req.preset,
    batch: req.batch,
    seqLen: req.seqLen,
    tokens: req.batch * req.seqLen,
    parameterCount: layout.parameterCount,
    oursMs: median(ours.stepsMs),
    oursStepsMs: ours.stepsMs,
    lossOurs: ours.losses[0]!,
    lastLossOurs: ours.losses.at(-1)!,
    f16: ours.f16,
    subgroups: ours.subgroups,
    submissions: ours.submissions,
    ...(ours.unsplit ? { unsplit: { ms: median(ours.unsplit.stepsMs), ...ours.unsplit } } : {}),
    ...(ours.profile ? { profile: ours.profile } : {}),
  };
  if (tfjs) {
    const worst = worstGradientDiff(layout, ours.initialGradients, tfjs.initialGradients);
    result.tfjs = {
      ms: median(tfjs.stepsMs),
      stepsMs: tfjs.stepsMs,
      loss: tfjs.losses[0]!,
      lastLoss: tfjs.losses.at(-1)!,
      gradRelativeDiff: worst.relativeDiff,
      gradWorstTensor: worst.tensor,
    };
  }
  return result;
}
