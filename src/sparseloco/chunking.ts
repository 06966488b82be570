// How SparseLoCo cuts a tensor into chunks for per-chunk top-k: a 2-D tensor [R, C] is tiled into
// chunkRows × chunkCols blocks (each side the largest divisor ≤ 64), a 1-D tensor of n elements
// is a single row cut the same way. The CPU compressor, the GPU compressor and the codec all read
// the geometry from here, so they can never disagree about which element an index names.
import type { ChunkTiling } from '../kernels/compress.ts';
import type { TensorChunking } from './types.ts';

/** The nominal tile side (the Covenant run's 64 × 64 chunks). */
export const MAX_CHUNK_SIDE = 64;
/** k per 4096-element chunk; other chunk sizes keep this density (1.5625 %). */
export const NOMINAL_K = 64;
const NOMINAL_CHUNK_SIZE = MAX_CHUNK_SIDE * MAX_CHUNK_SIDE;

/** A tensor's tiling (the kernel's ChunkTiling: rows, cols, chunk sides, blocks per row, chunks, k). */
export interface ChunkGeometry extends TensorChunking, ChunkTiling {}

/** The largest divisor of n that is at most `limit` (1 for a prime above the limit). */
export function largestDivisorAtMost(n: number, limit: number): number {
  for (let d = Math.min(n, limit); d > 1; d--) if (n % d === 0) return d;
  return 1;
}

/**
 * k for a chunk of `chunkSize` elements: 64 at 4096, otherwise the same density rounded to the
 * nearest even number, at least 2 and at most chunkSize. Even because the codec and the GPU
 * packer handle indices in pairs. A chunk of a single element (a 1-D tensor whose length has no
 * divisor in 2..64, e.g. a prime) is the one case where k = 1 is odd: it cannot hold 2.
 */
export function chunkK(chunkSize: number): number {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new Error(`chunk size must be a positive integer, got ${chunkSize}`);
  const even = 2 * Math.max(1, Math.round((chunkSize * NOMINAL_K) / NOMINAL_CHUNK_SIZE / 2));
  return Math.min(even, chunkSize % 2 === 0 ? chunkSize : Math.max(1, chunkSize - 1));
}

/** Chunk geometry of a 1-D or 2-D tensor shape. */
export function chunkGeometry(shape: readonly number[]): ChunkGeometry {
  if (shape.length < 1 || shape.length > 2 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`SparseLoCo chunks 1-D and 2-D tensors with positive integer sides; got shape [${shape.join(', ')}]`);
  }
  const rows = shape.length === 2 ? shape[0]! : 1;
  const cols = shape.length === 2 ? shape[1]! : shape[0]!;
  const chunkRows = shape.length === 2 ? largestDivisorAtMost(rows, MAX_CHUNK_SIDE) : 1;
  const chunkCols = largestDivisorAtMost(cols, MAX_CHUNK_SIDE);
  const chunkSize = chunkRows * chunkCols;
  const blocksPerRow = cols / chunkCols;
  return {
    rows,
    cols,
    chunkRows,
    chunkCols,
    blocksPerRow,
    numChunks: (rows / chunkRows) * blocksPerRow,
    chunkSize,
    k: chunkK(chunkSize),
  };
}

/**
 * The flat (row-major) element index of in-chunk index `inChunkIndex` of chunk `chunk`. Chunks
 * are numbered in row-major block order; inside a block, indices are row-major too.
 */
export function flatIndex(geometry: ChunkGeometry, shape: readonly number[], chunk: number, inChunkIndex: number): number {
  const cols = shape.length === 2 ? shape[1]! : shape[0]!;
  if (cols !== geometry.cols)
    throw new Error(`flatIndex: shape [${shape.join(', ')}] does not match this geometry (${geometry.rows}×${geometry.cols})`);
  if (chunk < 0 || chunk >= geometry.numChunks || inChunkIndex < 0 || inChunkIndex >= geometry.chunkSize) {
    throw new Error(`flatIndex: chunk ${chunk} / index ${inChunkIndex} outside ${geometry.numChunks} chunks of ${geometry.chunkSize}`);
  }
  const blockRow = Math.floor(chunk / geometry.blocksPerRow);
  const blockCol = chunk - blockRow * geometry.blocksPerRow;
  const r = Math.floor(inChunkIndex / geometry.chunkCols);
  const c = inChunkIndex - r * geometry.chunkCols;
  return (blockRow * geometry.chunkRows + r) * geometry.cols + blockCol * geometry.chunkCols + c;
}

/** Fills `out[j]` with the flat index of in-chunk index j of `chunk` (the hot-loop form of flatIndex). */
export function chunkFlatIndices(geometry: ChunkGeometry, chunk: number, out: Uint32Array): Uint32Array {
  const blockRow = Math.floor(chunk / geometry.blocksPerRow);
  const blockCol = chunk - blockRow * geometry.blocksPerRow;
  const base = blockRow * geometry.chunkRows * geometry.cols + blockCol * geometry.chunkCols;
  let j = 0;
  for (let r = 0; r < geometry.chunkRows; r++) {
    const rowBase = base + r * geometry.cols;
    for (let c = 0; c < geometry.chunkCols; c++) out[j++] = rowBase + c;
  }
  return out;
}
