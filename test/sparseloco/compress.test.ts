// SparseLoCo's compressor: the CPU compressor against an independent float64 reference, and the
// GPU compressor (Dawn) against the CPU compressor bit for bit: indices, codes, shift, scale,
// lookup and the updated error tensor, on preset shapes and odd ones, ties, zeros, a constant
// tensor, non-finite input, fma-sensitive input and three rounds of error feedback.
import { describe, expect, it } from 'vitest';
import { COMPRESS_PACK } from '../../src/kernels/compress.ts';
import { arenaGroups, compressBatchOnGpu, compressOnGpu } from '../../src/sparseloco/gpu-compress.ts';
import { chunkFlatIndices, chunkGeometry } from '../../src/sparseloco/chunking.ts';
import { compressLayout, compressTensor, decodeValue, ERROR_FEEDBACK_BETA, type TensorSlot } from '../../src/sparseloco/compress.ts';
import type { CompressedTensor } from '../../src/sparseloco/types.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { randn, rng } from '../helpers/random.ts';
import { compressReference64 } from '../reference/compress.ts';

const beta = ERROR_FEEDBACK_BETA;
const f32 = Math.fround;

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bitwise equality of two f32 arrays, reporting the first difference. */
function expectSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i] && !(Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) {
      expect.fail(`${what}: element ${i} is ${actual[i]} (0x${a[i]!.toString(16)}), expected ${expected[i]} (0x${e[i]!.toString(16)})`);
    }
  }
}

function expectSamePayload(gpu: CompressedTensor, cpu: CompressedTensor, what: string): void {
  expect({ numChunks: gpu.numChunks, chunkSize: gpu.chunkSize, k: gpu.k }, what).toEqual({
    numChunks: cpu.numChunks,
    chunkSize: cpu.chunkSize,
    k: cpu.k,
  });
  expect(
    Buffer.from(gpu.indices.buffer, gpu.indices.byteOffset, gpu.indices.byteLength).equals(
      Buffer.from(cpu.indices.buffer, cpu.indices.byteOffset, cpu.indices.byteLength),
    ),
    `${what}: indices`,
  ).toBe(true);
  expect(Buffer.from(gpu.codes).equals(Buffer.from(cpu.codes)), `${what}: codes`).toBe(true);
  expectSameBits(new Float32Array([gpu.shift, gpu.scale]), new Float32Array([cpu.shift, cpu.scale]), `${what}: shift, scale`);
  expectSameBits(gpu.lookup, cpu.lookup, `${what}: lookup`);
}

/** Runs the GPU compressor on copies of (error, delta) and the CPU compressor on others; compares all. */
async function expectGpuMatchesCpu(
  shape: number[],
  error: Float32Array,
  delta: Float32Array | null,
  rounds = 1,
): Promise<CompressedTensor[]> {
  const rt = await testRuntime();
  const gpuError = rt.upload(error);
  const cpuError = error.slice();
  const payloads: CompressedTensor[] = [];
  for (let round = 0; round < rounds; round++) {
    const roundDelta = delta && round > 0 ? randn(delta.length, 1000 + round, 0.01) : delta;
    const gpuDelta = roundDelta ? rt.upload(roundDelta) : null;
    const gpu = await compressOnGpu(rt, { error: gpuError, delta: gpuDelta, beta, shape });
    const cpu = compressTensor(cpuError, roundDelta, beta, shape);
    expectSamePayload(gpu, cpu, `[${shape.join(', ')}] round ${round}`);
    expectSameBits(await rt.readF32(gpuError, 0, cpuError.length), cpuError, `[${shape.join(', ')}] round ${round}: error tensor`);
    if (gpuDelta) rt.release(gpuDelta);
    payloads.push(cpu);
  }
  rt.release(gpuError);
  return payloads;
}

