// Chunk geometry: every preset's tensor shapes, odd shapes, and flatIndex covering each element once.
import { describe, expect, it } from 'vitest';
import { chunkFlatIndices, chunkGeometry, chunkK, flatIndex, largestDivisorAtMost } from '../../src/sparseloco/chunking.ts';

describe('chunkGeometry', () => {
  // [shape, chunkRows, chunkCols, numChunks, chunkSize, k]; 50257 = 29 · 1733, so the vocabulary
  // dimension is cut into 29-row blocks (chunk 29 · 64 = 1856, k = 64 · 1856 / 4096 = 29 → 30).
  const cases: [number[], number, number, number, number, number][] = [
    // tiny
    [[256, 64], 64, 64, 4, 4096, 64],
    [[64, 64], 64, 64, 1, 4096, 64],
    [[192, 64], 64, 64, 3, 4096, 64],
    [[64, 192], 64, 64, 3, 4096, 64],
    [[64], 1, 64, 1, 64, 2],
    // small
    [[50257, 384], 29, 64, 1733 * 6, 1856, 30],
    [[384, 384], 64, 64, 36, 4096, 64],
    [[1024, 384], 64, 64, 96, 4096, 64],
    [[384, 1024], 64, 64, 96, 4096, 64],
    [[384], 1, 64, 6, 64, 2],
    // base
    [[50257, 768], 29, 64, 1733 * 12, 1856, 30],
    [[768, 768], 64, 64, 144, 4096, 64],
    [[2048, 768], 64, 64, 384, 4096, 64],
    [[768, 2048], 64, 64, 384, 4096, 64],
    [[768], 1, 64, 12, 64, 2],
  ];
  for (const [shape, chunkRows, chunkCols, numChunks, chunkSize, k] of cases) {
    it(`[${shape.join(', ')}] → ${chunkRows}×${chunkCols}, ${numChunks} chunks, k=${k}`, () => {
      const g = chunkGeometry(shape);
      expect({ chunkRows: g.chunkRows, chunkCols: g.chunkCols, numChunks: g.numChunks, chunkSize: g.chunkSize, k: g.k }).toEqual({
        chunkRows,
        chunkCols,
        numChunks,
        chunkSize,
        k,
      });
    });
  }

  it('keeps density 64/4096 as an even k in [2, chunkSize], except a 1-element chunk', () => {
    expect(chunkK(4096)).toBe(64);
    expect(chunkK(2048)).toBe(32);
    expect(chunkK(1)).toBe(1);
    expect(chunkK(2)).toBe(2);
    expect(chunkK(3)).toBe(2);
    for (let size = 2; size <= 4096; size++) {
      const k = chunkK(size);
      expect(k % 2).toBe(0);
      expect(k).toBeGreaterThanOrEqual(2);
      expect(k).toBeLessThanOrEqual(size);
      if (k > 2) expect(Math.abs(k - (size * 64) / 4096)).toBeLessThanOrEqual(1);
    }
  });

  it('cuts a side with no divisor in 2..64 into 1-wide blocks', () => {
    expect(largestDivisorAtMost(67, 64)).toBe(1);
    expect(chunkGeometry([67])).toMatchObject({ chunkRows: 1, chunkCols: 1, numChunks: 67, chunkSize: 1, k: 1 });
    expect(chunkGeometry([10, 130])).toMatchObject({ chunkRows: 10, chunkCols: 26, numChunks: 5, chunkSize: 260 });
  });

  it('rejects shapes it cannot chunk, saying which', () => {
    expect(() => chunkGeometry([2, 3, 4])).toThrow(/1-D and 2-D/);
    expect(() => chunkGeometry([0, 4])).toThrow(/positive integer/);
  });
});

describe('flatIndex', () => {
  for (const shape of [[6, 10], [35], [50, 30], [128, 192], [67], [1, 1]]) {
    it(`visits every element of [${shape.join(', ')}] exactly once, in tiles`, () => {
      const g = chunkGeometry(shape);
      const seen = new Uint8Array(g.rows * g.cols);
      const viaHotLoop = new Uint32Array(g.chunkSize);
      for (let chunk = 0; chunk < g.numChunks; chunk++) {
        chunkFlatIndices(g, chunk, viaHotLoop);
        for (let j = 0; j < g.chunkSize; j++) {
          const at = flatIndex(g, shape, chunk, j);
          expect(at).toBe(viaHotLoop[j]);
          seen[at]!++;
          // The element sits inside the chunk's block: row-major blocks, row-major inside.
          const row = Math.floor(at / g.cols);
          const col = at % g.cols;
          expect(Math.floor(row / g.chunkRows) * g.blocksPerRow + Math.floor(col / g.chunkCols)).toBe(chunk);
          expect((row % g.chunkRows) * g.chunkCols + (col % g.chunkCols)).toBe(j);
        }
      }
      expect(seen.every((c) => c === 1)).toBe(true);
    });
  }

  it('names the block order: chunk 1 of [128, 192] starts at column 64 of row 0', () => {
    const g = chunkGeometry([128, 192]);
    expect(flatIndex(g, [128, 192], 1, 0)).toBe(64);
    expect(flatIndex(g, [128, 192], 3, 0)).toBe(64 * 192);
    expect(flatIndex(g, [128, 192], 0, 64)).toBe(192);
  });
});
