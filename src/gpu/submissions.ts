// Bounded submissions: the runtime cuts recorded work into queue submits that each fit a time
// budget (250 ms by default). Windows resets a GPU whose work runs past 2 s (TDR) and browsers
// expect no submission to hog the GPU. Each dispatch gets an estimated cost in units (its stated
// FLOPs and bytes, plus a fixed share); this planner learns how many milliseconds a unit takes
// from the submissions the runtime measures, each dispatch of a submission taking its estimated
// share of the measured time: per kernel and shape, per kernel for shapes not yet measured, per
// kind of work for kernels not yet measured. It says where to submit and how many slices a
// launcher should cut an oversized dispatch into. Where a submission falls never changes a
// result: the dispatches and their order stay the same.

/** What the recorded work is for; each kind is calibrated and reported on its own. */
export type WorkKind = 'training step' | 'evaluate' | 'compress' | 'other';

const WORK_KINDS: readonly WorkKind[] = ['training step', 'evaluate', 'compress', 'other'];

/** The default budget: an eighth of Windows' 2 s TDR limit, with room for a browser's other work. */
export const DEFAULT_SUBMISSION_BUDGET_MS = 250;

/** Submissions are planned to this fraction of the budget, so an estimate off by up to 2× still fits. */
const FILL = 0.5;
/** One byte a dispatch must move costs as much as this many FLOPs (GPUs do 5–15 FLOPs per byte). */
const BYTE_UNITS = 4;
/** Every dispatch costs at least this (launch, barriers, a cost-less dispatch): a few µs on a GPU. */
const DISPATCH_UNITS = 1e5;
/**
 * Milliseconds per unit before a kind has been measured: 50 GFLOP/s, a weak integrated GPU. A
 * faster GPU splits its first step more than it needs to, once; a software adapter (SwiftShader
 * here runs the matmuls at 0.2 GFLOP/s) overruns the budget in its first step and then adapts.
 */
const PRIOR_MS_PER_UNIT = 1 / 50e6;
/** Measured submissions are pooled until they span this long, so timer resolution does not skew the rate. */
const MIN_SAMPLE_MS = 1;
/**
 * Rates remembered per kernel and per kind. An estimate uses the second largest (the largest while
 * there are fewer than four): a slow moment (a clock ramping up, another process on the GPU) errs
 * on the side of smaller submissions for a while, and a single stall (a software adapter's thread
 * descheduled) does not.
 */
const WINDOW = 16;
/** The most slices a launcher is asked to cut one dispatch into. */
const MAX_SLICES = 4096;

/** The cost units of one dispatch from the FLOPs and bytes its launcher states. */
export function dispatchUnits(flops = 0, bytes = 0): number {
  return flops + BYTE_UNITS * bytes + DISPATCH_UNITS;
}

/** One measured submission. */
export interface SubmissionRecord {
  kind: WorkKind;
  ms: number;
  /** What the planner expected it to take. */
  estimatedMs: number;
  dispatches: number;
  /** The label of its costliest dispatch (by estimate): the one to look at when a single dispatch overruns. */
  heaviest: string;
}

/** One submission's work as it is recorded: what the planner judges it by and learns from. */
export class SubmissionWork {
  dispatches = 0;
  units = 0;
  estimatedMs = 0;
  heaviest = '';
  private heaviestMs = -1;
  /** Units and estimated time per kernel label, and per kernel label and shape. */
  readonly kernels = new Map<string, { units: number; estimatedMs: number }>();
  readonly shapes = new Map<string, { units: number; estimatedMs: number }>();

  constructor(readonly kind: WorkKind) {}

  add(label: string, shape: string | undefined, units: number, estimatedMs: number): void {
    this.dispatches++;
    this.units += units;
    this.estimatedMs += estimatedMs;
    if (estimatedMs > this.heaviestMs) {
      this.heaviest = label;
      this.heaviestMs = estimatedMs;
    }
    tally(this.kernels, label, units, estimatedMs);
    if (shape !== undefined) tally(this.shapes, shapeKey(label, shape), units, estimatedMs);
  }
}

function tally(map: Map<string, { units: number; estimatedMs: number }>, key: string, units: number, estimatedMs: number): void {
  const k = map.get(key);
  if (k) {
    k.units += units;
    k.estimatedMs += estimatedMs;
  } else {
    map.set(key, { units, estimatedMs });
  }
}

function shapeKey(label: string, shape: string): string {
  return `${label} ${shape}`;
}

export interface KindStats {
  submissions: number;
  dispatches: number;
  /** Sum of the measured submissions' times. */
  ms: number;
  /** Submissions that ran past the budget, and how many of them had each kernel as their heaviest. */
  overBudget: number;
  overBudgetKernels: Record<string, number>;
  longest: SubmissionRecord | null;
}

export interface SubmissionStats {
  budgetMs: number;
  /** How submissions were timed: GPU timestamps, or wall time from submit to onSubmittedWorkDone. */
  source: 'timestamp' | 'wall';
  longest: SubmissionRecord | null;
  kinds: Record<WorkKind, KindStats>;
}

function emptyKindStats(): KindStats {
  return { submissions: 0, dispatches: 0, ms: 0, overBudget: 0, overBudgetKernels: {}, longest: null };
}

/** Recent observed rates (ms per unit) of one kernel or kind, with measurements too short to count alone. */
class Calibration {
  private readonly rates: number[] = [];
  private pendingMs = 0;
  private pendingUnits = 0;

