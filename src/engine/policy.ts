// The training policy, written once: the inner learning-rate schedule, the tokenizer a model
// uses, and the round defaults every shell (the tab's worker, `webloco train`, `webloco
// simulate`, headless peers) starts from. A shell may override a number; it never re-derives one.
import type { TokenizerName } from '../data/tokenizer.ts';
import type { LlamaConfig } from '../model/config.ts';
import type { LrSchedule } from '../train/schedule.ts';

/** Peak inner AdamW learning rate for the presets we train (tiny, small, base). */
export const DEFAULT_INNER_LR = 3e-3;
/** The cosine ends at this fraction of the peak (0.1× in the Covenant run). */
const MIN_LR_RATIO = 0.1;
/** Warm-up is a tenth of the run, at most this many steps. */
export const MAX_WARMUP_STEPS = 20;
/** Held-out batches a peer evaluates after each round (a quick look, not the final comparison). */
export const ROUND_EVAL_BATCHES = 2;

export interface ScheduleOptions {
  /** Peak learning rate (DEFAULT_INNER_LR). */
  lr?: number;
  /** Warm-up steps (a tenth of the run, at most MAX_WARMUP_STEPS). */
  warmup?: number;
  minRatio?: number;
}

/**
 * The inner schedule of a run that takes `totalSteps` optimizer steps in all (a swarm run:
 * rounds × H; centralized training: its steps, counted from step 0 even when resumed), so a
 * resumed or later round continues the same curve instead of starting a new one.
 */
export function innerSchedule(totalSteps: number, options: ScheduleOptions = {}): LrSchedule {
  if (!Number.isSafeInteger(totalSteps) || totalSteps < 1)
    throw new RangeError(`the schedule needs a positive whole number of steps, got ${totalSteps}`);
  const peak = options.lr ?? DEFAULT_INNER_LR;
  if (!(peak > 0) || !Number.isFinite(peak)) throw new RangeError(`the inner learning rate must be a positive number, got ${peak}`);
  return {
    peak,
    warmupSteps: options.warmup ?? Math.min(MAX_WARMUP_STEPS, Math.ceil(totalSteps / 10)),
    totalSteps,
    minRatio: options.minRatio ?? MIN_LR_RATIO,
  };
}

/** Byte-level presets (vocab 256) read the `bytes` shards; the others GPT-2 BPE. */
export function tokenizerFor(config: Pick<LlamaConfig, 'vocab_size'>): TokenizerName {
  return config.vocab_size === 256 ? 'bytes' : 'gpt2';
}
