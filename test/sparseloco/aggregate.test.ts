// Aggregation of a decision's payloads, checked against a straightforward float64 reference that
// densifies every peer's update with its own index arithmetic: norm clipping to the median, the
// mean over all usable peers (or, for the earlier rule, over the peers that selected each index),
// skipping of non-finite payloads.
import { describe, expect, it } from 'vitest';
import { expectAllClose } from '../helpers/allclose.ts';
import { randomUpdate } from './random-update.ts';
import { aggregateUpdates, lowerMedian, type Averaging } from '../../src/sparseloco/aggregate.ts';
import { chunkGeometry } from '../../src/sparseloco/chunking.ts';
import { decompressTensor } from '../../src/sparseloco/compress.ts';
import type { CompressedUpdate, TensorSpecs } from '../../src/sparseloco/types.ts';

const LAYOUT: TensorSpecs = [
  { name: 'tiles', shape: [128, 64] }, // two 64×64 chunks
  { name: 'odd', shape: [100, 48] }, // 50×48 chunks, k = 38
  { name: 'rows', shape: [70] }, // 1-D, chunks of 35, k = 2
  { name: 'prime', shape: [67] }, // chunks of one element, k = 1
];

interface DensePeer {
  values: Float64Array[];
  selected: Uint8Array[];
}

/** Every peer's update as dense float64 tensors, with the chunk → flat mapping written out longhand. */
function densify(update: CompressedUpdate, layout: TensorSpecs): DensePeer {
  const values: Float64Array[] = [];
  const selected: Uint8Array[] = [];
  layout.forEach(({ shape }, t) => {
    const rows = shape.length === 2 ? shape[0]! : 1;
    const cols = shape.length === 2 ? shape[1]! : shape[0]!;
    const g = chunkGeometry(shape);
    const dense = new Float64Array(rows * cols);
    const mask = new Uint8Array(rows * cols);
    const tensor = update.tensors[t]!;
    for (let c = 0; c < g.numChunks; c++) {
      const blockRow = Math.floor(c / (cols / g.chunkCols));
      const blockCol = c % (cols / g.chunkCols);
      for (let j = c * g.k; j < (c + 1) * g.k; j++) {
        const index = tensor.indices[j]!;
        const flat = (blockRow * g.chunkRows + Math.floor(index / g.chunkCols)) * cols + blockCol * g.chunkCols + (index % g.chunkCols);
        // The protocol defines the decoded value in f32: lookup[code] + shift, rounded once, and
        // flushed to zero below the smallest normal f32 (as every GPU does).
        const value = Math.fround(tensor.lookup[tensor.codes[j]!]! + tensor.shift);
        dense[flat] = Math.abs(value) < 2 ** -126 ? 0 : value;
        mask[flat] = 1;
      }
    }
    values.push(dense);
    selected.push(mask);
  });
  return { values, selected };
}

function referenceAggregate(updates: CompressedUpdate[], layout: TensorSpecs, averaging: Averaging): Float64Array[] {
  const peers = updates.map((u) => densify(u, layout)).filter((p) => p.values.every((v) => v.every(Number.isFinite)));
  return layout.map((_, t) => {
    const n = peers[0]?.values[t]!.length ?? 0;
    const out = new Float64Array(n);
    if (peers.length === 0) return out;
    const norms = peers.map((p) => Math.sqrt(p.values[t]!.reduce((s, v) => s + v * v, 0)));
    const sorted = [...norms].sort((a, b) => a - b);
    const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
    const clip = norms.map((norm) => Math.min(1, norm === 0 ? 1 : median / norm));
    for (let i = 0; i < n; i++) {
      let sum = 0;
      let count = 0;
      peers.forEach((p, q) => {
        if (p.selected[t]![i]) {
          sum += p.values[t]![i]! * clip[q]!;
          count++;
        }
      });
      out[i] = count ? sum / (averaging === 'all' ? peers.length : count) : 0;
    }
    return out;
  });
}

// The implementation accumulates in float64 exactly like the reference (same peer order); the
// norms differ only in summation order (~1e-16 relative). What remains is the single rounding of
// each mean to f32: at most half an f32 ulp, 2^-24 relative.
const F32_STORE = { atol: 1e-30, rtol: 2 ** -24 * 1.000001 };

function expectMatchesReference(updates: CompressedUpdate[], result: Float32Array[], averaging: Averaging = 'all'): void {
  const reference = referenceAggregate(updates, LAYOUT, averaging);
  result.forEach((tensor, t) => expectAllClose(tensor, reference[t]!, F32_STORE, `aggregate of '${LAYOUT[t]!.name}'`));
}

