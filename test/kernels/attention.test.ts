// attentionForward / attentionBackward on Dawn against the float64 reference: grouped KV heads,
// the causal mask, sequence lengths that are not multiples of a tile, several tile shapes, the
// tile choice under the 16 KiB workgroup-memory floor, and the reference's own gradients checked
// by finite differences.
import { describe, expect, it } from 'vitest';
import { attentionBackward, attentionForward, chooseTiles, workgroupBytes, type AttentionTiles } from '../../src/kernels/attention.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { expectAllClose, type Tolerance } from '../helpers/allclose.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { attentionBackwardReference, attentionForwardReference, type AttentionReferenceShape } from '../reference/attention.ts';

// Inputs are N(0, 1), so a scaled score q·k/√headDim is about N(0, 1) and its f32 dot product
// carries an absolute error of at most headDim·2^-24·Σ|q_d·k_d|/√headDim ≲ 4e-6 (headDim ≤ 16).
// A softmax weight inherits that as a relative error, plus one rounding per key of the running
// sum (S ≤ 64: 64·2^-24 ≈ 4e-6), and out = Σ p·v is a convex combination of |v| ≲ 4, so
// |error| ≲ (4e-6 + 4e-6)·4 ≈ 3e-5. Observed: ≤ 6e-7 (also at headDim 128, whose worst case is
// several times larger but whose rounding errors, being random, cancel like √headDim).
const FORWARD_TOLERANCE: Tolerance = { atol: 3e-5, rtol: 1e-4 };
// lse = max + log(sum): the score error plus the sum's relative error, ≲ 1e-5. Observed: ≤ 7e-7.
const LSE_TOLERANCE: Tolerance = { atol: 1e-5, rtol: 1e-5 };
// A dk or dv row sums over every query of the kv head's group that sees the key: Σ_i P_ij ≲
// groupSize·ln(S) ≈ 17 for key 0 at S = 64, each term carrying the weights' ~8e-6 relative error
// times |dOut| or |dS·q| ≲ 4: ≲ 17·8e-6·4 ≈ 5e-4. dq is smaller (Σ_j P_ij = 1). Observed: ≤ 3e-6.
// A wrong mask, kv-head mapping or missing group member errs by O(0.1).
const GRADIENT_TOLERANCE: Tolerance = { atol: 5e-4, rtol: 1e-3 };

type TileLimits = Parameters<typeof chooseTiles>[2];

interface Case extends AttentionReferenceShape {
  /** The same tiles for all three kernels; or each kernel's choice for `limits`; else the device's. */
  tiles?: AttentionTiles;
  limits?: TileLimits;
  /** Standard deviation of q and k (large values exercise the stable softmax). */
  qkScale?: number;
}

function gpuBuffer(rt: GpuRuntime, data: Float32Array): GPUBuffer {
  return rt.upload(data, 'attention-test');
}

