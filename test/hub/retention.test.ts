// The retention policy without a hub (src/hub/retention.ts): which checkpoints a hub keeps and from
// which round it keeps payloads and records, as the run goes on.
import { describe, expect, it } from 'vitest';
import { retentionPlan } from '../../src/hub/retention.ts';
import type { CheckpointRef } from '../../src/run/api.ts';

const checkpoint = (round: number): CheckpointRef => ({ round, objectHash: round.toString(16).padStart(64, '0'), modelHash: '', bytes: 1 });
const every = (to: number) => Array.from({ length: to + 1 }, (_, r) => checkpoint(r));

describe('retention', () => {
  it('keeps everything early on: rounds from 0, checkpoint 0 and the newest two', () => {
    expect(retentionPlan(7, 10, every(7))).toEqual({ fromRound: 0, keep: [0, 6, 7].map(checkpoint) });
  });

  it('keeps the base checkpoint at or before w − K, the bases after it and the newest two; rounds from the base', () => {
    // w = 47, K = 10: the base is 30 (the last multiple of 10 at or before 37), then 40, then 46 and 47.
    expect(retentionPlan(47, 10, every(47))).toEqual({ fromRound: 30, keep: [30, 40, 46, 47].map(checkpoint) });
    // Whatever the run's length, at most 4 checkpoints and 2K rounds.
    for (let w = 0; w < 500; w++) {
      const { fromRound, keep } = retentionPlan(w, 10, every(w));
      expect(keep.length).toBeLessThanOrEqual(4);
      expect(w - fromRound).toBeLessThanOrEqual(20);
      expect(w - fromRound).toBeGreaterThanOrEqual(Math.min(w, 10));
    }
  });

  it('falls back to the newest checkpoint before the base when the base round has none (a data dir written under another K)', () => {
    const sparse = [0, 7, 14, 21, 28, 35].map(checkpoint);
    expect(retentionPlan(35, 10, sparse)).toEqual({ fromRound: 14, keep: [14, 28, 35].map(checkpoint) });
  });
});
