// The swarm dashboard's reducer: the participant's statuses map onto the timeline's six phases,
// steps are counted per round, saved rounds add held-out points, pausing survives a new join, and
// a lost GPU is counted and timed while the dashboard keeps what the tab had done.
import { describe, expect, it } from 'vitest';
import { initialSwarm, swarmReducer, type SwarmAction, type SwarmState } from '../../src/ui/swarm-state.ts';

const run = (actions: SwarmAction[], from: SwarmState = initialSwarm) => actions.reduce(swarmReducer, from);
const step = (n: number): SwarmAction => ({ type: 'step', step: { step: n, loss: 5 - n / 10, tokensPerSecond: 100 } });

describe('swarm dashboard state', () => {
  it('follows a round through sync, train, compress, upload, decision and apply', () => {
    const phases: (string | null)[] = [];
    let s = run([{ type: 'join' }, { type: 'progress', progress: 'connecting' }]);
    phases.push(s.roundPhase);
    for (const a of [
      { type: 'status', status: { phase: 'training', round: 3 } },
      step(1),
      step(2),
      { type: 'compress' },
      { type: 'status', status: { phase: 'submitting', round: 3 } },
      { type: 'status', status: { phase: 'waiting', round: 3 } },
      { type: 'status', status: { phase: 'applying', round: 3 } },
    ] as SwarmAction[]) {
      s = swarmReducer(s, a);
      if (a.type !== 'step') phases.push(s.roundPhase);
    }
    expect(phases).toEqual(['sync', 'train', 'compress', 'upload', 'decision', 'apply']);
    expect(s.stepsThisRound).toBe(2);
    expect(s.losses.map((p) => p.step)).toEqual([1, 2]);
    // The next round starts its step count over; the loss history goes on.
    s = run([{ type: 'status', status: { phase: 'training', round: 4 } }, step(3)], s);
    expect(s.stepsThisRound).toBe(1);
    expect(s.losses).toHaveLength(3);
  });

  it('adds a held-out point for every saved round, at the step it was reached', () => {
    const s = run([
      { type: 'join' },
      { type: 'saved', saved: { round: 4, modelHash: 'ab', step: 12, heldOutLoss: 5.2, errorFeedbackHash: 'cd' } },
    ]);
    expect(s.heldOut).toEqual([{ step: 12, loss: 5.2 }]);
    expect(s.saved?.errorFeedbackHash).toBe('cd');
  });

  it('keeps a pause across a new join, and forgets it on leaving', () => {
    const paused = run([{ type: 'paused', paused: true }, { type: 'join' }]);
    expect(paused.paused).toBe(true);
    expect(run([{ type: 'left' }], paused).paused).toBe(false);
    expect(run([{ type: 'failed', message: 'x' }, { type: 'left' }], paused).phase).toBe('error');
  });

  it('counts a lost GPU and its recovery, keeping the rounds and saved state shown through the rejoin', () => {
    const saved = { round: 4, modelHash: 'ab', step: 12, heldOutLoss: 5.2, errorFeedbackHash: 'cd' };
    const before = run([{ type: 'join' }, { type: 'status', status: { phase: 'training', round: 4 } }, step(13), { type: 'saved', saved }]);
    const lost = run(
      [
        { type: 'gpu-lost', reason: 'unknown: GPU process gone' },
        { type: 'join', recovering: true },
      ],
      before,
    );
    expect(lost.gpu).toEqual({ lost: 1, recovered: 0, recovering: true, reason: 'unknown: GPU process gone', lastMs: null });
    expect(lost.phase).toBe('joining');
    expect(lost.saved).toEqual(saved);
    expect(lost.losses).toEqual(before.losses);
    expect(lost.stepsThisRound).toBe(0);
    const back = run([{ type: 'gpu-recovered', ms: 5400 }], lost);
    expect(back.gpu).toMatchObject({ lost: 1, recovered: 1, recovering: false, lastMs: 5400 });
    // A second loss counts on; a plain new join keeps the counts but not the old run's history.
    const again = run(
      [
        { type: 'gpu-lost', reason: 'x' },
        { type: 'failed', message: 'no saved session' },
      ],
      back,
    );
    expect(again.gpu).toMatchObject({ lost: 2, recovered: 1, recovering: false });
    const fresh = run([{ type: 'join' }], again);
    expect(fresh.gpu).toEqual(again.gpu);
    expect(fresh.saved).toBeNull();
  });
});
