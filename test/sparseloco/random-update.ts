// Seeded random CompressedUpdates for the SparseLoCo tests (and the child process that replays a
// decision): valid by construction, so a test can mutate one field at a time.
import { rng } from '../helpers/random.ts';
import { chunkGeometry } from '../../src/sparseloco/chunking.ts';
import type { CompressedTensor, CompressedUpdate, TensorSpecs, TensorChunking } from '../../src/sparseloco/types.ts';

/** k distinct in-chunk indices, ascending (a partial Fisher-Yates shuffle over the chunk). */
function randomSubset(chunkSize: number, k: number, random: () => number, scratch: Uint16Array): Uint16Array {
  for (let i = 0; i < chunkSize; i++) scratch[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (chunkSize - i));
    const t = scratch[i]!;
    scratch[i] = scratch[j]!;
    scratch[j] = t;
  }
  return scratch.slice(0, k).sort();
}

/** A valid compressed tensor: uniform random selections, random codes, a lookup table around `magnitude` (+0 for unused bins). */
export function randomCompressedTensor(chunking: TensorChunking, seed: number, magnitude = 1e-2): CompressedTensor {
  const random = rng(seed);
  const { numChunks, chunkSize, k } = chunking;
  const indices = new Uint16Array(numChunks * k);
  const codes = new Uint8Array(numChunks * k);
  const scratch = new Uint16Array(chunkSize);
  for (let c = 0; c < numChunks; c++) indices.set(randomSubset(chunkSize, k, random, scratch), c * k);
  for (let j = 0; j < codes.length; j++) codes[j] = Math.floor(random() * 4);
  const scale = Math.fround(magnitude * (0.5 + random()));
  const lookup = Float32Array.from([-1.6, -0.55, 0.55, 1.6], (centre) => scale * (centre + 0.1 * (random() - 0.5)));
  // A bin no entry uses has lookup +0, as the compressor writes it (the codec rejects anything else).
  for (let bin = 0; bin < 4; bin++) if (!codes.includes(bin)) lookup[bin] = 0;
  return { numChunks, chunkSize, k, indices, codes, shift: Math.fround(magnitude * 0.1 * (random() - 0.5)), scale, lookup };
}

export function randomUpdate(layout: TensorSpecs, seed: number, magnitude = 1e-2): CompressedUpdate {
  return { tensors: layout.map(({ shape }, t) => randomCompressedTensor(chunkGeometry(shape), seed * 1000 + t, magnitude)) };
}