async function runCase(rt: GpuRuntime, c: Case, seed: number): Promise<void> {
  const { B, S, nHeads, nKvHeads, headDim } = c;
  const T = B * S;
  const qk = c.qkScale ?? 1;
  const q = randn(T * nHeads * headDim, seed, qk);
  const k = randn(T * nKvHeads * headDim, seed + 1, qk);
  const v = randn(T * nKvHeads * headDim, seed + 2);
  const dOut = randn(T * nHeads * headDim, seed + 3);
  const label = `B=${B} S=${S} heads=${nHeads}/${nKvHeads} headDim=${headDim} tiles=${JSON.stringify(c.tiles ?? c.limits ?? 'auto')}`;

  const gq = gpuBuffer(rt, q);
  const gk = gpuBuffer(rt, k);
  const gv = gpuBuffer(rt, v);
  const gdOut = gpuBuffer(rt, dOut);
  const out = gpuBuffer(rt, new Float32Array(T * nHeads * headDim).fill(NaN));
  const lse = gpuBuffer(rt, new Float32Array(B * nHeads * S).fill(NaN));
  // NaN everywhere: an element the backward fails to overwrite fails the comparison.
  const dq = gpuBuffer(rt, new Float32Array(T * nHeads * headDim).fill(NaN));
  const dk = gpuBuffer(rt, new Float32Array(T * nKvHeads * headDim).fill(NaN));
  const dv = gpuBuffer(rt, new Float32Array(T * nKvHeads * headDim).fill(NaN));

  const tilesFor = (kernel: 'forward' | 'dkdv' | 'dq') => c.tiles ?? (c.limits && chooseTiles(kernel, headDim, c.limits));
  attentionForward(rt, { out, lse, q: gq, k: gk, v: gv, B, S, nHeads, nKvHeads, headDim, tiles: tilesFor('forward') });
  const backwardTiles = { dkdv: tilesFor('dkdv'), dq: tilesFor('dq') };
  attentionBackward(rt, { dq, dk, dv, dOut: gdOut, q: gq, k: gk, v: gv, out, lse, B, S, nHeads, nKvHeads, headDim, tiles: backwardTiles });

  const expected = attentionForwardReference(q, k, v, c);
  const grads = attentionBackwardReference(q, k, v, dOut, c);
  // Score errors grow with the scores (∝ qkScale²), and every output inherits them.
  const widen = (t: Tolerance): Tolerance => ({ atol: t.atol * qk * qk, rtol: t.rtol });
  expectAllClose(await rt.readF32(out, 0, T * nHeads * headDim), expected.out, widen(FORWARD_TOLERANCE), `out ${label}`);
  expectAllClose(await rt.readF32(lse, 0, B * nHeads * S), expected.lse, widen(LSE_TOLERANCE), `lse ${label}`);
  expectAllClose(await rt.readF32(dq, 0, T * nHeads * headDim), grads.dq, widen(GRADIENT_TOLERANCE), `dq ${label}`);
  expectAllClose(await rt.readF32(dk, 0, T * nKvHeads * headDim), grads.dk, widen(GRADIENT_TOLERANCE), `dk ${label}`);
  expectAllClose(await rt.readF32(dv, 0, T * nKvHeads * headDim), grads.dv, widen(GRADIENT_TOLERANCE), `dv ${label}`);
  for (const buffer of [gq, gk, gv, gdOut, out, lse, dq, dk, dv]) rt.release(buffer);
}

const HEADS: ReadonlyArray<[number, number]> = [
  [4, 4],
  [4, 2],
  [4, 1],
];

describe('attention reference', () => {
  it('has gradients that match central finite differences of sum(out ∘ dOut)', () => {
    const shape = { B: 1, S: 5, nHeads: 4, nKvHeads: 2, headDim: 4 };
    const n = shape.S * shape.nHeads * shape.headDim;
    const nKv = shape.S * shape.nKvHeads * shape.headDim;
    const inputs = { q: Float64Array.from(randn(n, 11)), k: Float64Array.from(randn(nKv, 12)), v: Float64Array.from(randn(nKv, 13)) };
    const dOut = Float64Array.from(randn(n, 14));
    const loss = () => attentionForwardReference(inputs.q, inputs.k, inputs.v, shape).out.reduce((acc, x, i) => acc + x * dOut[i]!, 0);
    const grads = attentionBackwardReference(inputs.q, inputs.k, inputs.v, dOut, shape);
    const step = 1e-6;
    for (const [name, grad] of [
      ['q', grads.dq],
      ['k', grads.dk],
      ['v', grads.dv],
    ] as const) {
      const x = inputs[name];
      const numeric = new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const saved = x[i]!;
        x[i] = saved + step;
        const up = loss();
        x[i] = saved - step;
        const down = loss();
        x[i] = saved;
        numeric[i] = (up - down) / (2 * step);
      }
      // Central differences in float64: truncation ~step² and cancellation ~1e-16/step ≈ 1e-10.
      expectAllClose(grad, numeric, { atol: 1e-7, rtol: 1e-7 }, `d${name}`);
    }
  });

  it('with one token returns v of the kv head and lse = the only score', () => {
    const shape = { B: 1, S: 1, nHeads: 2, nKvHeads: 1, headDim: 4 };
    const q = [1, 2, 3, 4, 0, 0, 1, 0];
    const k = [0.5, 0, 0, 0];
    const v = [7, 8, 9, 10];
    const { out, lse } = attentionForwardReference(q, k, v, shape);
    expect([...out]).toEqual([7, 8, 9, 10, 7, 8, 9, 10]);
    expect([...lse]).toEqual([0.25, 0]);
  });
});