describe('aggregateUpdates', () => {
  it('matches the float64 reference, clipping the outsized peer to the median norm', () => {
    // randomUpdate's scale varies ×3 around `magnitude`; these are spread far wider, so the
    // median is one of the first, second or fourth peer and the fifth is clipped hard.
    const magnitudes = [1e-2, 3e-2, 1e-4, 1.2e-2, 10];
    const updates = magnitudes.map((m, p) => randomUpdate(LAYOUT, 100 + p, m));
    const result = aggregateUpdates(updates, LAYOUT);
    expect(result.skippedPeers).toEqual([]);
    expectMatchesReference(updates, result.tensors);
    for (let t = 0; t < LAYOUT.length; t++) {
      expect(result.clipFactors[4]![t]!).toBeLessThan(0.05);
      expect(result.clipFactors[2]![t]!).toBe(1);
    }
  });

  it('divides every index by the number of usable peers; the earlier rule by the peers that selected it', () => {
    const updates = [0, 1, 2, 3].map((p) => randomUpdate(LAYOUT, 700 + p));
    const all = aggregateUpdates(updates, LAYOUT);
    const selecting = aggregateUpdates(updates, LAYOUT, 'selecting');
    expectMatchesReference(updates, all.tensors, 'all');
    expectMatchesReference(updates, selecting.tensors, 'selecting');
    // 'tiles' has 64 of 4096 selected per chunk: most selected indices belong to one peer alone,
    // whose clipped value the earlier rule applies in full and the mean over all peers a quarter of.
    const dense = updates.map((u) => densify(u, LAYOUT));
    const clip = all.clipFactors.map((f) => f[0]!);
    let alone = 0;
    all.tensors[0]!.forEach((v, i) => {
      const by = dense.flatMap((d, p) => (d.selected[0]![i] ? [p] : []));
      if (by.length !== 1) return;
      alone++;
      const value = dense[by[0]!]!.values[0]![i]! * clip[by[0]!]!;
      expect(v).toBe(Math.fround(value / 4));
      expect(selecting.tensors[0]![i]).toBe(Math.fround(value));
    });
    expect(alone).toBeGreaterThan(400);
    expect(() => aggregateUpdates(updates, LAYOUT, 'median' as Averaging)).toThrow(/averaging must be 'all' or 'selecting'/);
  });

  it('takes the lower median for an even number of peers (torch.median, as in the Covenant run)', () => {
    expect(lowerMedian([4, 1, 3, 2])).toBe(2);
    expect(lowerMedian([5])).toBe(5);
    const updates = [1e-4, 1e-3, 1e-2, 1e-1].map((m, p) => randomUpdate(LAYOUT, 200 + p, m));
    const result = aggregateUpdates(updates, LAYOUT);
    expectMatchesReference(updates, result.tensors);
    // Peers 0 and 1 sit at or below the lower median: unclipped; 2 and 3 scaled down to it.
    for (let t = 0; t < LAYOUT.length; t++) expect(result.clipFactors.map((f) => f[t]! < 1)).toEqual([false, false, true, true]);
  });

  it('skips a payload whose decoded values overflow, and gives the others exactly their own aggregate', () => {
    const good = [1, 2, 3].map((p) => randomUpdate(LAYOUT, 300 + p));
    const overflowing = randomUpdate(LAYOUT, 399);
    // Finite parameters (the codec accepts them) whose f32 sum lookup + shift overflows to ∞.
    overflowing.tensors[2] = { ...overflowing.tensors[2]!, shift: 3e38, lookup: Float32Array.of(3e38, 3e38, 3e38, 3e38) };
    const result = aggregateUpdates([good[0]!, overflowing, good[1]!, good[2]!], LAYOUT);
    expect(result.skippedPeers).toEqual([1]);
    expect(result.clipFactors[1]!.every(Number.isNaN)).toBe(true);
    const withoutIt = aggregateUpdates(good, LAYOUT);
    result.tensors.forEach((tensor, t) => expect(tensor).toEqual(withoutIt.tensors[t]));
    expectMatchesReference(good, result.tensors);
  });

  it('gives a single peer its own decompressed update, and no peers an update of zeros', () => {
    const alone = randomUpdate(LAYOUT, 400);
    const result = aggregateUpdates([alone], LAYOUT);
    result.tensors.forEach((tensor, t) => expect(tensor).toEqual(decompressTensor(alone.tensors[t]!, LAYOUT[t]!.shape)));
    const none = aggregateUpdates([], LAYOUT);
    none.tensors.forEach((tensor) => expect(tensor.every((v) => v === 0)).toBe(true));
  });

  it('is bit-identical from run to run and untouched elements stay exactly zero', () => {
    const updates = [0, 1, 2].map((p) => randomUpdate(LAYOUT, 500 + p));
    const first = aggregateUpdates(updates, LAYOUT).tensors;
    const second = aggregateUpdates(
      updates.map((u) => structuredClone(u)),
      LAYOUT,
    ).tensors;
    first.forEach((tensor, t) => expect(new Uint32Array(second[t]!.buffer)).toEqual(new Uint32Array(tensor.buffer)));
    const dense = updates.map((u) => densify(u, LAYOUT));
    first.forEach((tensor, t) => {
      tensor.forEach((v, i) => {
        if (!dense.some((d) => d.selected[t]![i])) expect(v).toBe(0);
      });
    });
  });

  it('refuses an update that does not fit the layout, saying what to do', () => {
    const update = randomUpdate(LAYOUT, 600);
    expect(() => aggregateUpdates([{ tensors: update.tensors.slice(1) }], LAYOUT)).toThrow(
      /3 tensors, the layout 4; decode payloads with decodeUpdate first/,
    );
  });
});
