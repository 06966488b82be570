// SparseLoCo's compressor on the CPU: error feedback e ← β·e + Δ, top-k per chunk by |e|, 2-bit
// quantization per tensor, and e ← e − decompress(payload). It is a real code path (browsers
// without WebGPU, benchmarks) and the definition the GPU compressor (src/kernels/compress.ts,
// shaders/compress.wgsl) reproduces bit for bit. Every rule below that looks fussy is there so
// that both give identical bits on every adapter:
//
// - f32 arithmetic: each operation is rounded to f32 (Math.fround), in the order the GPU does it.
//   +, −, × are correctly rounded in WGSL; ÷ and √ are not (2.5 ulp), so the GPU computes them
//   with integer long division / digit-by-digit square root, correctly rounded, as Math.fround of
//   the float64 result is here (float64 has more than 2·24 + 2 bits, so rounding twice is exact).
// - Subnormals: some GPUs flush them, some do not, so every loaded value and every arithmetic
//   result is flushed to +0 when its magnitude is below 2^-126 (`ftz`), on both sides.
// - Fused multiply-add: a GPU compiler may contract β·e + Δ or acc + c·c into one fma (one
//   rounding instead of two). The shader launders each product through an integer XOR with a
//   runtime zero, which no compiler can see through, so the product is always rounded on its own.
// - Summation order is fixed: REDUCTION_LANES lanes each sum a contiguous run of the tensor's
//   selected values in ascending (chunk, index) order, then the lane sums are added in lane order.
// - Rounding to a code: code = clamp(round(c/scale + 2), 0, 3) with round half away from zero,
//   evaluated without a division as the number of thresholds f32(−1.5·scale), −0.5·scale,
//   0.5·scale that c reaches (c ≥ t). scale = 0 (every selected value equal) gives code 2
//   (decodes to the shift itself).
// - The one place the two may differ is a result within 2^-150 of 2^-126, the flush boundary
//   (gradual underflow rounds there differently); pseudo-gradients never come near it.
// - std = √(Σc² / (n − 1)) (= ‖c‖/√(n − 1)); 0 when n = 1.
// - Top-k ranks by the f32 bit pattern of |e| (monotonic for non-negative floats), ties going to
//   the lower in-chunk index. NaN's pattern is above +Inf's, so a NaN or Inf in e is always
//   selected; a tensor whose selected values (or their sums) are not finite is "poisoned": shift,
//   scale and lookup are NaN, codes 0 and the selected error entries NaN, so receivers reject the
//   payload (non-finite quantization) and the caller sees the error feedback is broken.
import { chunkFlatIndices, chunkGeometry, type ChunkGeometry } from './chunking.ts';
import type { CompressedTensor, CompressedUpdate } from './types.ts';

/** The Covenant run's error-feedback decay. */
export const ERROR_FEEDBACK_BETA = 0.95;
/** Lanes of the fixed summation order (the GPU's workgroup size for the per-tensor reductions). */
const REDUCTION_LANES = 256;
/** Quantization bins (2 bits). */
const QUANT_BINS = 4;

const f32 = Math.fround;
const MIN_NORMAL = 2 ** -126;

/** Flush subnormals (and −0) to +0; NaN and ±Inf pass through. */
export function ftz(x: number): number {
  return Math.abs(x) < MIN_NORMAL ? 0 : x;
}

/** One tensor of a flat buffer: its shape and its offset in floats. */
export interface TensorSlot {
  shape: readonly number[];
  offset: number;
}

/** Which elements a chunk keeps: the k largest |e|, ties to the lower index, ascending. */
function selectTopK(keys: Uint32Array, size: number, k: number, hist: Uint32Array, selected: Uint16Array): void {
  // Radix select on the key's bytes, most significant first: after four passes `threshold` is
  // the k-th largest key and `ties` how many elements equal to it are kept.
  let prefix = 0;
  let mask = 0;
  let ties = k;
  for (let shift = 24; shift >= 0; shift -= 8) {
    hist.fill(0);
    for (let j = 0; j < size; j++) {
      const key = keys[j]!;
      if ((key & mask) >>> 0 === prefix) hist[(key >>> shift) & 255]!++;
    }
    for (let b = 255; b >= 0; b--) {
      const count = hist[b]!;
      if (count >= ties) {
        prefix = (prefix | (b << shift)) >>> 0;
        break;
      }
      ties -= count;
    }
    mask = (mask | (255 << shift)) >>> 0;
  }
  let n = 0;
  for (let j = 0; j < size; j++) {
    const key = keys[j]!;
    if (key > prefix) selected[n++] = j;
    else if (key === prefix && ties > 0) {
      selected[n++] = j;
      ties--;
    }
  }
}