describe('attention tiles', () => {
  it('fit the 16 KiB workgroup-memory floor and 256 threads for every head size up to 128', () => {
    const floor = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 };
    for (const headDim of [8, 16, 64, 128]) {
      for (const kernel of ['forward', 'dkdv', 'dq'] as const) {
        expect(workgroupBytes(kernel, headDim, chooseTiles(kernel, headDim, floor))).toBeLessThanOrEqual(16384);
      }
    }
    // An H100's 48 KiB buys dk/dv four times the keys per workgroup at headDim 128.
    const h100 = { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 };
    expect(chooseTiles('dkdv', 128, h100)).toEqual({ blockQ: 8, blockK: 32 });
    expect(chooseTiles('dkdv', 128, floor)).toEqual({ blockQ: 4, blockK: 8 });
  });
});

describe('attention on Dawn', () => {
  // Tiles smaller than S, with blockQ ≠ blockK both ways round, so that blocks end mid-sequence
  // and key blocks start inside query blocks (and the reverse); plus the tiles this device picks
  // (undefined) at the tiny preset's headDim. Bigger tiles cost seconds of SwiftShader compile.
  const smallTiles: ReadonlyArray<AttentionTiles | undefined> = [
    { blockQ: 4, blockK: 8 },
    { blockQ: 8, blockK: 4 },
  ];
  for (const headDim of [8, 16]) {
    const tileShapes = headDim === 16 ? [undefined, ...smallTiles] : smallTiles;
    for (const [nHeads, nKvHeads] of HEADS) {
      it(`matches the reference: headDim ${headDim}, ${nHeads} heads on ${nKvHeads} kv heads`, async () => {
        const rt = await testRuntime();
        let seed = 100 * headDim + 10 * nKvHeads;
        for (const S of [1, 5, 17, 64]) {
          for (const tiles of tileShapes) {
            // Two sequences at the odd lengths: the batch offset is exercised without doubling S = 64.
            const B = S === 64 ? 1 : 2;
            await runCase(rt, { B, S, nHeads, nKvHeads, headDim, tiles }, (seed += 7));
          }
        }
      });
    }
  }

  it('matches the reference at headDim 128 with the tiles chosen for a 16 KiB device', async () => {
    const rt = await testRuntime();
    const floor = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 };
    await runCase(rt, { B: 1, S: 19, nHeads: 4, nKvHeads: 2, headDim: 128, limits: floor }, 5);
  });

  it('matches the reference at a head size whose rows split into an odd number of vec4s (12)', async () => {
    const rt = await testRuntime();
    await runCase(rt, { B: 2, S: 9, nHeads: 2, nKvHeads: 1, headDim: 12, tiles: { blockQ: 4, blockK: 4 } }, 6);
  });

  it('stays finite and accurate when scores are in the hundreds (stable softmax)', async () => {
    const rt = await testRuntime();
    // q, k ~ N(0, 10²): scores of ±300 would overflow a naive exp(score) to inf and NaN; the
    // tolerances widen with the scores (see runCase). Observed: out 2e-5, dq 2e-5.
    await runCase(rt, { B: 1, S: 17, nHeads: 4, nKvHeads: 2, headDim: 16, tiles: { blockQ: 4, blockK: 8 }, qkScale: 10 }, 7);
  });

  it('explains what to do when the shape is unsupported', async () => {
    const rt = await testRuntime();
    const buffer = rt.acquire(4096);
    const args = { out: buffer, lse: buffer, q: buffer, k: buffer, v: buffer, B: 1, S: 4, nHeads: 4, nKvHeads: 3, headDim: 16 };
    expect(() => attentionForward(rt, args)).toThrow(/multiple of nKvHeads/);
    expect(() => attentionForward(rt, { ...args, nKvHeads: 2, headDim: 10 })).toThrow(/multiple of 4/);
    expect(() => attentionForward(rt, { ...args, nKvHeads: 2, S: 1000 })).toThrow(/q holds 1024 floats, needs 64000/);
    rt.release(buffer);
  });
});
