// A member's GPU utilisation, measured the way Covenant-72B and INTELLECT-1 report theirs: the
// fraction of wall time during which the member had training work on its GPU (inner steps, each
// from zeroGrad to its loss read back), over whole rounds. Everything else counts against it:
// waiting for the round's deadline and decision, the commit's block, downloads, compression,
// encoding and the outer step. A round's wall time runs from the end of the round before (or from
// the join) to the end of this one, so consecutive rounds tile the member's time in the run.

/** Training time inside a stretch of wall time. */
export interface Utilisation {
  trainingMs: number;
  wallMs: number;
  /** trainingMs / wallMs (0 for an empty stretch). */
  fraction: number;
}

function utilisation(trainingMs: number, wallMs: number): Utilisation {
  return { trainingMs, wallMs, fraction: wallMs > 0 ? Math.min(1, trainingMs / wallMs) : 0 };
}

export class UtilisationMeter {
  private readonly started: number;
  private roundStarted: number;
  private trainingMs = 0;

  /** Starts counting now (a member: when it has joined). */
  constructor(private readonly now: () => number = () => performance.now()) {
    this.started = now();
    this.roundStarted = this.started;
  }

  /** A round ended now, in which the GPU trained for `trainingMs`: that round's figure, and the run's so far. */
  roundEnded(trainingMs: number): { round: Utilisation; run: Utilisation } {
    if (!(trainingMs >= 0)) throw new RangeError(`utilisation: a round's training time must be ≥ 0 ms, got ${trainingMs}`);
    const end = this.now();
    const round = utilisation(trainingMs, end - this.roundStarted);
    this.trainingMs += trainingMs;
    this.roundStarted = end;
    return { round, run: utilisation(this.trainingMs, end - this.started) };
  }
}
