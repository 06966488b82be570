// RoPE on the GPU against the float64 reference (HF rotate_half with HF's f32 angles):
// forward, backward as the transpose, the round trip, long sequences, and grid folding.
import { describe, expect, it } from 'vitest';
import { ropeBackward, ropeCosSinTable, ropeForward, ROPE_PROGRAMS } from '../../src/kernels/rope.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { expectAllClose } from '../helpers/allclose.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { smallGridRuntime } from '../helpers/small-grid.ts';
import { hfRopeAngle, ropeRef } from '../reference/rope.ts';

interface Shape {
  B: number;
  S: number;
  nHeads: number;
  headDim: number;
  theta: number;
}

/**
 * Each output is x_lo·cos ∓ x_hi·sin with cos and sin rounded to f32 (2^-24 relative each),
 * two f32 products and one f32 sum: error ≤ 4·2^-24·(|x_lo| + |x_hi|) ≤ 8·2^-24·max|x|.
 */
function rotationTolerance(x: Float32Array) {
  const maxAbs = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return { atol: 8 * 2 ** -24 * maxAbs, rtol: 0 };
}

async function rotate(rt: GpuRuntime, x: Float32Array, shape: Shape, direction: 'forward' | 'backward'): Promise<Float32Array> {
  const buffer = rt.upload(x);
  if (direction === 'forward') ropeForward(rt, { x: buffer, ...shape });
  else ropeBackward(rt, { dx: buffer, ...shape });
  return rt.readF32(buffer, 0, x.length);
}

const SHAPES: Shape[] = [
  { B: 1, S: 1, nHeads: 1, headDim: 2, theta: 10000 }, // position 0 only: the identity
  { B: 1, S: 5, nHeads: 2, headDim: 64, theta: 10000 },
  { B: 2, S: 65, nHeads: 3, headDim: 6, theta: 10000 }, // odd half (3) and an odd sequence length
  { B: 3, S: 130, nHeads: 2, headDim: 16, theta: 500000 },
  { B: 1, S: 2048, nHeads: 1, headDim: 8, theta: 10000 }, // positions where f32 angles matter
];

