// Bounded submissions (src/gpu/submissions.ts): cutting a training step, an evaluation and a
// compression into many submissions, and their long dispatches into slices, changes no bit of any
// result; and a step that takes far longer than the budget in one submission is cut, once the
// runtime has measured it, into submissions that each fit. One runtime (its pipelines compiled
// once: a software GPU spends seconds on them) whose budget the tests change.
import { afterAll, describe, expect, it } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { PRESETS } from '../../src/model/config.ts';
import { initParameters } from '../../src/model/init.ts';
import { LlamaModel } from '../../src/model/model.ts';
import { COMPRESS_PROGRAMS } from '../../src/kernels/compress.ts';
import { arenaGroups, compressBatchOnGpu } from '../../src/sparseloco/gpu-compress.ts';
import type { CompressedTensor } from '../../src/sparseloco/types.ts';
import { AdamW } from '../../src/train/optimizer.ts';
import { dispatchUnits, SubmissionPlanner, SubmissionWork } from '../../src/gpu/submissions.ts';
import { gridBlocks } from '../../src/kernels/grid.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { randomTokens } from '../model/fixtures.ts';

const destroyers: (() => void)[] = [];
afterAll(() => destroyers.forEach((d) => d()));

/** Everything one training step, one evaluation and one compression produce. */
interface RoundResults {
  loss: number;
  gradients: Float32Array;
  parameters: Float32Array;
  evalLosses: Float32Array;
  compressed: CompressedTensor[];
  error: Float32Array[];
}

/** Bits of a float array, so that toEqual compares them exactly (NaN and −0 included). */
const bits = (a: Float32Array) => new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

async function tinyRound(rt: GpuRuntime, model: LlamaModel, optimizer: AdamW): Promise<RoundResults> {
  const config = PRESETS.tiny;
  const train = randomTokens(config.vocab_size, model.batch, model.seqLen, 11);
  const held = randomTokens(config.vocab_size, model.batch, model.seqLen, 12);
  model.setParameters(initParameters(model.layout, { seed: 5 }));
  optimizer.reset();
  model.step(train.tokens, train.targets);
  const gradients = await model.readGradients();
  optimizer.step(1e-2);
  const loss = await model.readLoss();
  const parameters = await model.getParameters();
  model.forward(held.tokens, held.targets, false);
  const evalLosses = await model.readLosses();
  // Error feedback e (seeded) ← β·e + Δ with Δ the step's gradients, then top-k and 2-bit codes.
  const errors = model.layout.arenaFloats.map((floats, i) => rt.upload(randn(floats, 20 + i, 0.01), 'test-error'));
  const groups = arenaGroups(model.layout.tensors, errors, model.grads.arenas, rt.limits.maxStorageBufferBindingSize);
  const compressed = await compressBatchOnGpu(rt, { beta: 0.95, groups });
  const error = await Promise.all(errors.map((e) => rt.readF32(e)));
  errors.forEach((e) => rt.release(e));
  return { loss, gradients, parameters, evalLosses, compressed, error };
}