/** Lane boundaries of the fixed summation order over `numChunks·k` selected values. */
function laneRange(lane: number, numChunks: number, k: number): [number, number] {
  const chunksPerLane = Math.ceil(numChunks / REDUCTION_LANES);
  const n = numChunks * k;
  return [Math.min(lane * chunksPerLane * k, n), Math.min((lane + 1) * chunksPerLane * k, n)];
}

/** Quantization parameters and codes of a tensor's selected values (f32, in the fixed order). */
function quantizeSelected(
  values: Float32Array,
  numChunks: number,
  k: number,
): { shift: number; scale: number; lookup: Float32Array; codes: Uint8Array; poisoned: boolean } {
  const n = numChunks * k;
  let total = 0;
  let finite = true;
  for (let lane = 0; lane < REDUCTION_LANES; lane++) {
    const [a, b] = laneRange(lane, numChunks, k);
    let acc = 0;
    for (let i = a; i < b; i++) {
      const v = values[i]!;
      if (!Number.isFinite(v)) finite = false;
      acc = ftz(f32(acc + v));
    }
    total = ftz(f32(total + acc));
  }
  const shift = ftz(f32(total / n));
  let sumSquares = 0;
  for (let lane = 0; lane < REDUCTION_LANES; lane++) {
    const [a, b] = laneRange(lane, numChunks, k);
    let acc = 0;
    for (let i = a; i < b; i++) {
      const c = ftz(f32(values[i]! - shift));
      acc = ftz(f32(acc + ftz(f32(c * c))));
    }
    sumSquares = ftz(f32(sumSquares + acc));
  }
  const codes = new Uint8Array(n);
  if (!finite || !Number.isFinite(total) || !Number.isFinite(sumSquares)) {
    return { shift: NaN, scale: NaN, lookup: new Float32Array(QUANT_BINS).fill(NaN), codes, poisoned: true };
  }
  const variance = n > 1 ? ftz(f32(sumSquares / (n - 1))) : 0;
  const std = f32(Math.sqrt(variance));
  const scale = ftz(f32(1.5 * std));
  const t0 = ftz(f32(-1.5 * scale));
  const t1 = ftz(f32(-0.5 * scale));
  const t2 = ftz(f32(0.5 * scale));
  const binSums = new Float32Array(QUANT_BINS);
  const binCounts = new Uint32Array(QUANT_BINS);
  const laneSums = new Float32Array(QUANT_BINS);
  for (let lane = 0; lane < REDUCTION_LANES; lane++) {
    const [a, b] = laneRange(lane, numChunks, k);
    laneSums.fill(0);
    for (let i = a; i < b; i++) {
      const c = ftz(f32(values[i]! - shift));
      const code = scale === 0 ? 2 : Number(c >= t0) + Number(c >= t1) + Number(c >= t2);
      codes[i] = code;
      laneSums[code] = ftz(f32(laneSums[code]! + c));
      binCounts[code]!++;
    }
    for (let bin = 0; bin < QUANT_BINS; bin++) binSums[bin] = ftz(f32(binSums[bin]! + laneSums[bin]!));
  }
  const lookup = new Float32Array(QUANT_BINS);
  for (let bin = 0; bin < QUANT_BINS; bin++) lookup[bin] = binCounts[bin]! > 0 ? ftz(f32(binSums[bin]! / binCounts[bin]!)) : 0;
  return { shift, scale, lookup, codes, poisoned: false };
}

/** The f32 value each selected entry decodes to: lookup[code] + shift. */
export function decodeValue(compressed: Pick<CompressedTensor, 'lookup' | 'shift'>, code: number): number {
  return ftz(f32(compressed.lookup[code]! + compressed.shift));
}

/**
 * Compresses one tensor held in `error` (updated in place: e ← β·e + Δ, then e ← e − decoded at
 * the selected positions). `delta` null means a round with no new pseudo-gradient.
 */