describe('CPU compressor against the float64 reference', () => {
  for (const shape of [[192, 64], [64], [50, 30], [7], [67]]) {
    it(`[${shape.join(', ')}]: k per chunk, same selection, quantization within f32 rounding`, () => {
      const n = size(shape);
      const error = randn(n, 11, 0.02);
      const delta = randn(n, 12, 0.01);
      const afterFeedback = Float32Array.from(error, (e, i) => f32(f32(f32(beta) * e) + delta[i]!));
      const g = chunkGeometry(shape);
      const ref = compressReference64(afterFeedback, g.rows, g.cols, g.chunkRows, g.chunkCols, g.k);
      const updated = error.slice();
      const got = compressTensor(updated, delta, beta, shape);

      expect(got.indices.length).toBe(g.numChunks * g.k);
      for (let c = 0; c < g.numChunks; c++) {
        for (let s = 1; s < g.k; s++) expect(got.indices[c * g.k + s]!).toBeGreaterThan(got.indices[c * g.k + s - 1]!);
      }
      expect([...got.indices]).toEqual(ref.indices);
      // Sums of n ≤ 2400 f32 terms: relative error ≤ n·2^-24 of Σ|v| (< 2e-4 of max |v| here);
      // scale and lookup inherit it. Codes may differ only where c/scale + 2 is that close to a
      // rounding boundary, which these seeds avoid (checked below).
      const maxAbs = Math.max(...ref.values.map(Math.abs));
      expect(Math.abs(got.shift - ref.shift)).toBeLessThan(2e-4 * maxAbs);
      expect(Math.abs(got.scale - ref.scale)).toBeLessThan(2e-4 * maxAbs);
      for (let b = 0; b < 4; b++) expect(Math.abs(got.lookup[b]! - ref.lookup[b]!)).toBeLessThan(2e-4 * maxAbs);
      for (let i = 0; i < ref.codes.length; i++) {
        const nearBoundary = Math.abs(ref.position[i]! - Math.round(ref.position[i]! - 0.5) - 0.5) < 1e-3;
        if (!nearBoundary) expect(got.codes[i], `code ${i}`).toBe(ref.codes[i]);
      }
      // The error keeps what the payload did not carry: v − decoded at selected positions, v elsewhere.
      const selected = new Set(ref.flat);
      for (let i = 0; i < n; i++) {
        if (!selected.has(i)) expect(updated[i]).toBe(afterFeedback[i]);
      }
      ref.flat.forEach((at, i) => expect(updated[at]).toBe(f32(afterFeedback[at]! - decodeValue(got, got.codes[i]!))));
    });
  }

  it("the full vocabulary embedding [50257, 384]: k per chunk, ascending, each the chunk's largest", () => {
    // CPU only: SwiftShader needs ~45 s for this shape; [58, 384] covers its geometry on the GPU.
    const shape = [50257, 384];
    const g = chunkGeometry(shape);
    const error = randn(size(shape), 13, 0.02);
    const afterFeedback = new Float32Array(error.length); // a plain loop: Float32Array.from(f) is slow at 19M
    for (let i = 0; i < error.length; i++) afterFeedback[i] = f32(f32(beta) * error[i]!);
    const got = compressTensor(error, null, beta, shape);
    expect(got.indices.length).toBe(g.numChunks * g.k);
    const flat = new Uint32Array(g.chunkSize);
    let badChunks = 0;
    for (let c = 0; c < g.numChunks; c++) {
      chunkFlatIndices(g, c, flat);
      const chosen = got.indices.subarray(c * g.k, (c + 1) * g.k);
      let ok = true;
      for (let s = 1; s < g.k; s++) ok &&= chosen[s]! > chosen[s - 1]!;
      let smallestKept = Infinity;
      for (const j of chosen) smallestKept = Math.min(smallestKept, Math.abs(afterFeedback[flat[j]!]!));
      const kept = new Set(chosen);
      for (let j = 0; j < g.chunkSize; j++) if (!kept.has(j) && Math.abs(afterFeedback[flat[j]!]!) > smallestKept) ok = false;
      if (!ok) badChunks++;
    }
    expect(badChunks).toBe(0);
  });

  it('decodes every selected value within its bin: inner bins within one scale, each bin unbiased', () => {
    const shape = [256, 64];
    const error = randn(size(shape), 21, 1);
    const before = error.slice();
    const got = compressTensor(error, null, 1, shape);
    const g = chunkGeometry(shape);
    const ref = compressReference64(before, g.rows, g.cols, g.chunkRows, g.chunkCols, g.k);
    const residualSum = [0, 0, 0, 0];
    const count = [0, 0, 0, 0];
    ref.values.forEach((v, i) => {
      const code = got.codes[i]!;
      const err = v - decodeValue(got, code);
      // Bins 1 and 2 are one scale wide and their lookup (a mean) lies inside them; bins 0 and 3
      // are open-ended: their values lie beyond ±1.5·scale from the shift, on the bin's side.
      if (code === 1 || code === 2) expect(Math.abs(err)).toBeLessThanOrEqual(got.scale * (1 + 1e-5));
      else expect(Math.sign(v - got.shift)).toBe(code === 0 ? -1 : 1);
      residualSum[code]! += err;
      count[code]!++;
    });
    // The lookup is each bin's mean, so residuals average to 0 up to f32 rounding of the sums.
    for (let b = 0; b < 4; b++) if (count[b]) expect(Math.abs(residualSum[b]! / count[b]!)).toBeLessThan(1e-5);
    expect(count.reduce((a, b) => a + b, 0)).toBe(g.numChunks * g.k);
  });
});

