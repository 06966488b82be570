// softmax_crossentropy and mean_loss on Dawn against the float64 reference: odd vocabularies and
// row counts (not multiples of any workgroup size; every threads-a-row variant 32..256), a
// GPT-2-sized vocabulary, extreme logits, ignored positions and out-of-range targets.
import { describe, expect, it } from 'vitest';
import { IGNORE_INDEX, meanLoss, softmaxCrossEntropy, threadsPerRow } from '../../src/kernels/crossentropy.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { expectAllClose } from '../helpers/allclose.ts';
import { plainRuntime, testRuntime } from '../helpers/gpu.ts';
import { randn, rng } from '../helpers/random.ts';
import { meanLossReference, softmaxCrossEntropyReference } from '../reference/crossentropy.ts';

function randomTargets(T: number, V: number, seed: number): Uint32Array {
  const r = rng(seed);
  return Uint32Array.from({ length: T }, () => Math.floor(r() * V));
}

async function runCrossEntropy(rt: GpuRuntime, logits: Float32Array, targets: Uint32Array, T: number, V: number, gradScale?: number) {
  const logitsBuffer = rt.upload(logits);
  const targetsBuffer = rt.upload(targets);
  const lossesBuffer = rt.acquire(T * 4);
  const meanBuffer = rt.acquire(4);
  softmaxCrossEntropy(rt, { logits: logitsBuffer, targets: targetsBuffer, losses: lossesBuffer, T, V, gradScale });
  meanLoss(rt, { out: meanBuffer, losses: lossesBuffer, targets: targetsBuffer, T });
  const losses = await rt.readF32(lossesBuffer, 0, T);
  const dlogits = await rt.readF32(logitsBuffer, 0, T * V);
  const mean = (await rt.readF32(meanBuffer, 0, 1))[0]!;
  for (const b of [logitsBuffer, targetsBuffer, lossesBuffer, meanBuffer]) rt.release(b);
  return { losses, dlogits, mean };
}

// Why these tolerances hold. The loss is lse − x[target] with lse = max + log(Σ exp(x − max)) in
// f32: each exp is within a few ulp for arguments of moderate size (WGSL: 3 + 2·|x| ulp), and each
// thread adds at most 64 terms (threadsPerRow) before a ≤ 8-deep tree, so Σ has a relative error
// of ~1e-6 for these sizes, i.e. ~1e-6 absolute in log Σ. On top come the roundings of max + log Σ
// and of the final subtraction, each half an ulp of |lse| (≈ 1e-6 for |logits| ≲ 10, 4e-6 at 80).
// atol 2e-5 + rtol 1e-5 leaves a margin of more than 5x over that. A gradient element is
// (exp(x − lse) − onehot)·scale: exp of an argument carrying ~1e-6 absolute error, so its relative
// error is ~1e-6 (1e-5 allows for the exp ulps at arguments up to ~|20|), plus rounding of
// p − 1 near 1; atol 1e-6·scale covers elements that round to nothing in f32.
const LOSS_TOLERANCE = { atol: 2e-5, rtol: 1e-5 };
function gradTolerance(gradScale: number) {
  return { atol: 1e-6 * gradScale, rtol: 1e-5 };
}

