// Combines the decision's payloads into one dense update per tensor, identically on every
// machine. Per tensor: each peer's decoded values (compress.ts `decodeValue`: lookup[code] + shift
// in f32, subnormals flushed) are scaled by min(1, median‖·‖ / own‖·‖) so no
// single peer can dominate, then every index gets the sum of its values over the peers divided by
// the number of usable peers: the mean over all peers, (1/R)·Σ_r, as in the SparseLoCo paper and
// DiLoCo. ('selecting', the mean over only the peers that selected the index as Templar's
// scatter_reduce does, is kept for ablations: with it an index one peer chose moves by that peer's
// full value however many peers there are, and the swarm falls further behind centralized
// training the more peers it has; docs/BENCHMARKS.md.)
//
// Determinism: every operation is an IEEE-754 float64 operation in a fixed order (peers in the
// decision's order, entries in payload order, chunks ascending), and JavaScript never fuses or
// reorders them; the only f32 rounding is the final store. So the result is bit-identical on
// every engine and CPU. docs/PROTOCOL.md states the exact sequence.
import { chunkFlatIndices, chunkGeometry } from './chunking.ts';
import { decodeValue } from './compress.ts';
import { elementCount } from '../model/hash.ts';
import type { CompressedTensor, CompressedUpdate, TensorSpec } from './types.ts';

/**
 * ‖decoded values‖₂ in float64 (squares summed in payload order), or NaN when a decoded value is
 * not finite. The float64 sum cannot overflow: an f32 squared is below 1.2e77, and 2^31 of those
 * stay far below float64's 1.8e308.
 */
export function decodedNorm(tensor: CompressedTensor): number {
  let sumSquares = 0;
  for (let j = 0; j < tensor.codes.length; j++) {
    const v = decodeValue(tensor, tensor.codes[j]!);
    if (!Number.isFinite(v)) return NaN;
    sumSquares += v * v;
  }
  return Math.sqrt(sumSquares);
}

/** torch.median's convention (as in the Covenant run): the lower middle value of an even count. */
export function lowerMedian(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('lowerMedian of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1]!;
}

/** What an index's sum is divided by: every usable peer ('all'), or the peers that selected it ('selecting'). */
export type Averaging = 'all' | 'selecting';
export const DEFAULT_AVERAGING: Averaging = 'all';

export interface AggregateResult {
  /** One dense flat Float32Array per layout tensor. */
  tensors: Float32Array[];
  /** Positions (in the decision's order) of payloads skipped because a decoded value is not finite. */
  skippedPeers: number[];
  /** The clipping factor min(1, median/norm) applied to each peer's tensor; NaN for skipped peers. */
  clipFactors: number[][];
}

function checkUpdateMatchesLayout(update: CompressedUpdate, peer: number, layout: readonly TensorSpec[]): void {
  if (update.tensors.length !== layout.length) {
    throw new RangeError(
      `aggregate: peer ${peer}'s update has ${update.tensors.length} tensors, the layout ${layout.length}; decode payloads with decodeUpdate first`,
    );
  }
  layout.forEach((spec, i) => {
    const g = chunkGeometry(spec.shape);
    const t = update.tensors[i]!;
    if (
      t.numChunks !== g.numChunks ||
      t.chunkSize !== g.chunkSize ||
      t.k !== g.k ||
      t.codes.length !== g.numChunks * g.k ||
      t.indices.length !== t.codes.length
    ) {
      throw new RangeError(
        `aggregate: peer ${peer}'s tensor '${spec.name}' does not match its chunking ${g.numChunks}×${g.chunkSize} k=${g.k}`,
      );
    }
  });
}

/**
 * Aggregates `updates` (in the decision's order) over `layout`. A peer any of whose decoded values
 * is not finite is skipped entirely. With no usable peer the result is all zeros.
 */
export function aggregateUpdates(
  updates: readonly CompressedUpdate[],
  layout: readonly TensorSpec[],
  averaging: Averaging = DEFAULT_AVERAGING,
): AggregateResult {
  if (averaging !== 'all' && averaging !== 'selecting')
    throw new RangeError(`aggregate: averaging must be 'all' or 'selecting', not '${String(averaging)}'`);
  updates.forEach((u, p) => checkUpdateMatchesLayout(u, p, layout));

  // norms[p][t]; a NaN anywhere marks the whole payload as unusable.
  const norms = updates.map((u) => u.tensors.map(decodedNorm));
  const skippedPeers: number[] = [];
  norms.forEach((peerNorms, p) => {
    if (peerNorms.some(Number.isNaN)) skippedPeers.push(p);
  });
  const used = updates.map((_, p) => !skippedPeers.includes(p));
  const clipFactors = updates.map(() => layout.map(() => NaN));

  const tensors = layout.map((spec, t) => {
    const geometry = chunkGeometry(spec.shape);
    const out = new Float32Array(elementCount(spec.shape));
    const peers = updates.map((_, p) => p).filter((p) => used[p]);
    if (peers.length === 0) return out;

    const median = lowerMedian(peers.map((p) => norms[p]![t]!));
    for (const p of peers) {
      const norm = norms[p]![t]!;
      clipFactors[p]![t] = norm > median ? median / norm : 1;
    }

    const sums = new Float64Array(geometry.chunkSize);
    const counts = new Uint32Array(geometry.chunkSize);
    const flat = new Uint32Array(geometry.chunkSize);
    for (let c = 0; c < geometry.numChunks; c++) {
      chunkFlatIndices(geometry, c, flat);
      for (const p of peers) {
        const tensor = updates[p]!.tensors[t]!;
        const clip = clipFactors[p]![t]!;
        for (let j = c * tensor.k; j < (c + 1) * tensor.k; j++) {
          const index = tensor.indices[j]!;
          sums[index]! += decodeValue(tensor, tensor.codes[j]!) * clip;
          counts[index]!++;
        }
      }
      for (let i = 0; i < geometry.chunkSize; i++) {
        if (counts[i] === 0) continue;
        out[flat[i]!] = sums[i]! / (averaging === 'selecting' ? counts[i]! : peers.length);
        sums[i] = 0;
        counts[i] = 0;
      }
    }
    return out;
  });
  return { tensors, skippedPeers, clipFactors };
}