  get rate(): number | null {
    if (this.rates.length === 0) return null;
    const sorted = [...this.rates].sort((a, b) => b - a);
    return sorted[this.rates.length < 4 ? 0 : 1]!;
  }

  /** Pools short measurements until they span MIN_SAMPLE_MS, so timer resolution does not skew the rate. */
  observe(ms: number, units: number, alone: boolean): void {
    this.pendingMs += ms;
    this.pendingUnits += units;
    if (this.pendingMs < MIN_SAMPLE_MS && !alone) return;
    this.rates.push(this.pendingMs / this.pendingUnits);
    if (this.rates.length > WINDOW) this.rates.shift();
    this.pendingMs = 0;
    this.pendingUnits = 0;
  }
}

export class SubmissionPlanner {
  private readonly kinds = new Map<WorkKind, Calibration>();
  private readonly kernels = new Map<string, Calibration>();
  private readonly shapes = new Map<string, Calibration>();
  private stats: Record<WorkKind, KindStats> = this.emptyStats();
  private budget = DEFAULT_SUBMISSION_BUDGET_MS;

  /** `budgetMs`: Infinity never splits (the unsplit run); submissions are still measured. */
  constructor(budgetMs: number) {
    this.budgetMs = budgetMs;
  }

  get budgetMs(): number {
    return this.budget;
  }

  /** A new budget applies from the next dispatch on; what was learned about the device stays. */
  set budgetMs(ms: number) {
    if (!(ms > 0)) throw new Error(`submission budget must be > 0 ms (Infinity: never split), got ${ms}`);
    this.budget = ms;
  }

  get splits(): boolean {
    return Number.isFinite(this.budget);
  }

  /** The estimated time a submission is filled to. */
  get targetMs(): number {
    return this.budget * FILL;
  }

  /** Estimated GPU time of a dispatch of `units` of kernel `label` (for an operation of `shape`) in `kind`'s work. */
  estimateMs(kind: WorkKind, label: string, shape: string | undefined, units: number): number {
    const rate = (shape !== undefined ? this.shapes.get(shapeKey(label, shape))?.rate : null) ?? this.kernels.get(label)?.rate;
    return units * (rate ?? this.kindRate(kind));
  }

  /** Whether a submission estimated at `ms` overruns its target. */
  overruns(ms: number): boolean {
    return this.splits && ms > this.targetMs;
  }

  /** How many dispatches to cut one of `units` into so each fits a submission (1: it fits). */
  slices(kind: WorkKind, label: string, shape: string | undefined, units: number): number {
    if (!this.splits) return 1;
    return Math.min(MAX_SLICES, Math.max(1, Math.ceil(this.estimateMs(kind, label, shape, units) / this.targetMs)));
  }

  /** A kind's rate; before its first measurement, the largest of the other kinds' (the kernels are the same), else the prior. */
  private kindRate(kind: WorkKind): number {
    const own = this.kinds.get(kind)?.rate;
    if (own) return own;
    let other = 0;
    for (const c of this.kinds.values()) other = Math.max(other, c.rate ?? 0);
    return other > 0 ? other : PRIOR_MS_PER_UNIT;
  }

  /**
   * Records a measured submission: statistics, its kind's rate, and the rate of each of its
   * kernels and (kernel, shape) pairs, each taking its estimated share of the time (all of it
   * when it ran alone).
   */
  observe(work: SubmissionWork, ms: number): SubmissionRecord {
    const record: SubmissionRecord = {
      kind: work.kind,
      ms,
      estimatedMs: work.estimatedMs,
      dispatches: work.dispatches,
      heaviest: work.heaviest,
    };
    const s = this.stats[record.kind];
    s.submissions++;
    s.dispatches += record.dispatches;
    s.ms += record.ms;
    if (record.ms > this.budget) {
      s.overBudget++;
      s.overBudgetKernels[work.heaviest] = (s.overBudgetKernels[work.heaviest] ?? 0) + 1;
    }
    if (!s.longest || record.ms > s.longest.ms) s.longest = record;
    const overran = ms > this.targetMs;
    calibration(this.kinds, work.kind).observe(ms, work.units, overran);
    for (const [map, parts] of [
      [this.kernels, work.kernels],
      [this.shapes, work.shapes],
    ] as const) {
      for (const [key, k] of parts) {
        const share = work.estimatedMs > 0 ? k.estimatedMs / work.estimatedMs : k.units / work.units;
        calibration(map, key).observe(ms * share, k.units, overran);
      }
    }
    return record;
  }

  /** Statistics since creation or the last resetStats(). */
  report(source: SubmissionStats['source']): SubmissionStats {
    let longest: SubmissionRecord | null = null;
    for (const kind of WORK_KINDS) {
      const l = this.stats[kind].longest;
      if (l && (!longest || l.ms > longest.ms)) longest = l;
    }
    return { budgetMs: this.budget, source, longest, kinds: structuredClone(this.stats) };
  }

  /** Clears the statistics (not what was learned of the device). */
  resetStats(): void {
    this.stats = this.emptyStats();
  }

  private emptyStats(): Record<WorkKind, KindStats> {
    return Object.fromEntries(WORK_KINDS.map((k) => [k, emptyKindStats()])) as Record<WorkKind, KindStats>;
  }
}

function calibration<K>(map: Map<K, Calibration>, key: K): Calibration {
  let c = map.get(key);
  if (!c) map.set(key, (c = new Calibration()));
  return c;
}
