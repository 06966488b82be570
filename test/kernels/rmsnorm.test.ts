// RMSNorm on the GPU against the float64 reference: forward (out and the saved rstd) and the
// accumulating backward (dx and dWeight), on round and odd shapes, including C above the
// workgroup size (several channels per thread) and T over several dWeight chunks.
import { describe, expect, it } from 'vitest';
import { rmsnormBackward, rmsnormForward, rmsnormPrograms, rmsnormThreads } from '../../src/kernels/rmsnorm.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { expectAllClose } from '../helpers/allclose.ts';
import { plainRuntime, testRuntime } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { smallGridRuntime } from '../helpers/small-grid.ts';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../reference/rmsnorm.ts';

const EPS = 1e-5;

/** x ~ N(0, 1), weight around 1 (as trained norms are), dOut ~ N(0, 1), non-zero initial gradients. */
function inputs(T: number, C: number, seed: number) {
  return {
    x: randn(T * C, seed),
    weight: randn(C, seed + 1, 0.2).map((w) => 1 + w),
    dOut: randn(T * C, seed + 2),
    dxInitial: randn(T * C, seed + 3),
    dWeightInitial: randn(C, seed + 4),
  };
}

async function run(T: number, C: number, seed: number, runtime?: GpuRuntime) {
  const rt = runtime ?? (await testRuntime());
  const data = inputs(T, C, seed);
  const x = rt.upload(data.x);
  const weight = rt.upload(data.weight);
  const out = rt.acquire(T * C * 4);
  const rstd = rt.acquire(T * 4);
  const dx = rt.upload(data.dxInitial);
  const dWeight = rt.upload(data.dWeightInitial);
  rmsnormForward(rt, { out, rstd, x, weight, T, C, eps: EPS });
  rmsnormBackward(rt, { dx, dWeight, dOut: rt.upload(data.dOut), x, weight, rstd, T, C });
  return {
    data,
    out: await rt.readF32(out, 0, T * C),
    rstd: await rt.readF32(rstd, 0, T),
    dx: await rt.readF32(dx, 0, T * C),
    dWeight: await rt.readF32(dWeight, 0, C),
  };
}

/**
 * dWeight[c] sums T + 1 terms in some order (chunks, then partials): recursive summation of n
 * terms errs by at most n·2^-24·Σ|terms|, plus 3 roundings in each product: checked per channel.
 */
function expectDWeightClose(
  got: Float32Array,
  expected: Float64Array,
  data: ReturnType<typeof inputs>,
  rstd: Float64Array,
  T: number,
  C: number,
): void {
  for (let c = 0; c < C; c++) {
    let absSum = Math.abs(data.dWeightInitial[c]!);
    for (let t = 0; t < T; t++) absSum += Math.abs(data.dOut[t * C + c]! * data.x[t * C + c]! * rstd[t]!);
    const bound = (T + 4) * 2 ** -24 * absSum;
    if (!(Math.abs(got[c]! - expected[c]!) <= bound)) expect.fail(`dWeight[${c}]: got ${got[c]}, expected ${expected[c]} within ${bound}`);
  }
}

