// The wall's wording of what a peer says of itself.
import { describe, expect, it } from 'vitest';
import type { WallPeerStatus } from '../../src/run/api.ts';
import { peerStateText } from '../../src/ui/peer-state.ts';

const training: WallPeerStatus = {
  state: 'training',
  reasons: [],
  intensity: 100,
  pressure: 'nominal',
  gpuRecoveries: 0,
  gpuBusy: null,
  at: 0,
  stale: false,
};

describe("the wall's peer state", () => {
  it('says why a peer is paused, in words, and what slows one that trains', () => {
    expect(peerStateText(null)).toBe('');
    expect(peerStateText(training)).toBe('training');
    expect(peerStateText({ ...training, intensity: 30, pressure: 'serious' })).toBe('training at 30%; serious pressure');
    expect(peerStateText({ ...training, gpuBusy: 873 })).toBe('training; GPU busy 87.3%');
    expect(peerStateText({ ...training, state: 'left', gpuBusy: 873 })).toBe('left');
    expect(peerStateText({ ...training, state: 'paused', reasons: ['battery', 'heat'], pressure: 'critical', gpuRecoveries: 2 })).toBe(
      'paused: on battery, too hot; critical pressure; 2 GPU recoveries',
    );
    expect(peerStateText({ ...training, state: 'paused', reasons: ['cap'], stale: true })).toBe(
      'paused: at its data cap (said over 5 minutes ago)',
    );
  });
});