export function compressTensor(error: Float32Array, delta: Float32Array | null, beta: number, shape: readonly number[]): CompressedTensor {
  const geometry = chunkGeometry(shape);
  const size = geometry.rows * geometry.cols;
  if (error.length < size) throw new Error(`compressTensor: error holds ${error.length} floats, shape [${shape.join(', ')}] needs ${size}`);
  if (delta && delta.length < size)
    throw new Error(`compressTensor: delta holds ${delta.length} floats, shape [${shape.join(', ')}] needs ${size}`);
  return compressChunks(error, delta, f32(beta), geometry);
}

/** Compresses every tensor of a flat error buffer (and the matching flat delta), in slot order. */
export function compressLayout(
  error: Float32Array,
  delta: Float32Array | null,
  beta: number,
  tensors: readonly TensorSlot[],
): CompressedUpdate {
  return {
    tensors: tensors.map(({ shape, offset }) => {
      const geometry = chunkGeometry(shape);
      const size = geometry.rows * geometry.cols;
      if (offset < 0 || offset + size > error.length || (delta && offset + size > delta.length)) {
        throw new Error(`compressLayout: tensor [${shape.join(', ')}] at offset ${offset} runs past the buffers (${error.length} floats)`);
      }
      return compressChunks(
        error.subarray(offset, offset + size),
        delta ? delta.subarray(offset, offset + size) : null,
        f32(beta),
        geometry,
      );
    }),
  };
}

function compressChunks(error: Float32Array, delta: Float32Array | null, beta: number, g: ChunkGeometry): CompressedTensor {
  const { numChunks, chunkSize, k } = g;
  const flat = new Uint32Array(chunkSize);
  const chunkValues = new Float32Array(chunkSize);
  const keys = new Uint32Array(chunkValues.buffer);
  const absKeys = new Uint32Array(chunkSize);
  const hist = new Uint32Array(256);
  const chosen = new Uint16Array(k);
  const indices = new Uint16Array(numChunks * k);
  const values = new Float32Array(numChunks * k);
  for (let chunk = 0; chunk < numChunks; chunk++) {
    chunkFlatIndices(g, chunk, flat);
    for (let j = 0; j < chunkSize; j++) {
      const at = flat[j]!;
      const decayed = ftz(f32(beta * ftz(error[at]!)));
      const v = ftz(f32(decayed + (delta ? ftz(delta[at]!) : 0)));
      error[at] = v;
      chunkValues[j] = v;
    }
    for (let j = 0; j < chunkSize; j++) absKeys[j] = keys[j]! & 0x7fffffff;
    selectTopK(absKeys, chunkSize, k, hist, chosen);
    for (let s = 0; s < k; s++) {
      indices[chunk * k + s] = chosen[s]!;
      values[chunk * k + s] = chunkValues[chosen[s]!]!;
    }
  }
  const q = quantizeSelected(values, numChunks, k);
  const compressed: CompressedTensor = {
    numChunks,
    chunkSize,
    k,
    indices,
    codes: q.codes,
    shift: q.shift,
    scale: q.scale,
    lookup: q.lookup,
  };
  for (let chunk = 0; chunk < numChunks; chunk++) {
    chunkFlatIndices(g, chunk, flat);
    for (let s = 0; s < k; s++) {
      const i = chunk * k + s;
      const at = flat[indices[i]!]!;
      error[at] = q.poisoned ? NaN : ftz(f32(values[i]! - decodeValue(compressed, q.codes[i]!)));
    }
  }
  return compressed;
}

/** The dense tensor a CompressedTensor stands for (zeros where nothing was selected). */
export function decompressTensor(compressed: CompressedTensor, shape: readonly number[]): Float32Array {
  const g = chunkGeometry(shape);
  if (g.numChunks !== compressed.numChunks || g.chunkSize !== compressed.chunkSize || g.k !== compressed.k) {
    throw new Error(
      `decompressTensor: payload chunking ${compressed.numChunks}×${compressed.chunkSize} k=${compressed.k} does not fit shape [${shape.join(', ')}]`,
    );
  }
  const dense = new Float32Array(g.rows * g.cols);
  const flat = new Uint32Array(g.chunkSize);
  for (let chunk = 0; chunk < g.numChunks; chunk++) {
    chunkFlatIndices(g, chunk, flat);
    for (let s = 0; s < g.k; s++) {
      const i = chunk * g.k + s;
      dense[flat[compressed.indices[i]!]!] = decodeValue(compressed, compressed.codes[i]!);
    }
  }
  return dense;
}
