// The shapes SparseLoCo's pieces hand each other: the compressor's output (CompressedTensor /
// CompressedUpdate, produced by compress.ts, consumed by the codec, aggregation and error
// feedback), a tensor's chunk geometry as the codec sees it, and the parameter layout that the
// model hash and the wire header commit to.
import type { GpuCompressedTensor } from '../kernels/compress.ts';

/**
 * One tensor's top-k selection, quantized to 2 bits: numChunks·k in-chunk indices (strictly
 * ascending within each chunk; k even, 64 of a 64×64 chunk's 4096), their 2-bit codes, and the
 * f32 quantization parameters (shift = mean, scale = 6·std/4, the 4 bins' lookup means). The GPU
 * compressor (src/kernels/compress.ts) returns exactly this structure, so it is defined there once.
 */
export type CompressedTensor = GpuCompressedTensor;

/** One peer's payload: a CompressedTensor per tensor of the layout, in layout order. */
export interface CompressedUpdate {
  tensors: CompressedTensor[];
}

/**
 * How a tensor is cut into chunks, as far as the wire format cares. chunking.ts's
 * `chunkGeometry(shape)` returns a superset of this, so its result can be passed as is.
 */
export interface TensorChunking {
  numChunks: number;
  chunkSize: number;
  k: number;
}

/** The parameter tensors' names and shapes, defined with the model hash that commits to them. */
export type { TensorSpec, TensorSpecs } from '../model/hash.ts';

/**
 * Everything a decoder must know in advance to accept a payload: the parameter layout's hash,
 * the run's nominal chunk shape and k (echoed in the header), and each tensor's chunking.
 */
export interface WireLayout {
  /** 32-byte blake3 layout hash (src/model/hash.ts `layoutHash`). */
  layoutHash: Uint8Array;
  chunkRows: number;
  chunkCols: number;
  k: number;
  tensors: readonly TensorChunking[];
}

/** The header fields a payload carries besides the tensors. */
export interface PayloadHeader {
  runId: string;
  round: number;
  /** 32-byte hash of θ the update was computed against (src/model/hash.ts `modelHash`, as bytes). */
  baseModelHash: Uint8Array;
  layoutHash: Uint8Array;
  chunkRows: number;
  chunkCols: number;
  k: number;
}