describe('the submission planner', () => {
  const work = (dispatches: [string, number, number][]) => {
    const w = new SubmissionWork('training step');
    for (const [label, units, ms] of dispatches) w.add(label, undefined, units, ms);
    return w;
  };

  it("learns each kernel's rate from its share of a measured submission, and cuts by it", () => {
    const planner = new SubmissionPlanner(100);
    const units = dispatchUnits(1e9, 0);
    // Unmeasured: the prior, 50 GFLOP/s.
    expect(planner.estimateMs('training step', 'matmul', undefined, units)).toBeCloseTo(20, 1);
    expect(planner.slices('training step', 'matmul', undefined, units)).toBe(1);
    // Measured alone, a matmul of those units took 300 ms: 6 slices of 50 ms (half the budget).
    planner.observe(work([['matmul', units, 20]]), 300);
    expect(planner.estimateMs('training step', 'matmul', undefined, units)).toBeCloseTo(300, 6);
    expect(planner.slices('training step', 'matmul', undefined, units)).toBe(6);
    // A kernel not yet measured takes its kind's rate; one measured in a mix, its estimated share.
    expect(planner.estimateMs('training step', 'norm', undefined, units)).toBeCloseTo(300, 6);
    planner.observe(
      work([
        ['norm', units, 10],
        ['rope', units, 30],
      ]),
      80,
    );
    expect(planner.estimateMs('training step', 'norm', undefined, units)).toBeCloseTo(20, 6);
    expect(planner.estimateMs('training step', 'rope', undefined, units)).toBeCloseTo(60, 6);
    expect(planner.overruns(49)).toBe(false);
    expect(planner.overruns(51)).toBe(true);
    const stats = planner.report('timestamp');
    expect(stats.kinds['training step']).toMatchObject({ submissions: 2, dispatches: 3, overBudget: 1 });
    expect(stats.longest).toMatchObject({ ms: 300, estimatedMs: 20, heaviest: 'matmul' });
  });

  it('keeps a rate per kernel and shape: one shape of a kernel may run many times slower per FLOP', () => {
    const planner = new SubmissionPlanner(100);
    const shaped = (shape: string, ms: number) => {
      const w = new SubmissionWork('training step');
      w.add('matmul', shape, 1e6, 10);
      planner.observe(w, ms);
    };
    shaped('128×384×384', 10);
    shaped('50257×384×128', 100);
    expect(planner.estimateMs('training step', 'matmul', '128×384×384', 1e6)).toBeCloseTo(10, 6);
    expect(planner.estimateMs('training step', 'matmul', '50257×384×128', 1e6)).toBeCloseTo(100, 6);
    // A shape not measured yet takes the kernel's rate (the largest seen while there are few).
    expect(planner.estimateMs('training step', 'matmul', '128×1024×384', 1e6)).toBeCloseTo(100, 6);
  });

  it('forgives one stall of a kernel, not two', () => {
    const planner = new SubmissionPlanner(100);
    for (const ms of [10, 10, 10, 10, 90]) planner.observe(work([['attention', 1e6, 10]]), ms);
    expect(planner.estimateMs('training step', 'attention', undefined, 1e6)).toBeCloseTo(10, 6);
    planner.observe(work([['attention', 1e6, 10]]), 60);
    expect(planner.estimateMs('training step', 'attention', undefined, 1e6)).toBeCloseTo(60, 6);
  });

  it('never cuts without a finite budget, and refuses a budget of zero', () => {
    const planner = new SubmissionPlanner(Infinity);
    planner.observe(work([['matmul', 1e6, 1]]), 5000);
    expect(planner.overruns(1e9)).toBe(false);
    expect(planner.slices('training step', 'matmul', undefined, 1e12)).toBe(1);
    expect(() => new SubmissionPlanner(0)).toThrow(/budget must be > 0/);
  });

  it('cuts a grid into blocks of whole rows while they fit, else parts of a row', () => {
    expect(gridBlocks(4, 3, 6)).toEqual([
      { row: 0, col: 0, rows: 2, cols: 3 },
      { row: 2, col: 0, rows: 2, cols: 3 },
    ]);
    expect(gridBlocks(2, 5, 2).map((b) => [b.row, b.col, b.cols])).toEqual([
      [0, 0, 2],
      [0, 2, 2],
      [0, 4, 1],
      [1, 0, 2],
      [1, 2, 2],
      [1, 4, 1],
    ]);
    expect(gridBlocks(3, 3)).toEqual([{ row: 0, col: 0, rows: 3, cols: 3 }]);
    expect(gridBlocks(5, 2, Infinity, 2)).toHaveLength(3);
  });
});

