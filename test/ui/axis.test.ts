// The loss charts' x axis (steps, rounds) ticks on whole numbers only.
import { describe, expect, it } from 'vitest';
import { WHOLE_NUMBER_INCREMENTS, wholeNumberLabels } from '../../src/ui/axis.ts';

describe("the loss charts' x axis", () => {
  it('offers only whole-number tick spacings, ascending from 1, so a tick never falls between two rounds', () => {
    expect(WHOLE_NUMBER_INCREMENTS[0]).toBe(1);
    for (const [i, incr] of WHOLE_NUMBER_INCREMENTS.entries()) {
      expect(Number.isInteger(incr)).toBe(true);
      if (i > 0) expect(incr).toBeGreaterThan(WHOLE_NUMBER_INCREMENTS[i - 1]!);
    }
    // uPlot places ticks at the multiples of the chosen spacing inside the data's range (whole rounds here).
    for (const incr of WHOLE_NUMBER_INCREMENTS.slice(0, 6)) {
      const [min, max] = [3, 97];
      for (let v = Math.ceil(min / incr) * incr; v <= max; v += incr) expect(Number.isInteger(v)).toBe(true);
    }
  });

  it('labels a tick with its whole number', () => {
    expect(wholeNumberLabels([0, 1, 2, 10, 1000])).toEqual(['0', '1', '2', '10', '1000']);
  });
});
