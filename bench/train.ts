// `npm run bench:train`: tokens/s and model-FLOPs utilisation of one training step per preset,
// ours (src/model + src/train/optimizer.ts) beside the same model trained by tfjs's autodiff on
// tfjs-backend-webgpu (bench/tfjs-llama.ts) in the same headless Chromium, on the same initial
// weights and batch. JSON lines on stdout, a table on stderr; exits non-zero when the two
// disagree on the initial loss or gradients (the timings would compare different computations).
// `--node` times ours alone on Dawn in Node (machines without a browser). `--profile` adds one
// more step of ours with every dispatch timed by GPU timestamps (src/gpu/profile.ts): a table per
// preset and `profile-kernel` JSON lines, kernel by kernel, with the throughput each achieved and,
// given `--peak-tflops` / `--peak-gbps` (WebGPU cannot report them), the fraction of peak, and the
// longest submission and dispatch. Every run reports the timed steps' submissions as the runtime
// measured them (src/gpu/submissions.ts): per step, the longest, how many ran past the budget
// (`--submission-budget`); `--compare-unsplit` times the same steps unsplit first, back to back.
import type { Page } from 'playwright-core';
import { onOff, UsageError, type CommandSpec, type OptionValues } from '../src/cli/args.ts';
import type { AdapterReport } from '../src/gpu/device.ts';
import { summarizeProfile, type ProfilePeaks } from '../src/gpu/profile.ts';
import { preset, type PresetName } from '../src/model/config.ts';
import { openBenchPage, printTable } from './browser.ts';
import type { BenchWindow } from './page.ts';
import type { TrainPage } from './train-page.ts';
import type { StepSubmissions, TrainBenchRequest, TrainBenchResult } from './train-step.ts';
import { modelFlopsPerToken } from '../src/model/flops.ts';

interface RunShape {
  batch: number;
  seqLen: number;
  /** Timed steps after the one warm-up step. */
  steps: number;
}

/**
 * Batch shape and timed steps per preset: realistic on a real GPU, cut down on a software one,
 * where one `small` step of 128 tokens takes about a minute for ours and four for tfjs.
 */
const SHAPES: Record<PresetName, { gpu: RunShape; software: RunShape }> = {
  tiny: { gpu: { batch: 32, seqLen: 64, steps: 10 }, software: { batch: 2, seqLen: 64, steps: 3 } },
  small: { gpu: { batch: 16, seqLen: 256, steps: 10 }, software: { batch: 2, seqLen: 64, steps: 1 } },
  base: { gpu: { batch: 8, seqLen: 512, steps: 10 }, software: { batch: 1, seqLen: 64, steps: 1 } },
};

/**
 * Both sides compute in f32 from the same f32 weights and batch and differ only in summation
 * order (tiled matmuls, two-pass reductions): a few ulps per op, about 1e-7 relative on the loss
 * and 1e-6 on a gradient tensor after a dozen layers (measured on tiny: equal losses, 5e-7 on the
 * worst tensor). The tolerances leave two orders of magnitude for deeper models, while a
 * difference in the math shows as an O(1) relative error in some tensor's gradient (a
 * rotate_half with swapped signs in the tfjs model gave 0.86 on k_proj).
 */
const LOSS_RELATIVE_TOLERANCE = 1e-5;
const GRAD_RELATIVE_TOLERANCE = 1e-4;

export const command = {
  name: 'train',
  program: 'bench',
  summary: 'tokens/s and model-FLOPs utilisation of one training step per preset, ours beside tfjs autodiff on tfjs-backend-webgpu',
  options: {
    presets: {
      kind: 'string',
      placeholder: 'P[,P...]',
      help: 'comma-separated presets to time (default: tiny,small,base; tiny,small on a software adapter)',
    },
    batch: { kind: 'number', placeholder: 'N', help: 'rows per step (default: per preset, fewer on a software adapter)' },
    'seq-len': { kind: 'number', placeholder: 'N', help: "tokens per row, at most the model's context (default: per preset)" },
    warmup: { kind: 'number', default: 1, help: 'untimed steps before the timed ones' },
    steps: { kind: 'number', placeholder: 'N', help: 'timed steps (default: per preset, fewer on a software adapter)' },
    seed: { kind: 'number', default: 1, help: 'seed of the initial weights and the batch' },
    lr: { kind: 'number', default: 1e-3, help: 'AdamW learning rate of the timed steps' },
    'peak-tflops': {
      kind: 'number',
      placeholder: 'T',
      help: "the device's peak fp32 TFLOP/s, for the model-FLOPs utilisation and the profile",
    },
    'peak-gbps': { kind: 'number', placeholder: 'G', help: "the device's peak memory bandwidth (GB/s), for the profile" },
    node: { kind: 'boolean', help: 'time ours alone on Dawn in Node, without a browser or tfjs' },
    profile: { kind: 'boolean', help: 'one more step of ours with every dispatch timed: a table per preset, kernel by kernel' },
    f16: { kind: 'string', placeholder: 'on|off', help: "f16 matmul operands (default: the runtime's, off)" },
    'submission-budget': {
      kind: 'string',
      placeholder: 'MS|off',
      help: "the longest a GPU submission may run, in ms (default: the runtime's, 250); off: one submission per step",
    },
    'compare-unsplit': { kind: 'boolean', help: 'time the same steps unsplit first, on the same model: the cost of splitting' },
    subgroups: { kind: 'string', placeholder: 'on|off', help: 'subgroup reductions (default: on where the device has them)' },
  },
  details: ['JSON lines on stdout, a table on stderr; exits 1 when the two disagree on the initial loss or gradients.'],
} satisfies CommandSpec;