describe('softmaxCrossEntropy', () => {
  it('gives each thread up to 64 logits, with 32 to 256 threads a row', () => {
    expect([7, 2048, 2049, 4097, 8193, 16385, 50257].map(threadsPerRow)).toEqual([32, 32, 64, 128, 256, 256, 256]);
  });

  for (const [T, V] of [
    [1, 7],
    [5, 257],
    [33, 1000],
    [2, 3001], // 64 threads a row
    [3, 7000], // 128 threads a row
  ] as const) {
    it(`matches the float64 loss and fused gradient at T=${T}, V=${V}`, async () => {
      const rt = await testRuntime();
      const logits = randn(T * V, 100 + V, 3);
      const targets = randomTargets(T, V, 200 + T);
      const gradScale = 1 / T;
      const got = await runCrossEntropy(rt, logits, targets, T, V, gradScale);
      const expected = softmaxCrossEntropyReference(logits, targets, T, V, gradScale);
      expectAllClose(got.losses, expected.losses, LOSS_TOLERANCE, 'losses');
      expectAllClose(got.dlogits, expected.dlogits, gradTolerance(gradScale), 'dlogits');
      // The mean of T ≤ 33 losses adds one more rounding per term: the loss tolerance still holds.
      expectAllClose([got.mean], [meanLossReference(expected.losses, targets)], LOSS_TOLERANCE, 'mean loss');
    });
  }

  it('leaves the logits untouched without gradScale', async () => {
    const rt = await testRuntime();
    const [T, V] = [3, 300];
    const logits = randn(T * V, 7, 2);
    const targets = randomTargets(T, V, 8);
    const got = await runCrossEntropy(rt, logits, targets, T, V);
    expect(got.dlogits).toEqual(logits);
    expectAllClose(got.losses, softmaxCrossEntropyReference(logits, targets, T, V).losses, LOSS_TOLERANCE, 'losses');
  });

  it('handles a GPT-2-sized vocabulary (V = 50257), ~200 logits per thread', async () => {
    const rt = await testRuntime();
    const [T, V] = [2, 50257];
    const logits = randn(T * V, 11, 2);
    const targets = Uint32Array.from([0, V - 1]);
    const got = await runCrossEntropy(rt, logits, targets, T, V, 0.5);
    const expected = softmaxCrossEntropyReference(logits, targets, T, V, 0.5);
    // Each thread adds ~197 terms sequentially: Σ's relative error grows to ~197·2^-24 ≈ 1.2e-5
    // in the worst case (half that typically), so the loss gets 2e-5 more absolute room; the
    // gradient inherits the same relative error through exp(x − lse).
    expectAllClose(got.losses, expected.losses, { atol: 4e-5, rtol: 1e-5 }, 'losses');
    expectAllClose(got.dlogits, expected.dlogits, { atol: 1e-7, rtol: 3e-5 }, 'dlogits');
  });

  it('stays finite and accurate with extreme logits (±80, and ±100 where exp overflows f32)', async () => {
    const rt = await testRuntime();
    const [T, V] = [4, 300];
    const r = rng(5);
    // Rows mixing +80, −80 and ordinary values: after max subtraction the terms are exp(0) and
    // exp(−160), which underflows to 0 and must not turn into NaN.
    const logits = Float32Array.from({ length: T * V }, () => {
      const u = r();
      return u < 0.3 ? 80 : u < 0.6 ? -80 : (r() - 0.5) * 10;
    });
    logits.fill(-80, 0, V); // row 0: every logit −80, the target among them
    logits.fill(80, 2 * V, 3 * V); // row 2: every logit +80
    // Row 3: ±100, where exp(100) = 2.7e43 overflows f32 unless the max is subtracted first.
    for (let i = 3 * V; i < 4 * V; i++) logits[i] = r() < 0.5 ? 100 : -100;
    const targets = Uint32Array.from([3, 17, 299, 0]);
    targets[1] = logits.subarray(V, 2 * V).findIndex((x) => x === -80); // a −80 target beside +80s: loss 160 + log(count)
    const got = await runCrossEntropy(rt, logits, targets, T, V, 1);
    const expected = softmaxCrossEntropyReference(logits, targets, T, V, 1);
    expect(got.losses.every(Number.isFinite)).toBe(true);
    expect(got.dlogits.every(Number.isFinite)).toBe(true);
    // lse ≈ 80 + log(count of 80s): ulp(85) = 7.6e-6, so each rounding near lse costs up to 4e-6
    // absolute (8e-6 near 100) and the loss carries about 3 of them; the losses that large are
    // themselves ≥ 160, where rtol 1e-5 alone allows 1.6e-3.
    expectAllClose(got.losses, expected.losses, { atol: 3e-5, rtol: 1e-5 }, 'losses');
    // exp(x − lse) with an argument error of ~1e-5 absolute: 2e-5 relative.
    expectAllClose(got.dlogits, expected.dlogits, { atol: 1e-7, rtol: 2e-5 }, 'dlogits');
  });

  it('ignores IGNORE_INDEX positions and marks out-of-range targets with a NaN loss', async () => {
    const rt = await testRuntime();
    const [T, V] = [6, 37];
    const logits = randn(T * V, 21, 3);
    const targets = Uint32Array.from([4, IGNORE_INDEX, 36, IGNORE_INDEX, V, 0]);
    const valid = 3;
    const got = await runCrossEntropy(rt, logits, targets, T, V, 1 / valid);
    const expected = softmaxCrossEntropyReference(logits, targets, T, V, 1 / valid);
    expect([got.losses[1], got.losses[3]]).toEqual([0, 0]);
    expect(Number.isNaN(got.losses[4]!)).toBe(true);
    for (const t of [1, 3, 4]) expect(got.dlogits.subarray(t * V, (t + 1) * V).every((g) => g === 0)).toBe(true);
    const countedRows = [0, 1, 2, 3, 5];
    expectAllClose(
      countedRows.map((t) => got.losses[t]!),
      countedRows.map((t) => expected.losses[t]!),
      LOSS_TOLERANCE,
      'losses',
    );
    expectAllClose(got.dlogits, expected.dlogits, gradTolerance(1 / valid), 'dlogits');
    // The NaN row counts in the mean (a bad target must show up in the logged loss).
    expect(Number.isNaN(got.mean)).toBe(true);
  });
});

