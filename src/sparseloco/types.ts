// The shapes SparseLoCo's pieces hand each other: the compressor's output (CompressedTensor /
// CompressedUpdate, produced by compress.ts, consumed by the codec, aggregation and error
// feedback), a tensor's chunk geometry as the codec sees it, and the parameter layout that the
// model hash and the wire header commit to.

/** One tensor's top-k selection, quantized to 2 bits. */
export interface CompressedTensor {
  numChunks: number;
  /** Elements per chunk (4096 for a 64×64 tile). */
  chunkSize: number;
  /** Entries selected per chunk (even). */
  k: number;
  /** numChunks·k in-chunk indices, strictly ascending within each chunk. */
  indices: Uint16Array;
  /** numChunks·k 2-bit codes 0..3, aligned with `indices`. */
  codes: Uint8Array;
  /** f32 quantization parameters: shift = mean, scale = 6·std/4. */
  shift: number;
  scale: number;
  /** 4 entries: the mean of the centred values that fell in each bin. */
  lookup: Float32Array;
}

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