export async function run(args: OptionValues<typeof command.options>): Promise<void> {
  const runtime = {
    f16: onOff('--f16', args.f16),
    subgroups: onOff('--subgroups', args.subgroups),
    submissionBudgetMs: submissionBudget(args['submission-budget']),
  };
  const peakTflops = args['peak-tflops'];
  if (peakTflops !== undefined && !(peakTflops > 0))
    throw new UsageError(`--peak-tflops must be > 0 (the device's peak fp32 TFLOP/s), got ${peakTflops}`);
  const peakGbps = args['peak-gbps'];
  if (peakGbps !== undefined && !(peakGbps > 0))
    throw new UsageError(`--peak-gbps must be > 0 (the device's peak memory bandwidth in GB/s), got ${peakGbps}`);
  const peaks: ProfilePeaks = { tflops: peakTflops, gbps: peakGbps };
  const requests = (adapter: AdapterReport): TrainBenchRequest[] => {
    const software = adapter.isFallbackAdapter || adapter.architecture === 'swiftshader';
    const presets = (args.presets ?? (software ? 'tiny,small' : 'tiny,small,base')).split(',');
    return presets.map((name) => {
      const config = preset(name);
      const shape = SHAPES[name as PresetName][software ? 'software' : 'gpu'];
      return {
        preset: name as PresetName,
        batch: args.batch ?? shape.batch,
        seqLen: Math.min(args['seq-len'] ?? shape.seqLen, config.max_position_embeddings),
        warmupSteps: args.warmup,
        timedSteps: args.steps ?? shape.steps,
        seed: args.seed,
        lr: args.lr,
        profile: args.profile ?? false,
        runtime,
        compareUnsplit: args['compare-unsplit'] ?? false,
      };
    });
  };

  const table: Record<string, string | number>[] = [];
  let disagreements = 0;
  const report = (r: TrainBenchResult) => {
    const { line, row, agrees } = describe(r, peakTflops);
    console.log(JSON.stringify(line));
    table.push(row);
    if (!agrees) disagreements++;
    if (r.profile) printProfile(r, peaks);
  };
  if (args.node) {
    await runNode(requests, report);
  } else {
    const bench = await openBenchPage('/bench/train.html');
    bench.page.on('console', (message) => console.error(`[page] ${message.text()}`));
    try {
      const adapter: AdapterReport = await evaluateSurvivingReload(bench.page, () =>
        bench.page.evaluate(() => (window as unknown as BenchWindow<TrainPage>).webloco.adapter()),
      );
      console.log(JSON.stringify({ kind: 'adapter', ...adapter, features: undefined }));
      for (const request of requests(adapter)) {
        report(
          await evaluateSurvivingReload(bench.page, () =>
            bench.page.evaluate((req) => (window as unknown as BenchWindow<TrainPage>).webloco.benchTrain(req), request),
          ),
        );
      }
    } finally {
      await bench.close();
    }
  }
  printTable(table);
  if (disagreements > 0) {
    console.error(
      `bench train: our model and the tfjs model disagree on the initial loss or gradients in ${disagreements} preset(s) ` +
        `(relative tolerances ${LOSS_RELATIVE_TOLERANCE} and ${GRAD_RELATIVE_TOLERANCE}; see lossOurs, lossTfjs, gradRelativeDiff and gradWorstTensor above): ` +
        'the timings compare different computations. Check bench/tfjs-llama.ts against src/model.',
    );
    process.exitCode = 1;
  }
}