describe('softmaxCrossEntropy and meanLoss with subgroup operations', () => {
  // The subgroup path runs the last steps of the same (max, Σ) tree inside subgroups: same bits.
  it('give the same bits as the plain path (32 and 64 threads a row, T beyond one mean workgroup)', async (ctx) => {
    const rt = await testRuntime();
    if (!rt.subgroups) {
      console.warn('cross-entropy subgroup path not tested: this device has no subgroups');
      ctx.skip();
    }
    for (const [T, V] of [
      [301, 257],
      [2, 3001],
    ] as const) {
      const logits = randn(T * V, 400 + V, 3);
      const targets = randomTargets(T, V, 500 + T);
      const withSubgroups = await runCrossEntropy(rt, logits, targets, T, V, 1 / T);
      const plain = await runCrossEntropy(await plainRuntime(), logits, targets, T, V, 1 / T);
      expect(withSubgroups.losses, `losses T=${T} V=${V}`).toEqual(plain.losses);
      expect(withSubgroups.dlogits, `dlogits T=${T} V=${V}`).toEqual(plain.dlogits);
      expect(withSubgroups.mean).toBe(plain.mean);
    }
  });
});

describe('meanLoss', () => {
  it('averages over non-ignored positions only, for T beyond one workgroup', async () => {
    const rt = await testRuntime();
    const [T, V] = [301, 5];
    const logits = randn(T * V, 31, 2);
    const targets = randomTargets(T, V, 32);
    for (let t = 0; t < T; t += 7) targets[t] = IGNORE_INDEX;
    const got = await runCrossEntropy(rt, logits, targets, T, V);
    const expected = softmaxCrossEntropyReference(logits, targets, T, V);
    // 258 losses of ~2 summed in f32 (a strided pass then a tree): relative error ≤ ~1e-6.
    expectAllClose([got.mean], [meanLossReference(expected.losses, targets)], { atol: 0, rtol: 1e-5 }, 'mean loss');
  });

  it('is 0 when every position is ignored', async () => {
    const rt = await testRuntime();
    const got = await runCrossEntropy(rt, randn(6, 41), new Uint32Array(3).fill(IGNORE_INDEX), 3, 2, 1);
    expect(got.mean).toBe(0);
    expect([...got.losses]).toEqual([0, 0, 0]);
  });
});
