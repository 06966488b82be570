// globalNormSquared, readGradNorm and adamw on Dawn against the float64 references: a norm over
// several tensors of odd lengths (whole buffers and slices of a flat allocation), and several
// AdamW steps over two parameter groups, with clipping active, inactive and off, weight decay on
// and off.
import { describe, expect, it } from 'vitest';
import { adamw, globalNormSquared, readGradNorm, type GradientPart } from '../../src/kernels/adamw.ts';
import type { BufferSlice, GpuRuntime } from '../../src/gpu/runtime.ts';
import { expectAllClose } from '../helpers/allclose.ts';
import { plainRuntime, testRuntime } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { adamwReference, clipFactorReference, globalNormSquaredReference, type AdamWHyper, type AdamWState } from '../reference/adamw.ts';

/** A flat f32 allocation holding tensors of the given lengths, each starting 256-byte aligned. */
function flatLayout(rt: GpuRuntime, lengths: readonly number[], label: string) {
  const offsets: number[] = [];
  let bytes = 0;
  for (const n of lengths) {
    offsets.push(bytes);
    bytes += Math.ceil((n * 4) / 256) * 256;
  }
  const buffer = rt.acquire(bytes, label);
  const slices: BufferSlice[] = lengths.map((n, i) => ({ buffer, offset: offsets[i]!, size: n * 4 }));
  return { buffer, slices, totalFloats: bytes / 4 };
}

describe('globalNormSquared', () => {
  it('sums g² over several tensors of odd lengths, ignoring what lies outside each slice', async () => {
    const rt = await testRuntime();
    // 1 element, one chunk of 4096 plus one, several chunks with a ragged end, one slice.
    const lengths = [1, 4097, 10007, 333];
    const values = lengths.map((n, i) => randn(n, 50 + i));
    const parts: GradientPart[] = values.slice(0, 3).map((v) => ({ grad: rt.upload(v), n: v.length }));
    // The last part is a slice in the middle of a buffer whose other floats are huge: any read
    // outside the slice would dominate the sum.
    const flat = new Float32Array(256 + 333 + 100).fill(1e6);
    flat.set(values[3]!, 256);
    parts.push({ grad: { buffer: rt.upload(flat), offset: 1024, size: 333 * 4 }, n: 333 });
    const out = rt.acquire(4);
    globalNormSquared(rt, { out, parts });
    const first = (await rt.readF32(out, 0, 1))[0]!;
    const expected = globalNormSquaredReference(values);
    // ~14.4k squares of N(0,1) summed in f32: 64 sequential adds per thread, then two trees; the
    // relative error of a sum of positive terms is ≤ (depth)·2^-24 ≈ 80·6e-8 = 4.8e-6.
    expectAllClose([first], [expected], { atol: 0, rtol: 1e-5 }, 'Σ g²');
    expectAllClose([await readGradNorm(rt, out)], [Math.sqrt(expected)], { atol: 0, rtol: 1e-5 }, '‖g‖');
    // Deterministic: the same inputs give the same bits.
    globalNormSquared(rt, { out, parts });
    expect((await rt.readF32(out, 0, 1))[0]).toBe(first);
  });

  it('gives the same bits with and without subgroup operations', async (ctx) => {
    const rt = await testRuntime();
    if (!rt.subgroups) {
      console.warn('globalNormSquared subgroup path not tested: this device has no subgroups');
      ctx.skip();
    }
    const values = [randn(4097, 60), randn(333, 61)];
    const norm = async (runtime: GpuRuntime) => {
      const out = runtime.acquire(4);
      globalNormSquared(runtime, { out, parts: values.map((v) => ({ grad: runtime.upload(v), n: v.length })) });
      return (await runtime.readF32(out, 0, 1))[0];
    };
    expect(await norm(rt)).toBe(await norm(await plainRuntime()));
  });

  it('rejects a part whose buffer is shorter than its n', async () => {
    const rt = await testRuntime();
    const out = rt.acquire(4);
    const grad = { buffer: rt.acquire(1024), offset: 0, size: 40 };
    expect(() => globalNormSquared(rt, { out, parts: [{ grad, n: 11 }] })).toThrow(/parts\[0\]\.grad holds 10 floats, needs 11/);
  });
});