/** `--submission-budget`: milliseconds, or off (Infinity: never split); absent: the runtime's default. */
function submissionBudget(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value === 'off') return Infinity;
  const ms = Number(value);
  if (!(ms > 0)) throw new UsageError(`--submission-budget takes a number of milliseconds > 0, or off; got ${value}`);
  return ms;
}

/** Ours alone on Dawn, one runtime per preset (each with the request's options). */
async function runNode(requests: (adapter: AdapterReport) => TrainBenchRequest[], report: (r: TrainBenchResult) => void): Promise<void> {
  const { nodeGpuDevice } = await import('../src/gpu/node.ts');
  const { GpuRuntime } = await import('../src/gpu/runtime.ts');
  const { timeOurTrainingStep, trainBenchResult } = await import('./train-step.ts');
  const gpu = await nodeGpuDevice();
  console.log(JSON.stringify({ kind: 'adapter', ...gpu.adapter, features: undefined }));
  try {
    for (const request of requests(gpu.adapter)) {
      const rt = new GpuRuntime(gpu, request.runtime);
      const ours = await timeOurTrainingStep(rt, request, (line) => console.error(line));
      report(trainBenchResult(request, ours.layout, ours));
      rt.flush();
      rt.trimPool();
    }
  } finally {
    gpu.device.destroy();
  }
}

/** One preset's profiled step: JSON lines (`profile`, then `profile-kernel` per kernel) and a table. */
function printProfile(r: TrainBenchResult, peaks: ProfilePeaks): void {
  const profile = summarizeProfile(r.profile!.dispatches, peaks);
  const longest = profile.longestSubmission;
  const slowest = profile.longestDispatch;
  console.log(
    JSON.stringify({
      kind: 'profile',
      preset: r.preset,
      tokens: r.tokens,
      dispatches: profile.dispatches,
      kernelMs: profile.totalMs,
      profiledStepWallMs: r.profile!.wallMs,
      stepMs: r.oursMs,
      submissionBudgetMs: budgetText(r.submissions.budgetMs),
      submissions: profile.submissions,
      longestSubmissionMs: longest?.ms,
      longestSubmission: longest,
      longestDispatchMs: slowest?.ms,
      longestDispatch: slowest?.label,
      ...peaks,
    }),
  );
  const rows: Record<string, string | number>[] = [];
  for (const k of profile.rows) {
    console.log(JSON.stringify({ kind: 'profile-kernel', preset: r.preset, ...k }));
    rows.push({
      kernel: k.kernel,
      calls: k.calls,
      ms: k.ms,
      'planned ms': k.estimatedMs,
      'share %': 100 * k.share,
      'GFLOP/s': k.flops > 0 ? k.gflops : '',
      'GB/s': k.bytes > 0 ? k.gbps : '',
      ...(peaks.tflops || peaks.gbps ? { '% of peak': k.ofPeak === null ? '' : 100 * k.ofPeak, bound: k.bound ?? '' } : {}),
    });
  }
  const planned = profile.rows.reduce((s, k) => s + k.estimatedMs, 0);
  rows.push({
    kernel: `all (${r.preset}, ${r.tokens} tokens)`,
    calls: profile.dispatches,
    ms: profile.totalMs,
    'planned ms': planned,
    'share %': 100,
  });
  printTable(rows);
  // The dispatches' GPU times summed per submission: pass boundaries and copies are not in them.
  if (longest && slowest) {
    console.error(
      `${profile.submissions} submissions (budget ${budgetText(r.submissions.budgetMs)} ms): the longest ${longest.ms.toFixed(1)} ms ` +
        `(${longest.dispatches} dispatches, slowest ${longest.slowest}); the longest dispatch ${slowest.ms.toFixed(1)} ms (${slowest.label})`,
    );
  }
}

/** A budget as the flag spells it: off for Infinity (which JSON cannot carry). */
function budgetText(ms: number): number | 'off' {
  return Number.isFinite(ms) ? ms : 'off';
}

/** A step's submissions in JSON: per step, the longest and how many overran, under which budget. */
function submissionsLine(s: StepSubmissions) {
  return {
    submissionBudgetMs: budgetText(s.budgetMs),
    submissionsTimedBy: s.source,
    submissionsPerStep: s.perStep,
    dispatchesPerStep: s.dispatchesPerStep,
    submissionsOverBudget: s.overBudget,
    overBudgetKernels: s.overBudgetKernels,
    longestSubmissionMs: s.longest?.ms,
    longestSubmission: s.longest,
  };
}

