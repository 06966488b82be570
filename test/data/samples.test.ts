// Sample assignment: recomputable from the documented rule, deterministic, different per
// hotkey / round / run, in range even at the edges, and close to uniform.
import { blake3 } from '@noble/hashes/blake3.js';
import { describe, expect, it } from 'vitest';
import { gatherWindows, heldOutWindows, sampleSeed, samples, seededWindowStarts } from '../../src/data/samples.ts';

const HOTKEY = '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY';
const OTHER_HOTKEY = '5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty';

/** The rule as samples.ts documents it, written out independently with BigInt and byte arrays. */
function referenceStarts(runId: string, round: number, hotkey: string, n: number, seqLen: number, tokenCount: number): number[] {
  const utf8 = (s: string) => Array.from(new TextEncoder().encode(s));
  const u32le = (x: number) => [x & 255, (x >>> 8) & 255, (x >>> 16) & 255, (x >>> 24) & 255];
  const field = (s: string) => [...u32le(utf8(s).length), ...utf8(s)];
  const u64le = (x: bigint) => Array.from({ length: 8 }, (_, i) => Number((x >> BigInt(8 * i)) & 255n));
  const seed = blake3(Uint8Array.from([...utf8('webloco/samples/v1'), ...field(runId), ...u64le(BigInt(round)), ...field(hotkey)]));
  const range = BigInt(tokenCount - seqLen);
  const limit = 2n ** 32n - (2n ** 32n % range);
  const starts: number[] = [];
  for (let counter = 0; starts.length < n; counter++) {
    const block = blake3(Uint8Array.from([...seed, ...u32le(counter)]));
    for (let w = 0; w < 32 && starts.length < n; w += 4) {
      const word = BigInt(block[w]! + 256 * (block[w + 1]! + 256 * (block[w + 2]! + 256 * block[w + 3]!)));
      if (word < limit) starts.push(Number(word % range));
    }
  }
  return starts;
}

describe('samples()', () => {
  it('follows the documented rule exactly, so a validator can recompute it', () => {
    for (const [n, seqLen, tokens] of [
      [12, 64, 5_733_814],
      [9, 255, 1000],
      [5, 3, 5],
    ] as const) {
      expect(samples('brown-tiny-1', 42, HOTKEY, n, seqLen, tokens)).toEqual(
        referenceStarts('brown-tiny-1', 42, HOTKEY, n, seqLen, tokens),
      );
    }
    // A range that forces rejections (2^32 mod 3_000_000_017 is large) still matches.
    expect(samples('r', 1, HOTKEY, 20, 1, 3_000_000_018)).toEqual(referenceStarts('r', 1, HOTKEY, 20, 1, 3_000_000_018));
  });

  it('is deterministic and differs across hotkeys, rounds and runs', () => {
    const base = samples('run-a', 7, HOTKEY, 16, 128, 1_000_000);
    expect(samples('run-a', 7, HOTKEY, 16, 128, 1_000_000)).toEqual(base);
    expect(samples('run-a', 7, OTHER_HOTKEY, 16, 128, 1_000_000)).not.toEqual(base);
    expect(samples('run-a', 8, HOTKEY, 16, 128, 1_000_000)).not.toEqual(base);
    expect(samples('run-b', 7, HOTKEY, 16, 128, 1_000_000)).not.toEqual(base);
    // Asking for more windows extends the list without changing the first ones.
    expect(samples('run-a', 7, HOTKEY, 40, 128, 1_000_000).slice(0, 16)).toEqual(base);
    // Field lengths are hashed: ("ab", "c") and ("a", "bc") are different peers.
    expect(sampleSeed('ab', 0, 'c')).not.toEqual(sampleSeed('a', 0, 'bc'));
  });

  it('keeps every window inside the split, including the tightest fits', () => {
    for (const [seqLen, tokens] of [
      [64, 65],
      [64, 66],
      [7, 1000],
      [255, 4099],
    ] as const) {
      const starts = samples('edge', 3, HOTKEY, 500, seqLen, tokens);
      expect(starts).toHaveLength(500);
      for (const s of starts) {
        expect(Number.isInteger(s)).toBe(true);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s + seqLen + 1).toBeLessThanOrEqual(tokens);
      }
    }
    expect(new Set(samples('edge', 3, HOTKEY, 100, 64, 66))).toEqual(new Set([0, 1]));
    expect(() => samples('edge', 3, HOTKEY, 1, 64, 64)).toThrow(/does not fit in a split of 64 tokens/);
    expect(() => samples('edge', -1, HOTKEY, 1, 4, 64)).toThrow(/round must be a non-negative integer/);
  });

  it('is close to uniform over the possible starts', () => {
    // 20 000 draws over 10 buckets: each bucket's count is Binomial(20000, 0.1), sd ≈ 42, so
    // ±300 (over 7 sd) can only fail if the sampler is biased.
    const counts = new Array<number>(10).fill(0);
    for (const s of seededWindowStarts(sampleSeed('uniform', 0, HOTKEY), 20_000, 9, 1009)) counts[Math.floor(s / 100)]!++;
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(300);
  });
});

describe('heldOutWindows() and gatherWindows()', () => {
  it('gives fixed held-out windows and gathers seqLen + 1 tokens per window as u32', () => {
    const tokens = Uint16Array.from({ length: 5003 }, (_, i) => (i * 7919) % 50257);
    const starts = heldOutWindows(6, 31, tokens.length);
    expect(heldOutWindows(6, 31, tokens.length)).toEqual(starts);
    expect(starts).not.toEqual(samples('any', 0, HOTKEY, 6, 31, tokens.length));
    const windows = gatherWindows(tokens, starts, 31);
    expect(windows).toBeInstanceOf(Uint32Array);
    expect(windows.length).toBe(6 * 32);
    starts.forEach((start, row) =>
      expect(Array.from(windows.subarray(row * 32, row * 32 + 32))).toEqual(Array.from(tokens.subarray(start, start + 32))),
    );
    expect(() => gatherWindows(tokens, [tokens.length - 31], 31)).toThrow(/outside the 5003-token split/);
  });
});
