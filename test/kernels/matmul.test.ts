// The matmul kernel family (shaders/matmul.wgsl) on Dawn against the float64 reference: every
// transpose variant, both tile sizes, the fast and the bounds-checked path, accumulate, slices of
// a flat buffer, grids split across dispatches, split-K, and the launcher's shape checks.
import { describe, expect, it } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import {
  MATMUL_SPLITK_REDUCE,
  MATMUL_TILES,
  chooseSplitK,
  matmul,
  matmulFlops,
  matmulProgram,
  matmulPrograms,
  planMatmul,
  runMatmulPlan,
  type MatmulPlan,
  type MatmulTile,
} from '../../src/kernels/matmul.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { randn, rng } from '../helpers/random.ts';
import { matmulReference } from '../reference/matmul.ts';

const UNIT_ROUNDOFF = 2 ** -24;

/**
 * Worst-case f32 error of a length-n dot product, in any summation order, with or without fused
 * multiply-add: |computed − exact| ≤ γ_n·Σ|a_k b_k|, γ_n = n·u/(1 − n·u) (Higham, Accuracy and
 * Stability of Numerical Algorithms, §3.1). n = K + 1 covers the add into `out` when
 * accumulating; zero padding of partial tiles adds exact zeros. The reference is float64 on the
 * same f32 inputs, whose own error (≈K·2^-53) is far below this bound.
 */
function expectWithinRoundoff(got: Float32Array, expected: { out: Float64Array; magnitude: Float64Array }, K: number, what: string): void {
  const n = K + 1;
  const gamma = (n * UNIT_ROUNDOFF) / (1 - n * UNIT_ROUNDOFF);
  expect(got.length).toBe(expected.out.length);
  let worst = 0;
  let worstIndex = -1;
  for (let i = 0; i < got.length; i++) {
    const bound = gamma * expected.magnitude[i]!;
    const err = Math.abs(got[i]! - expected.out[i]!);
    const ratio = bound === 0 ? (err === 0 ? 0 : Infinity) : err / bound;
    if (!(ratio <= worst)) {
      worst = ratio;
      worstIndex = i;
    }
  }
  expect(
    worst,
    `${what}: element ${worstIndex} got ${got[worstIndex]}, expected ${expected.out[worstIndex]} (error / bound = ${worst})`,
  ).toBeLessThanOrEqual(1);
}

interface Case {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  accumulate?: boolean;
}

function label(c: Case): string {
  const layout = `${c.transA ? 'T' : 'N'}${c.transB ? 'T' : 'N'}`;
  return `${layout} ${c.M}x${c.N}x${c.K}${c.accumulate ? ' accumulate' : ''}`;
}

/** Runs one product on the GPU (with `plan`, or the launcher's own) and returns it with its reference. */
async function runCase(rt: GpuRuntime, c: Case, seed: number, plan?: (c: Case) => MatmulPlan) {
  const a = randn(c.M * c.K, seed);
  const b = randn(c.K * c.N, seed + 1);
  const previous = randn(c.M * c.N, seed + 2);
  const ga = rt.upload(a);
  const gb = rt.upload(b);
  const gout = rt.upload(previous);
  const args = { out: gout, a: ga, b: gb, ...c };
  if (plan) runMatmulPlan(rt, plan(c), args);
  else matmul(rt, args);
  const got = await rt.readF32(gout, 0, c.M * c.N);
  for (const buffer of [ga, gb, gout]) rt.release(buffer);
  const expected = matmulReference({ a, b, ...c, accumulateInto: c.accumulate ? previous : undefined });
  return { got, expected };
}

const LAYOUTS = [
  { transA: false, transB: false },
  { transA: false, transB: true },
  { transA: true, transB: false },
  { transA: true, transB: true },
];

// Odd shapes: 1 element, smaller than a tile, one past a tile, two tiles plus a ragged edge in
// every dimension (K not a multiple of the K-step of either tile).
const ODD_SHAPES = [
  { M: 1, N: 1, K: 1 },
  { M: 7, N: 13, K: 5 },
  { M: 65, N: 33, K: 70 },
  { M: 130, N: 66, K: 129 },
];