describe('adamw', () => {
  // Two groups as the model has them: weights (decay 0.1) and norm weights (decay 0), laid out in
  // one flat allocation per tensor kind, odd sizes, not multiples of the 256-thread workgroup.
  const groupLengths = [1000, 37];
  const weightDecays = [0.1, 0];
  const steps = 5;

  async function trainSteps(maxNorm: number) {
    const rt = await testRuntime();
    const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, maxNorm };
    const params = flatLayout(rt, groupLengths, 'params');
    const grads = flatLayout(rt, groupLengths, 'grads');
    const m = flatLayout(rt, groupLengths, 'm');
    const v = flatLayout(rt, groupLengths, 'v');
    const normSquared = rt.acquire(4, 'norm');
    const zeros = new Float32Array(params.totalFloats);
    rt.write(m.buffer, zeros);
    rt.write(v.buffer, zeros);
    const reference: AdamWState[] = groupLengths.map((n, g) => {
      const init = randn(n, 70 + g);
      rt.write(params.buffer, init, params.slices[g]!.offset);
      return { params: Float64Array.from(init), m: new Float64Array(n), v: new Float64Array(n) };
    });
    const clipFactors: number[] = [];
    const largestClippedGrad = groupLengths.map(() => 0);
    for (let step = 1; step <= steps; step++) {
      // Gradients of a realistic spread: the norm weights' much smaller than the weights'.
      const stepGrads = groupLengths.map((n, g) => randn(n, 1000 * step + g, g === 0 ? 1 : 0.01));
      stepGrads.forEach((grad, g) => rt.write(grads.buffer, grad, grads.slices[g]!.offset));
      const parts = grads.slices.map((grad, g) => ({ grad, n: groupLengths[g]! }));
      globalNormSquared(rt, { out: normSquared, parts });
      groupLengths.forEach((n, g) => {
        adamw(rt, {
          params: params.slices[g]!,
          grads: grads.slices[g]!,
          m: m.slices[g]!,
          v: v.slices[g]!,
          n,
          normSquared: Number.isFinite(maxNorm) ? normSquared : undefined,
          ...hyper,
          weightDecay: weightDecays[g]!,
          step,
          maxNorm,
        });
      });
      const totalSquared = globalNormSquaredReference(stepGrads);
      const clip = clipFactorReference(totalSquared, maxNorm);
      clipFactors.push(clip);
      stepGrads.forEach((grad, g) => {
        for (const x of grad) largestClippedGrad[g] = Math.max(largestClippedGrad[g]!, Math.abs(x * clip));
      });
      reference.forEach((state, g) => {
        const groupHyper: AdamWHyper = { ...hyper, weightDecay: weightDecays[g]! };
        adamwReference(state, stepGrads[g]!, groupHyper, step, totalSquared);
      });
    }
    const read = async (layout: ReturnType<typeof flatLayout>, g: number) =>
      rt.readF32(layout.buffer, layout.slices[g]!.offset / 4, groupLengths[g]);
    for (let g = 0; g < groupLengths.length; g++) {
      const state = reference[g]!;
      // Moments carry the clip factor's relative error (~1e-6: f32 norm and sqrt) plus three
      // roundings a step (two products and a sum, ≤ 2^-24 each of a value ≤ G = max|clip·g|).
      // v is a sum of positive terms, so that is ≤ ~2e-6 relative after five steps: rtol 1e-5.
      // m can cancel to near zero, so its error is bounded absolutely: 5 steps × 3 × 2^-24 · G
      // ≈ 9e-7·G, hence atol 1e-6·G (on top of the same rtol).
      const G = largestClippedGrad[g]!;
      expectAllClose(await read(m, g), state.m, { atol: 1e-6 * G, rtol: 1e-5 }, `m[group ${g}]`);
      expectAllClose(await read(v, g), state.v, { atol: 1e-14, rtol: 1e-5 }, `v[group ${g}]`);
      // Parameters ~N(0,1) move by ≤ ~lr a step. Each step rounds the decayed parameter and the
      // updated one to f32: ≤ 2 half-ulps, 2^-24·|p| each, 5 steps ≈ 6e-7·|p| (rtol 1e-6). The
      // update lr·m̂/(√v̂+ε), ≤ ~3·lr, inherits the moments' ~3e-6 relative error: ≤ 1e-7 a step,
      // 5e-7 over five (atol).
      expectAllClose(await read(params, g), state.params, { atol: 5e-7, rtol: 1e-6 }, `params[group ${g}]`);
    }
    return clipFactors;
  }

  it('matches PyTorch AdamW over several steps with clipping active, decay on and off', async () => {
    const clipFactors = await trainSteps(1.0);
    // ‖g‖ ≈ √1000 ≈ 32 each step: the clip factor ~0.03 is really in play.
    expect(Math.max(...clipFactors)).toBeLessThan(0.05);
  });

  it('matches PyTorch AdamW with a max norm the gradients never reach (clip factor 1)', async () => {
    const clipFactors = await trainSteps(1e4);
    expect(clipFactors.every((c) => c === 1)).toBe(true);
  });

  it('matches PyTorch AdamW with clipping off (maxNorm Infinity, no norm needed)', async () => {
    await trainSteps(Infinity);
  });

  it('refuses to clip without a norm and rejects bad hyperparameters', async () => {
    const rt = await testRuntime();
    const buf = rt.acquire(64);
    const args = { params: buf, grads: buf, m: buf, v: buf, n: 16, lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, step: 1 };
    expect(() => adamw(rt, { ...args, maxNorm: 1 })).toThrow(/needs normSquared/);
    expect(() => adamw(rt, { ...args, step: 0 })).toThrow(/step must be a positive/);
    expect(() => adamw(rt, { ...args, beta2: 1 })).toThrow(/beta2 must lie in \[0, 1\)/);
    expect(() => adamw(rt, { ...args, n: 17 })).toThrow(/params holds 16 floats, needs 17/);
  });
});
