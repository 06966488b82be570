// The inner learning-rate schedule: linear warmup to the peak, then cosine down to a floor
// (0.1 × peak in the Covenant run).

export interface LrSchedule {
  peak: number;
  warmupSteps: number;
  totalSteps: number;
  /** The floor as a fraction of the peak. */
  minRatio: number;
}

/** Learning rate for 1-based step `step`. */
export function learningRate(s: LrSchedule, step: number): number {
  if (step <= s.warmupSteps) return (s.peak * step) / Math.max(1, s.warmupSteps);
  const decaySteps = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / decaySteps);
  const floor = s.peak * s.minRatio;
  return floor + 0.5 * (s.peak - floor) * (1 + Math.cos(Math.PI * progress));
}