describe("the shader's exact arithmetic", () => {
  it('div_exact and sqrt_exact round correctly, as Math.fround of the float64 result does', async () => {
    const rt = await testRuntime();
    // A test-only entry point appended to the real shader, reusing its bindings: sel_value holds
    // (a, b) pairs, packed receives (a / b, √|a|) as bits.
    const check = {
      ...COMPRESS_PACK,
      name: 'compress-exact-math-check',
      entryPoint: 'exact_math_check',
      code:
        COMPRESS_PACK.code +
        `
@compute @workgroup_size(64)
fn exact_math_check(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i < params.total_selected) {
    packed[2u * i] = bitcast<u32>(div_exact(sel_value[2u * i], sel_value[2u * i + 1u]));
    packed[2u * i + 1u] = bitcast<u32>(sqrt_exact(abs(sel_value[2u * i])));
  }
}`,
    };
    const r = rng(91);
    const pairs: number[] = [];
    const wide = (): number => f32((1 + r()) * 2 ** Math.floor(r() * 120 - 60));
    for (let i = 0; i < 3000; i++) pairs.push((r() < 0.5 ? -1 : 1) * wide(), wide());
    // The divisions the compressor does: a sum by a count, a sum of squares by n − 1.
    for (let i = 0; i < 2000; i++)
      pairs.push(f32((r() - 0.5) * 2 ** Math.floor(r() * 40 - 20)), 1 + Math.floor(r() * 2 ** Math.floor(r() * 22)));
    pairs.push(0, 3, 1, 3, 2, 3, 1, 1, 7, 7, f32(0.1), 10, 4, 1, 2, 1, f32(2 ** 60), f32(2 ** -60));
    const count = pairs.length / 2;
    const input = rt.upload(new Float32Array(pairs));
    const output = rt.acquire(count * 8);
    // Writable bindings may not alias: one small placeholder each.
    const unused = [16, 32, 48, 64].map((bytes) => rt.acquire(bytes));
    const uniforms = new Uint32Array([0, 0, 0, 0, 0, 0, count, 0, 0]);
    rt.dispatch(check, [unused[0]!, unused[0]!, unused[1]!, unused[2]!, input, unused[3]!, output], uniforms, [Math.ceil(count / 64)]);
    const got = await rt.readF32(output, 0, count * 2);
    const expected = new Float32Array(count * 2);
    const flushed = (x: number): number => (Math.abs(x) < 2 ** -126 ? 0 : x);
    for (let i = 0; i < count; i++) {
      expected[2 * i] = flushed(f32(pairs[2 * i]! / pairs[2 * i + 1]!));
      expected[2 * i + 1] = f32(Math.sqrt(Math.abs(pairs[2 * i]!)));
    }
    expectSameBits(got, expected, 'exact division and square root');
  });
});

