// The utilisation meter on a clock the test moves: rounds tile the member's time from its join,
// so every wait between two rounds' training counts against the figure, and the run's figure is
// the training summed over the wall time summed.
import { describe, expect, it } from 'vitest';
import { UtilisationMeter } from '../../src/run/utilisation.ts';

describe('UtilisationMeter', () => {
  it("a round's wall time runs from the end of the round before; the run's from the join", () => {
    let now = 1000;
    const meter = new UtilisationMeter(() => now);
    now += 10_000; // trained 6 s, then waited for the deadline and decision
    expect(meter.roundEnded(6_000)).toEqual({
      round: { trainingMs: 6_000, wallMs: 10_000, fraction: 0.6 },
      run: { trainingMs: 6_000, wallMs: 10_000, fraction: 0.6 },
    });
    now += 20_000; // a round in which it trained 19 s
    expect(meter.roundEnded(19_000)).toEqual({
      round: { trainingMs: 19_000, wallMs: 20_000, fraction: 0.95 },
      run: { trainingMs: 25_000, wallMs: 30_000, fraction: 25 / 30 },
    });
    now += 5_000; // caught up without training
    expect(meter.roundEnded(0).round.fraction).toBe(0);
    expect(meter.roundEnded(0).round).toEqual({ trainingMs: 0, wallMs: 0, fraction: 0 });
  });

  it('refuses a negative or missing training time', () => {
    const meter = new UtilisationMeter(() => 0);
    expect(() => meter.roundEnded(-1)).toThrow(RangeError);
    expect(() => meter.roundEnded(Number.NaN)).toThrow(/≥ 0 ms/);
  });
});
