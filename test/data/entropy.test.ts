// Unigram entropy against cases with a closed form.
import { describe, expect, it } from 'vitest';
import { unigramEntropyNats } from '../../src/data/entropy.ts';

describe('unigramEntropyNats', () => {
  it('matches closed forms', () => {
    // Exact in float64 up to the rounding of a 256-term sum: 1e-12 is far above that.
    expect(
      unigramEntropyNats(
        Uint8Array.from({ length: 1024 }, (_, i) => i % 256),
        256,
      ),
    ).toBeCloseTo(Math.log(256), 12);
    expect(unigramEntropyNats([5, 5, 5], 256)).toBe(0);
    // p = (1/4, 3/4): −(¼ln¼ + ¾ln¾).
    expect(unigramEntropyNats([0, 1, 1, 1], 2)).toBeCloseTo(-(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75)), 12);
  });

  it('rejects ids outside the vocabulary and empty input', () => {
    expect(() => unigramEntropyNats([1, 256], 256)).toThrow(/token 256 at position 1 is outside the vocabulary \[0, 256\)/);
    expect(() => unigramEntropyNats([], 256)).toThrow(/empty/);
  });
});