describe('matmul on Dawn', () => {
  it("lists every variant for compileAll, one pipeline each, including each plan's own", () => {
    // Compiling all 16 on SwiftShader takes minutes, so the list is checked, not compiled; the
    // tests below compile and run the variants themselves.
    const programs = matmulPrograms();
    const keys = new Set(programs.map((p) => JSON.stringify([p.name, p.entryPoint, p.constants])));
    expect(keys.size).toBe(17);
    expect(programs).toContain(MATMUL_SPLITK_REDUCE);
    for (const tile of ['small', 'large'] as MatmulTile[]) {
      const plan = planMatmul({ M: 70, N: 70, K: 70, transB: true }, 65535, tile);
      expect(keys.has(JSON.stringify(['matmul', 'matmul', matmulProgram(plan.variant).constants]))).toBe(true);
    }
  });

  // SwiftShader compiles each variant in seconds, so the layouts are covered on the small tile;
  // the large tile is the same code with a different S, checked on the NT and NN paths.
  it('matches the reference on odd shapes, every layout (small tile, bounds-checked path)', async () => {
    const rt = await testRuntime();
    let seed = 10;
    for (const layout of LAYOUTS) {
      for (const shape of ODD_SHAPES) {
        const c = { ...shape, ...layout };
        const { got, expected } = await runCase(rt, c, (seed += 3), (x) =>
          planMatmul(x, rt.limits.maxComputeWorkgroupsPerDimension, 'small'),
        );
        expectWithinRoundoff(got, expected, c.K, `small ${label(c)}`);
      }
    }
  });

  it('matches the reference on odd shapes with the large tile (NT, bounds-checked path)', async () => {
    const rt = await testRuntime();
    let seed = 50;
    for (const shape of [...ODD_SHAPES, { M: 129, N: 257, K: 17 }]) {
      const c = { ...shape, transB: true };
      const { got, expected } = await runCase(rt, c, (seed += 3), (x) =>
        planMatmul(x, rt.limits.maxComputeWorkgroupsPerDimension, 'large'),
      );
      expectWithinRoundoff(got, expected, c.K, `large ${label(c)}`);
    }
  });

  it('takes the bounds-check-free path on round shapes and matches (NN, NT, TN small; NN large)', async () => {
    const rt = await testRuntime();
    const max = rt.limits.maxComputeWorkgroupsPerDimension;
    const cases: [Case, MatmulTile][] = [
      [{ M: 128, N: 64, K: 32 }, 'small'],
      [{ M: 128, N: 64, K: 32, transB: true }, 'small'],
      [{ M: 64, N: 192, K: 16, transA: true }, 'small'],
      [{ M: 128, N: 256, K: 32 }, 'large'],
    ];
    let seed = 100;
    for (const [c, tile] of cases) {
      const plan = planMatmul(c, max, tile);
      expect(plan.variant.checked, label(c)).toBe(false);
      const { got, expected } = await runCase(rt, c, (seed += 3), () => plan);
      expectWithinRoundoff(got, expected, c.K, `${tile} fast ${label(c)}`);
    }
  });

  it('accumulates into out for the three products the model uses (NT forward, NN and TN backward)', async () => {
    const rt = await testRuntime();
    const cases: Case[] = [
      { M: 65, N: 33, K: 70, transB: true, accumulate: true },
      { M: 65, N: 33, K: 70, accumulate: true },
      { M: 65, N: 33, K: 70, transA: true, accumulate: true },
      { M: 64, N: 192, K: 16, transA: true, accumulate: true }, // fast path
    ];
    let seed = 200;
    for (const c of cases) {
      const { got, expected } = await runCase(rt, c, (seed += 3));
      expectWithinRoundoff(got, expected, c.K, label(c));
    }
  });

  it('is exact on small integers, where every partial sum is representable', async () => {
    // |a|, |b| <= 4 and K = 129: every partial sum is an integer below 2^24, so any order of
    // f32 additions is exact and the result must equal the reference bit for bit.
    const rt = await testRuntime();
    const [M, N, K] = [67, 45, 129];
    const r = rng(7);
    const a = Float32Array.from({ length: M * K }, () => Math.floor(r() * 9) - 4);
    const b = Float32Array.from({ length: N * K }, () => Math.floor(r() * 9) - 4);
    const out = rt.acquire(M * N * 4);
    matmul(rt, { out, a: rt.upload(a), b: rt.upload(b), M, N, K, transB: true });
    const got = await rt.readF32(out, 0, M * N);
    expect([...got]).toEqual([...matmulReference({ a, b, M, N, K, transB: true }).out]);
  });

  it('reads 256-byte aligned slices of one buffer and writes a slice of another, nothing outside it', async () => {
    const rt = await testRuntime();
    const [M, N, K] = [33, 70, 19];
    const align = (n: number) => Math.ceil(n / 256) * 256;
    const a = randn(M * K, 301);
    const b = randn(N * K, 302);
    const previous = randn(M * N, 303);
    // Both inputs in one flat buffer (a parameter block), after a leading slice of other data.
    const aOffset = 256;
    const bOffset = aOffset + align(M * K * 4);
    const inputs = new Float32Array((bOffset + align(N * K * 4)) / 4);
    inputs.set(a, aOffset / 4);
    inputs.set(b, bOffset / 4);
    // out between two sentinel regions of another buffer (WebGPU forbids writing a buffer that is
    // also bound read-only in the same dispatch, whatever the ranges).
    const outOffset = 512;
    const sentinel = -12345;
    const outside = new Float32Array((outOffset + align(M * N * 4) + 256) / 4).fill(sentinel);
    outside.set(previous, outOffset / 4);
    const inputBuffer = rt.upload(inputs);
    const outBuffer = rt.upload(outside);
    matmul(rt, {
      out: { buffer: outBuffer, offset: outOffset, size: M * N * 4 },
      a: { buffer: inputBuffer, offset: aOffset, size: M * K * 4 },
      b: { buffer: inputBuffer, offset: bOffset, size: N * K * 4 },
      M,
      N,
      K,
      transB: true,
      accumulate: true,
    });
    const all = await rt.readF32(outBuffer, 0, outside.length);
    const got = all.slice(outOffset / 4, outOffset / 4 + M * N);
    expectWithinRoundoff(got, matmulReference({ a, b, M, N, K, transB: true, accumulateInto: previous }), K, 'slice NT accumulate');
    const expectedAll = outside.slice();
    expectedAll.set(got, outOffset / 4);
    expect(all).toEqual(expectedAll);
  });

  it('splits a grid larger than the device allows into shifted dispatches', async () => {
    const rt = await testRuntime();
    const c: Case = { M: 130, N: 200, K: 9, transB: true };
    // With at most 2 workgroups per dimension the 3x4 grid of 64x64 tiles needs 2x2 dispatches.
    const plan = planMatmul(c, 2, 'small');
    expect(plan.dispatches).toEqual([
      { rowTileOffset: 0, colTileOffset: 0, rowTiles: 2, colTiles: 2 },
      { rowTileOffset: 0, colTileOffset: 2, rowTiles: 2, colTiles: 2 },
      { rowTileOffset: 2, colTileOffset: 0, rowTiles: 1, colTiles: 2 },
      { rowTileOffset: 2, colTileOffset: 2, rowTiles: 1, colTiles: 2 },
    ]);
    const { got, expected } = await runCase(rt, c, 400, () => plan);
    expectWithinRoundoff(got, expected, c.K, 'split grid');
  });

  // Split-K sums the same K products in another order: the γ_{K+1} bound holds for any order.
  it('split-K weight gradients match the reference, fast and bounds-checked, and repeat bit for bit', async () => {
    const rt = await testRuntime();
    const max = rt.limits.maxComputeWorkgroupsPerDimension;
    const cases: [Case, number][] = [
      [{ M: 64, N: 64, K: 256, transA: true, accumulate: true }, 4], // round: the fast path, 4 slices of 64
      [{ M: 70, N: 33, K: 203, transA: true, accumulate: true }, 3], // ragged everywhere, last slice short
      [{ M: 65, N: 64, K: 100, transA: true }, 7], // more slices asked than K steps allow: 7 of 16
    ];
    let seed = 300;
    for (const [c, splitK] of cases) {
      const plan = planMatmul(c, max, 'small', splitK);
      expect(plan.splits, label(c)).toBeGreaterThan(1);
      expect(plan.kChunk % MATMUL_TILES.small.k).toBe(0);
      expect((plan.splits - 1) * plan.kChunk).toBeLessThan(c.K);
      const s = (seed += 3);
      const first = await runCase(rt, c, s, () => plan);
      expectWithinRoundoff(first.got, first.expected, c.K, `split-K ${splitK} ${label(c)}`);
      const again = await runCase(rt, c, s, () => plan);
      expect(again.got, `split-K ${label(c)} repeats`).toEqual(first.got);
    }
  });

  it('splits K only for long products with few output tiles (the weight gradients of base)', () => {
    // 768×768 over 8192 tokens: 144 small tiles → 7 slices (1,008 workgroups) of 1,176.
    const qkvo = planMatmul({ M: 768, N: 768, K: 8192, transA: true }, 65535);
    expect([qkvo.splits, qkvo.kChunk]).toEqual([7, 1176]);
    expect(chooseSplitK(2048, 768, 8192)).toBe(2);
    expect(chooseSplitK(50257, 768, 8192)).toBe(1); // lm_head: tiles enough
    expect(chooseSplitK(64, 192, 128)).toBe(1); // tiny: K too short to be worth it
    expect(chooseSplitK(8192, 768, 768)).toBe(1); // forward products: many tiles
    expect(() => planMatmul({ M: 4, N: 4, K: 4 }, 65535, 'small', 0)).toThrow(/splitK must be an integer/);
  });

  it('picks the large tile and the fast path for the model-sized product, the small tile for small ones', () => {
    const big = planMatmul({ M: 8192, N: 3072, K: 768, transB: true }, 65535);
    expect(big.variant).toEqual({ tile: 'large', transA: false, transB: true, checked: false });
    expect(big.dispatches).toEqual([{ rowTileOffset: 0, colTileOffset: 0, rowTiles: 64, colTiles: 24 }]);
    expect(planMatmul({ M: 256, N: 192, K: 64 }, 65535).variant).toEqual({ tile: 'small', transA: false, transB: false, checked: false });
    // The weight gradient of the same layer fills too few large tiles for a big GPU.
    expect(planMatmul({ M: 3072, N: 768, K: 8192, transA: true }, 65535).variant.tile).toBe('small');
    expect(planMatmul({ M: 256, N: 192, K: 60 }, 65535).variant.checked).toBe(true);
    expect(MATMUL_TILES.large.tile).toBe(128);
    expect(matmulFlops(8192, 3072, 768)).toBe(2 * 8192 * 3072 * 768);
  });

  it('rejects bad shapes, short buffers, misaligned slices and out sharing a buffer with an input', async () => {
    const rt = await testRuntime();
    const small = rt.acquire(16 * 4);
    const big = rt.acquire(4096 * 4);
    expect(() => matmul(rt, { out: small, a: small, b: small, M: 0, N: 1, K: 1 })).toThrow(/M must be a positive integer/);
    expect(() => matmul(rt, { out: big, a: small, b: big, M: 8, N: 8, K: 8, transA: true })).toThrow(
      /a is \[8,8\] \(transA\), 64 floats \(256 bytes\), but its buffer holds only 64 bytes/,
    );
    expect(() => matmul(rt, { out: { buffer: big, offset: 128, size: 256 }, a: small, b: small, M: 4, N: 4, K: 4 })).toThrow(
      /offset 128 is not a multiple of 256/,
    );
    expect(() =>
      matmul(rt, { out: { buffer: big, offset: 0, size: 256 }, a: small, b: { buffer: big, offset: 1024, size: 256 }, M: 4, N: 4, K: 4 }),
    ).toThrow(/out and b are slices of the same GPUBuffer/);
    const plan = planMatmul({ M: 4, N: 4, K: 4 }, 65535);
    expect(() => runMatmulPlan(rt, plan, { out: big, a: small, b: small, M: 4, N: 4, K: 4, transB: true })).toThrow(/plan made for 4x4x4/);
  });
});