describe('rope', () => {
  it('compiles', async () => {
    const rt = await testRuntime();
    await rt.compileAll(ROPE_PROGRAMS);
  });

  for (const shape of SHAPES) {
    const { B, S, nHeads, headDim, theta } = shape;
    it(`forward and backward match float64 (B = ${B}, S = ${S}, nHeads = ${nHeads}, headDim = ${headDim}, theta = ${theta})`, async () => {
      const rt = await testRuntime();
      const x = randn(B * S * nHeads * headDim, S + headDim);
      const tolerance = rotationTolerance(x);
      expectAllClose(await rotate(rt, x, shape, 'forward'), ropeRef(x, B, S, nHeads, headDim, theta, 'forward'), tolerance, 'forward');
      expectAllClose(await rotate(rt, x, shape, 'backward'), ropeRef(x, B, S, nHeads, headDim, theta, 'backward'), tolerance, 'backward');
    });
  }

  it('backward is the transpose of forward: <forward(x), y> = <x, backward(y)>', async () => {
    const rt = await testRuntime();
    const shape = { B: 2, S: 33, nHeads: 2, headDim: 10, theta: 10000 };
    const n = shape.B * shape.S * shape.nHeads * shape.headDim;
    const x = randn(n, 1);
    const y = randn(n, 2);
    const fx = await rotate(rt, x, shape, 'forward');
    const by = await rotate(rt, y, shape, 'backward');
    let left = 0;
    let right = 0;
    for (let i = 0; i < n; i++) {
      left += fx[i]! * y[i]!;
      right += x[i]! * by[i]!;
    }
    // Each side is a float64 dot of n terms whose factors carry ~4·2^-24 relative error: the
    // two differ by ≲ 8·2^-24·Σ|x||y| ≈ 8·2^-24·n·(2/π), far below 1e-3 for n = 1320.
    expect(Math.abs(left - right)).toBeLessThan(1e-3);
  });

  it('forward then backward returns the input', async () => {
    const rt = await testRuntime();
    const shape = { B: 2, S: 130, nHeads: 3, headDim: 8, theta: 10000 };
    const x = randn(shape.B * shape.S * shape.nHeads * shape.headDim, 3);
    const buffer = rt.upload(x);
    ropeForward(rt, { x: buffer, ...shape });
    ropeBackward(rt, { dx: buffer, ...shape });
    // Two rotations, each within 8·2^-24·max|x| (see rotationTolerance), and cos² + sin² = 1
    // to 2^-23 in f32.
    const { atol } = rotationTolerance(x);
    expectAllClose(await rt.readF32(buffer, 0, x.length), x, { atol: 2 * atol + 2 ** -23 * 5, rtol: 0 }, 'round trip');
  });

  it('uses Hugging Face f32 angles, which differ from exact angles at large positions', () => {
    const [S, headDim, theta] = [4096, 64, 10000];
    const table = ropeCosSinTable(S, headDim, theta);
    const half = headDim / 2;
    let maxFromHf = 0;
    let maxFromExact = 0;
    for (const p of [0, 1, 1000, 4095]) {
      for (let i = 0; i < half; i++) {
        const cos = table[(p * half + i) * 2]!;
        const sin = table[(p * half + i) * 2 + 1]!;
        const hfAngle = hfRopeAngle(p, i, headDim, theta);
        maxFromHf = Math.max(maxFromHf, Math.abs(cos - Math.cos(hfAngle)), Math.abs(sin - Math.sin(hfAngle)));
        const exactAngle = p * theta ** ((-2 * i) / headDim);
        maxFromExact = Math.max(maxFromExact, Math.abs(cos - Math.cos(exactAngle)));
      }
    }
    // The table is HF's f32 angle's cos/sin rounded once to f32: within half an f32 ulp of 1.
    expect(maxFromHf).toBeLessThanOrEqual(2 ** -25);
    // Rounding p·inv_freq to f32 near p = 4095 moves it by up to 2^-12 rad: visible in cos.
    expect(maxFromExact).toBeGreaterThan(1e-5);
  });

  it('folds a grid past the per-dimension workgroup limit into 2-D', async () => {
    // 2·130·2·8 = 4160 pairs in 17 workgroups of 256; a reported limit of 5 gives a 5×4 grid.
    const rt = await smallGridRuntime(5);
    const shape = { B: 2, S: 130, nHeads: 2, headDim: 16, theta: 10000 };
    const x = randn(shape.B * shape.S * shape.nHeads * shape.headDim, 4);
    const tolerance = rotationTolerance(x);
    expectAllClose(
      await rotate(rt, x, shape, 'forward'),
      ropeRef(x, shape.B, shape.S, shape.nHeads, shape.headDim, shape.theta, 'forward'),
      tolerance,
    );
    expectAllClose(
      await rotate(rt, x, shape, 'backward'),
      ropeRef(x, shape.B, shape.S, shape.nHeads, shape.headDim, shape.theta, 'backward'),
      tolerance,
    );
  });

  it('rejects bad shapes with a message saying what to fix', async () => {
    const rt = await testRuntime();
    const x = rt.acquire(64 * 4);
    expect(() => ropeForward(rt, { x, B: 1, S: 4, nHeads: 2, headDim: 7, theta: 10000 })).toThrow(/headDim must be even/);
    expect(() => ropeForward(rt, { x, B: 1, S: 4, nHeads: 2, headDim: 16, theta: 10000 })).toThrow(
      /holds 256 bytes but \[B·S=4, nHeads·headDim=32\] f32 needs 512/,
    );
    expect(() => ropeBackward(rt, { dx: x, B: 1, S: 4, nHeads: 2, headDim: 8, theta: 0 })).toThrow(/theta must be a positive number/);
  });
});
