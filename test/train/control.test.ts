// The training loop's control: pause holds the loop between steps until resumed, cancel ends it,
// and the duty cycle rests in proportion to the work just done (a fake clock, no real waiting
// asserted).
import { describe, expect, it } from 'vitest';
import { TrainingControl } from '../../src/train/control.ts';

describe('TrainingControl', () => {
  it('holds a paused loop between steps until resumed, and a cancel ends it', async () => {
    const control = new TrainingControl();
    expect(await control.checkpoint()).toBe(true);
    control.pause();
    let passed = false;
    const next = control.checkpoint().then((go) => ((passed = true), go));
    await new Promise((r) => setTimeout(r, 20));
    expect(passed).toBe(false);
    control.resume();
    expect(await next).toBe(true);
    control.pause();
    const held = control.checkpoint();
    control.cancel();
    expect(await held).toBe(false);
  });

  it('rests (1 - d) / d of the last step before the next at duty cycle d', async () => {
    let clock = 0;
    const control = new TrainingControl(() => clock);
    const sleeps: number[] = [];
    const realSetTimeout = globalThis.setTimeout;
    // Each requested rest advances the fake clock by exactly that long.
    globalThis.setTimeout = ((fn: () => void, ms: number) => {
      sleeps.push(ms);
      clock += ms;
      return realSetTimeout(fn, 0);
    }) as typeof setTimeout;
    try {
      control.setDutyCycle(0.25);
      await control.checkpoint(); // first step: nothing worked yet, no rest
      clock += 100; // a 100 ms step
      await control.checkpoint();
      expect(sleeps).toEqual([300]);
      control.setDutyCycle(1);
      clock += 100;
      await control.checkpoint();
      expect(sleeps).toEqual([300]);
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
    expect(() => control.setDutyCycle(0)).toThrow(RangeError);
    expect(() => control.setDutyCycle(1.5)).toThrow(RangeError);
  });
});