/** The JSON line, the table row and the agreement verdict of one preset's result. */
function describe(r: TrainBenchResult, peakTflops: number | undefined) {
  const flopsPerToken = modelFlopsPerToken(preset(r.preset), r.parameterCount, r.seqLen);
  const perSecond = (ms: number) => r.tokens / (ms / 1000);
  const tflops = (ms: number) => (flopsPerToken * perSecond(ms)) / 1e12;
  const oursTflops = tflops(r.oursMs);
  const t = r.tfjs;
  const agrees =
    !t || (Math.abs(r.lossOurs - t.loss) <= LOSS_RELATIVE_TOLERANCE * Math.abs(t.loss) && t.gradRelativeDiff <= GRAD_RELATIVE_TOLERANCE);
  const line = {
    kind: 'train-step',
    preset: r.preset,
    batch: r.batch,
    seqLen: r.seqLen,
    tokens: r.tokens,
    parameterCount: r.parameterCount,
    timedSteps: r.oursStepsMs.length,
    f16: r.f16,
    subgroups: r.subgroups,
    oursMs: r.oursMs,
    // As in bench kernels: ratio = tfjs time / our time, so above 1 means ours is faster.
    ...(t ? { tfjsMs: t.ms, ratio: t.ms / r.oursMs } : {}),
    oursTokensPerSecond: perSecond(r.oursMs),
    ...(t ? { tfjsTokensPerSecond: perSecond(t.ms) } : {}),
    modelFlopsPerToken: flopsPerToken,
    oursTflops,
    ...(t ? { tfjsTflops: tflops(t.ms) } : {}),
    ...(peakTflops !== undefined ? { mfu: oursTflops / peakTflops, ...(t ? { tfjsMfu: tflops(t.ms) / peakTflops } : {}) } : {}),
    lossOurs: r.lossOurs,
    ...(t ? { lossTfjs: t.loss, gradRelativeDiff: t.gradRelativeDiff, gradWorstTensor: t.gradWorstTensor, agrees } : {}),
    lastLossOurs: r.lastLossOurs,
    ...(t ? { lastLossTfjs: t.lastLoss } : {}),
    oursStepsMs: r.oursStepsMs,
    ...(t ? { tfjsStepsMs: t.stepsMs } : {}),
    ...submissionsLine(r.submissions),
    ...(r.unsplit
      ? {
          unsplit: { ms: r.unsplit.ms, stepsMs: r.unsplit.stepsMs, ...submissionsLine(r.unsplit.submissions) },
          splittingCost: r.oursMs / r.unsplit.ms - 1,
        }
      : {}),
  };
  const row: Record<string, string | number> = {
    preset: r.preset,
    tokens: r.tokens,
    'ours ms': r.oursMs,
    'tfjs ms': t?.ms ?? '',
    ratio: t ? t.ms / r.oursMs : '',
    'ours tok/s': perSecond(r.oursMs),
    'tfjs tok/s': t ? perSecond(t.ms) : '',
    'ours TFLOP/s': oursTflops.toExponential(3),
    'tfjs TFLOP/s': t ? tflops(t.ms).toExponential(3) : '',
    ...(peakTflops !== undefined ? { 'ours MFU': oursTflops / peakTflops, 'tfjs MFU': t ? tflops(t.ms) / peakTflops : '' } : {}),
    'loss ours': r.lossOurs,
    'loss tfjs': t?.loss ?? '',
    'budget ms': budgetText(r.submissions.budgetMs),
    'subs/step': r.submissions.perStep,
    'longest sub ms': r.submissions.longest?.ms ?? '',
    ...(r.unsplit
      ? {
          'unsplit ms': r.unsplit.ms,
          'unsplit longest ms': r.unsplit.submissions.longest?.ms ?? '',
          'split cost %': 100 * (r.oursMs / r.unsplit.ms - 1),
        }
      : {}),
  };
  return { line, row, agrees };
}

/**
 * Runs `call` once more if Vite reloaded the page under it: the dev server reloads a page when it
 * discovers a dependency to pre-bundle (the first run on a fresh checkout), which destroys the
 * page's context mid-evaluate.
 */
async function evaluateSurvivingReload<T>(page: Page, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!String(err).includes('Execution context was destroyed')) throw err;
    await page.waitForFunction(() => document.getElementById('log')?.textContent?.startsWith('ready'), null, { timeout: 120_000 });
    return call();
  }
}