describe('rmsnorm', () => {
  it('gives a row about 16 channels a thread, 8 to 64 threads', () => {
    expect([1, 37, 64, 300, 384, 768, 4096].map(rmsnormThreads)).toEqual([8, 8, 8, 32, 32, 64, 64]);
  });

  it('compiles', async () => {
    const rt = await testRuntime();
    await rt.compileAll([...rmsnormPrograms(rt, 64), ...(rt.subgroups ? rmsnormPrograms(rt, 64, false) : [])]);
  });

  for (const [T, C] of [
    [1, 64],
    [5, 37],
    [130, 64],
    [130, 37],
    [33, 300],
  ] as const) {
    it(`forward and accumulating backward match float64 (T = ${T}, C = ${C})`, async () => {
      const got = await run(T, C, T * 1000 + C);
      const { data } = got;
      const forward = rmsnormForwardRef(data.x, data.weight, T, C, EPS);
      // The row's sum of squares has ≤ C/W + log2(W) roundings (strided partials over W =
      // rmsnormThreads(C) lanes, then a tree), all on positive terms, so its relative error is
      // ≤ 15·2^-24 for C ≤ 320 (W = 8 at C ≤ 128, 32 at C = 300); sqrt,
      // the division and two multiplies add ≤ 4 ulp: rtol 2e-6 (≈ 34 ulp) holds with margin.
      expectAllClose(got.rstd, forward.rstd, { atol: 0, rtol: 2e-6 }, 'rstd');
      expectAllClose(got.out, forward.out, { atol: 0, rtol: 2e-6 }, 'out');

      const backward = rmsnormBackwardRef(data.dxInitial, data.dWeightInitial, data.dOut, data.x, data.weight, T, C, EPS);
      // dx = dx0 + r·dOut·w − r³·x·mean(dOut·w·x): three O(1) terms (r ≈ 1 for unit-variance
      // rows) that may cancel, so the error is absolute, a few ulp of the largest term (≤ ~5·4):
      // atol 2e-6 ≈ 30 ulp of 1, rtol covers the rare larger terms.
      expectAllClose(got.dx, backward.dx, { atol: 2e-6, rtol: 2e-6 }, 'dx');
      expectDWeightClose(got.dWeight, backward.dWeight, data, forward.rstd, T, C);
    });
  }

  // The subgroup path does the last steps of the same reduction tree inside subgroups: same bits.
  it('gives the same bits with and without subgroup operations', async (ctx) => {
    const rt = await testRuntime();
    if (!rt.subgroups) {
      console.warn('rmsnorm subgroup path not tested: this device has no subgroups');
      ctx.skip();
    }
    for (const [T, C] of [
      [130, 64],
      [33, 300],
    ] as const) {
      const withSubgroups = await run(T, C, 77, rt);
      const plain = await run(T, C, 77, await plainRuntime());
      for (const key of ['out', 'rstd', 'dx', 'dWeight'] as const) expect(withSubgroups[key], `${key} T=${T} C=${C}`).toEqual(plain[key]);
    }
  });

  it('is exact to the Hugging Face formula for a constant row: rstd = 1/sqrt(v² + eps)', async () => {
    const rt = await testRuntime();
    const C = 37;
    const x = rt.upload(new Float32Array(C).fill(2));
    const weight = rt.upload(new Float32Array(C).fill(0.5));
    const out = rt.acquire(C * 4);
    const rstd = rt.acquire(4);
    rmsnormForward(rt, { out, rstd, x, weight, T: 1, C, eps: 1e-6 });
    const r = 1 / Math.sqrt(4 + 1e-6);
    expectAllClose(await rt.readF32(rstd, 0, 1), [r], { atol: 0, rtol: 4 * 2 ** -24 }, 'rstd');
    expectAllClose(await rt.readF32(out, 0, C), new Float64Array(C).fill(2 * r * 0.5), { atol: 0, rtol: 6 * 2 ** -24 }, 'out');
  });

  it("folds rows past the per-dimension workgroup limit into a 2-D grid and widens the backward's chunks", async () => {
    // With a reported limit of 40: 1301 rows fold into a 40×33 grid, and the backward's chunks grow
    // from 16 to 33 rows so that 40 chunks cover them (T/16 would need 82).
    const rt = await smallGridRuntime(40);
    const [T, C] = [1301, 37];
    const got = await run(T, C, 9, rt);
    const { data } = got;
    const forward = rmsnormForwardRef(data.x, data.weight, T, C, EPS);
    const backward = rmsnormBackwardRef(data.dxInitial, data.dWeightInitial, data.dOut, data.x, data.weight, T, C, EPS);
    // Tolerances as in the tests above, for the same reasons.
    expectAllClose(got.rstd, forward.rstd, { atol: 0, rtol: 2e-6 }, 'rstd');
    expectAllClose(got.out, forward.out, { atol: 0, rtol: 2e-6 }, 'out');
    expectAllClose(got.dx, backward.dx, { atol: 2e-6, rtol: 2e-6 }, 'dx');
    expectDWeightClose(got.dWeight, backward.dWeight, data, forward.rstd, T, C);
  });

  it('rejects wrong shapes with a message naming the buffer', async () => {
    const rt = await testRuntime();
    const [T, C] = [4, 8];
    const big = rt.acquire(T * C * 4);
    expect(() => rmsnormForward(rt, { out: big, rstd: big, x: big, weight: rt.acquire(16), T, C, eps: EPS })).toThrow(
      /weight holds 16 bytes but C=8 f32 needs 32/,
    );
    expect(() => rmsnormForward(rt, { out: big, rstd: big, x: big, weight: big, T, C, eps: 0 })).toThrow(/eps must be positive/);
    expect(() => rmsnormBackward(rt, { dx: rt.acquire(16), dWeight: big, dOut: big, x: big, weight: big, rstd: big, T, C })).toThrow(
      /dx holds 16 bytes but \[T=4, C=8\] f32 needs 128/,
    );
  });
});
