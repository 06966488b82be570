// The x axis of every loss chart counts steps or rounds: whole numbers. uPlot's default tick
// spacings include 0.5 and smaller, so a chart of a few rounds was labelled 0.5, 1.5, …, which
// are no rounds at all; these spacings and labels keep every tick on a whole number.

/** Tick spacings 1, 2, 5 × 10^k, for k = 0..9 (uPlot picks the smallest that leaves room for labels). */
export const WHOLE_NUMBER_INCREMENTS: readonly number[] = Array.from({ length: 10 }, (_, k) => [1, 2, 5].map((m) => m * 10 ** k)).flat();

/** Labels for whole-number ticks: plain digits, no grouping or decimals. */
export function wholeNumberLabels(splits: readonly number[]): string[] {
  return splits.map((v) => String(Math.round(v)));
}