describe('bounded submissions', () => {
  it('cut into many submissions and sliced dispatches, a step, an evaluation and a compression give the same bits', async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.create(rt, PRESETS.tiny, { batch: 2, seqLen: 32 });
    const optimizer = await AdamW.create(model);
    await rt.compileAll(COMPRESS_PROGRAMS);
    destroyers.push(() => (optimizer.destroy(), model.destroy()));
    const budget = rt.submissionBudgetMs;
    try {
      const run = async (budgetMs: number) => {
        rt.submissionBudgetMs = budgetMs;
        const [submits, dispatches] = [rt.submitCount, rt.dispatchCount];
        const results = await tinyRound(rt, model, optimizer);
        return { results, submits: rt.submitCount - submits, dispatches: rt.dispatchCount - dispatches };
      };
      const whole = await run(Infinity);
      // 20 µs: every dispatch its own submission, and the matmuls, attention, the cross-entropy,
      // AdamW, the gradient norm and the compressor's selection cut into slices.
      const split = await run(0.02);
      console.log(
        `tiny round (step, evaluation, compression): ${whole.submits} submissions of ${whole.dispatches} dispatches unsplit, ` +
          `${split.submits} of ${split.dispatches} with a 20 µs budget`,
      );
      expect(split.submits).toBeGreaterThan(5 * whole.submits);
      expect(split.dispatches).toBeGreaterThan(2 * whole.dispatches);

      const a = whole.results;
      const b = split.results;
      expect(Object.is(b.loss, a.loss)).toBe(true);
      expect(bits(b.gradients)).toEqual(bits(a.gradients));
      expect(bits(b.parameters)).toEqual(bits(a.parameters));
      expect(bits(b.evalLosses)).toEqual(bits(a.evalLosses));
      expect(b.error.map(bits)).toEqual(a.error.map(bits));
      expect(b.compressed).toEqual(a.compressed);
    } finally {
      rt.submissionBudgetMs = budget;
    }
  });

  it('cut a step that takes seconds in one submission into submissions planned under the budget', async () => {
    const rt = await testRuntime();
    const config = PRESETS.tiny;
    // 512 tokens: a tiny step that SwiftShader takes 2–3 s over here (the pipelines are the first test's).
    const model = await LlamaModel.create(rt, config, { batch: 8, seqLen: 64 });
    const optimizer = await AdamW.create(model);
    destroyers.push(() => (optimizer.destroy(), model.destroy()));
    model.setParameters(initParameters(model.layout, { seed: 6 }));
    const { tokens, targets } = randomTokens(config.vocab_size, model.batch, model.seqLen, 13);
    const budget = rt.submissionBudgetMs;
    const step = async (budgetMs: number) => {
      rt.submissionBudgetMs = budgetMs;
      await rt.sync();
      rt.resetSubmissionStats();
      model.step(tokens, targets);
      optimizer.step(1e-3);
      await model.readLoss();
      const stats = (await rt.submissionStats()).kinds['training step'];
      const l = stats.longest!;
      console.log(
        `tiny step of 512 tokens, budget ${budgetMs} ms: ${stats.submissions} submission(s), ${stats.overBudget} over budget, ` +
          `longest ${l.ms.toFixed(1)} ms (${l.dispatches} dispatches, estimated ${l.estimatedMs.toFixed(1)} ms, heaviest ${l.heaviest})`,
      );
      return stats;
    };
    try {
      const whole = await step(Infinity);
      expect(whole.submissions).toBe(1);
      // A budget an eighth of what the whole step took here, whatever this machine's speed: the
      // step must be cut into at least that many submissions.
      const target = whole.longest!.ms / 8;
      // The unsplit step taught the runtime the device's rate, a first split step each kernel's.
      await step(target);
      const split = await step(target);
      expect(split.submissions).toBeGreaterThan(8);
      // What the runtime decides, and so what is asserted: no submission is planned past the
      // budget (each is filled to half of it by its estimate). Whether each then ran under it is
      // measured and printed above, not asserted: SwiftShader's "GPU" is CPU threads that other
      // jobs share, so a submission's time also says how busy the machine was.
      expect(split.longest!.estimatedMs).toBeLessThanOrEqual(target);
    } finally {
      rt.submissionBudgetMs = budget;
    }
  });
});
