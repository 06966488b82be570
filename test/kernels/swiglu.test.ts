// SwiGLU on the GPU against the float64 reference: random and extreme gates, overwrite
// semantics of the backward, and a grid folded past the per-dimension workgroup limit.
import { describe, expect, it } from 'vitest';
import { swigluBackward, swigluForward, SWIGLU_PROGRAMS } from '../../src/kernels/swiglu.ts';
import { expectAllClose } from '../helpers/allclose.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { smallGridRuntime } from '../helpers/small-grid.ts';
import { swigluBackwardRef, swigluForwardRef } from '../reference/swiglu.ts';

/** Gates ~ N(0, 3²) with the extremes where a naive g/(1+exp(−g)) overflows placed up front. */
function gates(n: number, seed: number): Float32Array {
  const g = randn(n, seed, 3);
  const extremes = [0, 30, -30, 88, -88, 100, -100, 1e4, -1e4];
  g.set(extremes.slice(0, n));
  return g;
}

// WGSL's exp is accurate to 3 + 2·|x| ulp; the gates that matter (|g| ≤ 15, beyond which
// sigmoid is 0 or 1 to f32 precision) give ≤ 33 ulp, plus a 2.5-ulp division and three
// multiplies: under 40 ulp ≈ 2.4e-6 relative. rtol 4e-6 leaves margin. atol covers results
// that underflow f32 (silu(−100) ≈ −4e-42) and, in dGate, the cancellation in 1 + g·(1 − s)
// near g ≈ −1.28, where the absolute error is about |g|·s·(error of s) ≈ 1e-7 per unit dOut·up.
const TOLERANCE = { atol: 2e-6, rtol: 4e-6 };

describe('swiglu', () => {
  it('compiles', async () => {
    const rt = await testRuntime();
    await rt.compileAll(SWIGLU_PROGRAMS);
  });

  for (const n of [1, 256, 1037]) {
    it(`forward and backward match float64 (n = ${n})`, async () => {
      const rt = await testRuntime();
      const gate = gates(n, n);
      const up = randn(n, n + 1);
      const dOut = randn(n, n + 2);
      const out = rt.acquire(n * 4);
      const dGate = rt.upload(new Float32Array(n).fill(NaN)); // overwritten, never read
      const dUp = rt.upload(new Float32Array(n).fill(NaN));
      const gateBuf = rt.upload(gate);
      const upBuf = rt.upload(up);
      swigluForward(rt, { out, gate: gateBuf, up: upBuf, n });
      swigluBackward(rt, { dGate, dUp, dOut: rt.upload(dOut), gate: gateBuf, up: upBuf, n });
      const expected = swigluBackwardRef(dOut, gate, up, n);
      expectAllClose(await rt.readF32(out, 0, n), swigluForwardRef(gate, up, n), TOLERANCE, 'out');
      expectAllClose(await rt.readF32(dGate, 0, n), expected.dGate, TOLERANCE, 'dGate');
      expectAllClose(await rt.readF32(dUp, 0, n), expected.dUp, TOLERANCE, 'dUp');
    });
  }

  it('folds a grid past the per-dimension workgroup limit into 2-D', async () => {
    // With a reported limit of 3, n = 1037 needs 5 workgroups of 256: a 3×2 grid.
    const rt = await smallGridRuntime(3);
    const n = 1037;
    const gate = gates(n, 7);
    const up = randn(n, 8);
    const dOut = randn(n, 9);
    const out = rt.acquire(n * 4);
    const dGate = rt.acquire(n * 4);
    const dUp = rt.acquire(n * 4);
    const gateBuf = rt.upload(gate);
    const upBuf = rt.upload(up);
    swigluForward(rt, { out, gate: gateBuf, up: upBuf, n });
    swigluBackward(rt, { dGate, dUp, dOut: rt.upload(dOut), gate: gateBuf, up: upBuf, n });
    const expected = swigluBackwardRef(dOut, gate, up, n);
    expectAllClose(await rt.readF32(out, 0, n), swigluForwardRef(gate, up, n), TOLERANCE, 'out');
    expectAllClose(await rt.readF32(dGate, 0, n), expected.dGate, TOLERANCE, 'dGate');
    expectAllClose(await rt.readF32(dUp, 0, n), expected.dUp, TOLERANCE, 'dUp');
  });

  it('rejects buffers smaller than n', async () => {
    const rt = await testRuntime();
    const small = rt.acquire(16 * 4);
    const big = rt.acquire(64 * 4);
    expect(() => swigluForward(rt, { out: big, gate: small, up: big, n: 64 })).toThrow(/gate holds 16 floats but n = 64/);
    expect(() => swigluForward(rt, { out: big, gate: big, up: big, n: 0 })).toThrow(/n must be a positive integer/);
  });
});