describe('GPU compressor matches the CPU compressor bit for bit', () => {
  for (const shape of [
    [256, 64],
    [64, 64],
    [192, 64],
    [64, 192],
    [64],
    [50, 30],
    [3, 130],
    [7],
    [67],
    [384, 384],
    [1024, 384],
    [768, 768],
    [384],
    [768],
  ]) {
    it(`random [${shape.join(', ')}]`, async () => {
      const n = size(shape);
      await expectGpuMatchesCpu(shape, randn(n, 31, 0.02), randn(n, 32, 0.01));
    });
  }

  it('a vocabulary-sized tile: [58, 384] cut into 29-row blocks as [50257, 384] is', async () => {
    await expectGpuMatchesCpu([58, 384], randn(58 * 384, 33, 0.02), randn(58 * 384, 34, 0.01));
  });

  it('ties: many equal magnitudes of both signs keep the lowest indices', async () => {
    const shape = [128, 64];
    const r = rng(41);
    const error = Float32Array.from({ length: size(shape) }, () => [0.5, -0.5, 0.25, -0.25, 0.125][Math.floor(r() * 5)]!);
    const [cpu] = await expectGpuMatchesCpu(shape, error, null);
    // Every chunk has hundreds of ±0.5·β entries: k of them, the first k in index order.
    const decayed = Float32Array.from(error, (e) => f32(f32(beta) * e));
    for (let c = 0; c < 2; c++) {
      const expected: number[] = [];
      for (let j = 0; j < 4096 && expected.length < 64; j++) {
        const at = Math.floor(j / 64) * 64 + (j % 64) + c * 64 * 64;
        if (Math.abs(decayed[at]!) === f32(f32(beta) * 0.5)) expected.push(j);
      }
      expect([...cpu!.indices.subarray(c * 64, c * 64 + 64)]).toEqual(expected);
    }
  });

  it('an all-zero tensor: scale 0, every code 2, error stays 0', async () => {
    const [cpu] = await expectGpuMatchesCpu([64, 64], new Float32Array(4096), new Float32Array(4096));
    expect(cpu!.scale).toBe(0);
    expect(cpu!.shift).toBe(0);
    expect([...cpu!.indices]).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(cpu!.codes.every((c) => c === 2)).toBe(true);
  });

  it('a constant tensor', async () => {
    const [cpu] = await expectGpuMatchesCpu([192, 64], new Float32Array(192 * 64).fill(0.37), null);
    // Every selected value is f32(β·0.37): they decode to within an ulp-scale of it.
    const v = f32(f32(beta) * 0.37);
    for (let i = 0; i < cpu!.codes.length; i++) expect(Math.abs(decodeValue(cpu!, cpu!.codes[i]!) - v)).toBeLessThan(1e-6);
  });

  it('fma-sensitive feedback: Δ = −round(β·e) leaves exactly 0, as separate rounding says', async () => {
    const shape = [64, 64];
    const error = randn(4096, 51, 1);
    const delta = randn(4096, 52, 1);
    // On half the entries the exact product β·e differs from its f32 rounding by up to half an
    // ulp; a fused β·e + Δ would keep that residue, the specified two roundings give 0.
    for (let i = 0; i < 4096; i += 2) delta[i] = -f32(f32(beta) * error[i]!);
    await expectGpuMatchesCpu(shape, error, delta);
  });

  it('three rounds of β error feedback stay identical', async () => {
    const shape = [128, 192];
    await expectGpuMatchesCpu(shape, new Float32Array(size(shape)), randn(size(shape), 61, 0.01), 3);
  });

  it('a NaN poisons the tensor on both: it is selected and the parameters are NaN', async () => {
    const shape = [64, 64];
    const error = randn(4096, 71, 0.02);
    error[100] = NaN;
    error[3000] = Infinity;
    const [cpu] = await expectGpuMatchesCpu(shape, error, null);
    expect(cpu!.indices).toContain(100);
    expect(cpu!.indices).toContain(3000);
    expect(Number.isNaN(cpu!.shift) && Number.isNaN(cpu!.scale) && cpu!.lookup.every(Number.isNaN)).toBe(true);
  });

  it('compresses a whole layout in one submit: two groups, with and without Δ, at offsets', async () => {
    const rt = await testRuntime();
    const shapesA = [[256, 64], [64], [64, 192], [7]];
    const shapesB = [
      [192, 64],
      [50, 30],
    ];
    const place = (shapes: number[][]): { slots: TensorSlot[]; floats: number } => {
      let offset = 0;
      const slots = shapes.map((shape) => {
        const slot = { shape, offset };
        offset += Math.ceil(size(shape) / 64) * 64;
        return slot;
      });
      return { slots, floats: offset };
    };
    const a = place(shapesA);
    const b = place(shapesB);
    const errorA = randn(a.floats, 81, 0.02);
    const deltaA = randn(a.floats, 82, 0.01);
    const errorB = randn(b.floats, 83, 0.02);
    const gpuErrorA = rt.upload(errorA);
    const gpuDeltaA = rt.upload(deltaA);
    const gpuErrorB = rt.upload(errorB);
    const submitsBefore = rt.submitCount;
    // Unsplit (under a budget the runtime may cut work it measured slow: test/gpu/submissions.test.ts).
    const budget = rt.submissionBudgetMs;
    rt.submissionBudgetMs = Infinity;
    const gpu = await compressBatchOnGpu(rt, {
      beta,
      groups: [
        { error: gpuErrorA, delta: gpuDeltaA, tensors: a.slots },
        { error: gpuErrorB, delta: null, tensors: b.slots },
      ],
    }).finally(() => (rt.submissionBudgetMs = budget));
    // Every dispatch and the readback copy go to the GPU in a single submit.
    expect(rt.submitCount - submitsBefore).toBe(1);
    const cpu = [...compressLayout(errorA, deltaA, beta, a.slots).tensors, ...compressLayout(errorB, null, beta, b.slots).tensors];
    expect(gpu.length).toBe(cpu.length);
    gpu.forEach((t, i) => expectSamePayload(t, cpu[i]!, `tensor ${i}`));
    expectSameBits(await rt.readF32(gpuErrorA, 0, a.floats), errorA, 'group A error');
    expectSameBits(await rt.readF32(gpuErrorB, 0, b.floats), errorB, 'group B error');
  });

  it('splits arenas into bindings no larger than the limit and still matches', async () => {
    const rt = await testRuntime();
    // Two arenas; a 32 KiB binding limit forces the first arena into two groups.
    const tensors = [
      { shape: [64, 64], arena: 0, arenaOffset: 0 },
      { shape: [64, 64], arena: 0, arenaOffset: 4096 },
      { shape: [64], arena: 0, arenaOffset: 8192 },
      { shape: [3, 130], arena: 1, arenaOffset: 0 },
    ];
    const floats = [8256, 448];
    const errors = floats.map((n, a) => randn(n, 101 + a, 0.02));
    const deltas = floats.map((n, a) => randn(n, 111 + a, 0.01));
    const gpuErrors = errors.map((e) => rt.upload(e));
    const gpuDeltas = deltas.map((d) => rt.upload(d));
    const groups = arenaGroups(tensors, gpuErrors, gpuDeltas, 32 * 1024);
    expect(groups.map((g) => g.tensors.length)).toEqual([2, 1, 1]);
    const gpu = await compressBatchOnGpu(rt, { beta, groups });
    const cpu = tensors.map(
      (t) => compressLayout(errors[t.arena]!, deltas[t.arena]!, beta, [{ shape: t.shape, offset: t.arenaOffset }]).tensors[0]!,
    );
    gpu.forEach((t, i) => expectSamePayload(t, cpu[i]!, `tensor ${i}`));
    for (let a = 0; a < 2; a++) expectSameBits(await rt.readF32(gpuErrors[a]!, 0, floats[a]), errors[a]!, `arena ${a} error`);
  });
});
