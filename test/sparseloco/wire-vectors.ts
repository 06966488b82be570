// The wire codec's test layouts and updates, shared by codec.test.ts (which pins the encoder's
// bytes for them) and spec-decoder.test.ts (which decodes those bytes with a decoder written from
// docs/PROTOCOL.md alone).
import { randn } from '../helpers/random.ts';
import { randomCompressedTensor } from './random-update.ts';
import { ERROR_FEEDBACK_BETA, compressLayout } from '../../src/sparseloco/compress.ts';
import { packedSlots } from '../../src/sparseloco/error-feedback.ts';
import { wireLayoutOf, type PayloadOrigin } from '../../src/sparseloco/codec.ts';
import type { CompressedUpdate, TensorSpecs, WireLayout } from '../../src/sparseloco/types.ts';

// 64×64 tiles; a 50×48 tile (k = 38); 1-D rows of 35 and 50 (k = 2); a prime length (chunks of 1, k = 1).
export const LAYOUT: TensorSpecs = [
  { name: 'blocks', shape: [128, 192] },
  { name: 'odd', shape: [100, 48] },
  { name: 'norm', shape: [70] },
  { name: 'bias', shape: [1000] },
  { name: 'prime', shape: [67] },
];
export const WIRE = wireLayoutOf(LAYOUT);
export const ORIGIN: PayloadOrigin = {
  runId: 'test-run-α',
  round: 4_000_000_001,
  baseModelHash: Uint8Array.from({ length: 32 }, (_, i) => 255 - i),
};

/** Geometries far from the model's, for Rice parameters from 0 to 14. */
export const PINNED_WIRE: WireLayout = {
  ...wireLayoutOf([{ name: 'w', shape: [8, 4096] }]),
  tensors: [
    { numChunks: 3, chunkSize: 65536, k: 2 }, // gaps of ~2^14: the largest Rice parameters
    { numChunks: 2, chunkSize: 4096, k: 4096 }, // every index: Rice parameter 0
    { numChunks: 5, chunkSize: 4096, k: 64 }, // the nominal chunk
    { numChunks: 7, chunkSize: 999, k: 17 }, // codes not a multiple of 4
    { numChunks: 4, chunkSize: 300, k: 100 },
  ],
};

export function pinnedUpdate(seed: number): CompressedUpdate {
  return { tensors: PINNED_WIRE.tensors.map((t, i) => randomCompressedTensor(t, seed * 100 + i)) };
}

/**
 * The compressor's output for LAYOUT from e = 0 and a random Δ, except that 'norm' gets a constant
 * Δ: every selected value equal, so scale 0, every code 2 and three unused bins.
 */
export function compressedUpdate(seed: number): CompressedUpdate {
  const { tensors, flatLength } = packedSlots(LAYOUT);
  const delta = randn(flatLength, seed, 1e-3);
  const norm = tensors[2]!;
  delta.fill(0.25, norm.offset, norm.offset + 70);
  return compressLayout(new Float32Array(flatLength), delta, ERROR_FEEDBACK_BETA, tensors);
}
