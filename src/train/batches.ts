// Turning token windows into the model's inputs and targets, and choosing the windows: a peer's
// assigned samples for a round (src/data/samples.ts) or the fixed held-out windows.
import { gatherWindows, heldOutWindows, samples } from '../data/samples.ts';

export interface Batch {
  inputs: Uint32Array;
  targets: Uint32Array;
  /** Rows in the batch. */
  rows: number;
  seqLen: number;
}

/** Rows of seqLen + 1 tokens → inputs (first seqLen of each row) and targets (last seqLen). */
export function splitRows(rows: Uint32Array, seqLen: number): Batch {
  const n = rows.length / (seqLen + 1);
  if (!Number.isInteger(n)) throw new Error(`splitRows: ${rows.length} tokens are not whole rows of ${seqLen + 1}`);
  const inputs = new Uint32Array(n * seqLen);
  const targets = new Uint32Array(n * seqLen);
  for (let r = 0; r < n; r++) {
    const row = rows.subarray(r * (seqLen + 1), (r + 1) * (seqLen + 1));
    inputs.set(row.subarray(0, seqLen), r * seqLen);
    targets.set(row.subarray(1), r * seqLen);
  }
  return { inputs, targets, rows: n, seqLen };
}

/**
 * The batches a peer trains on in one round: `steps × microBatches` batches of `rows` windows,
 * all drawn with one call to samples(runId, round, hotkey) so the validator can recompute them.
 */
export function roundBatches(
  tokens: Uint16Array,
  opts: { runId: string; round: number; hotkey: string; steps: number; microBatches: number; rows: number; seqLen: number },
): (step: number, micro: number) => Batch {
  const perBatch = opts.rows;
  const starts = samples(opts.runId, opts.round, opts.hotkey, opts.steps * opts.microBatches * perBatch, opts.seqLen, tokens.length);
  return (step, micro) => {
    const first = (step * opts.microBatches + micro) * perBatch;
    return splitRows(gatherWindows(tokens, starts.slice(first, first + perBatch), opts.seqLen), opts.seqLen);
  };
}

/** The fixed held-out evaluation batches: `count` batches of `rows` windows. */
export function heldOutBatches(tokens: Uint16Array, count: number, rows: number, seqLen: number): Batch[] {
  const starts = heldOutWindows(count * rows, seqLen, tokens.length);
  const out: Batch[] = [];
  for (let b = 0; b < count; b++) out.push(splitRows(gatherWindows(tokens, starts.slice(b * rows, (b + 1) * rows), seqLen), seqLen));
  return out;
}
