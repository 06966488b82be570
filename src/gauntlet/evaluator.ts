// The validator's GPU side: a replica without an optimizer that measures the loss of θ on a set of
// sequences, and the CPU step that applies one peer's update alone, θ' = θ_w − s·lr·decoded, with
// the decode and outer-step arithmetic of a decision (src/sparseloco/aggregate.ts of one update),
// each tensor clipped to the round's median norm as the real aggregate would clip it. The
// loss-delta scores are differences of these measurements.
import type { GpuRuntime } from '../gpu/runtime.ts';
import type { LlamaConfig } from '../model/config.ts';
import type { ParameterLayout } from '../model/layout.ts';
import { LlamaModel } from '../model/model.ts';
import { gatherWindows } from '../data/samples.ts';
import { aggregateUpdates, decodedNorm } from '../sparseloco/aggregate.ts';
import { outerStep } from '../sparseloco/outer.ts';
import type { CompressedUpdate } from '../sparseloco/types.ts';
import { splitRows, type Batch } from '../train/batches.ts';
import { tensorViews } from '../train/checkpoint.ts';
import { evaluateLoss } from '../train/inner-loop.ts';

/**
 * θ_w − lr·update, on a copy (θ_w is not modified). With `medianNorms` (one per tensor: the
 * round's median over its sound payloads) each tensor is first scaled by min(1, median/own norm),
 * as the aggregate would scale it, so a peer cannot raise its score by scaling its update up.
 */
export function applyAlone(
  layout: ParameterLayout,
  theta: Float32Array,
  update: CompressedUpdate,
  lr: number,
  medianNorms?: readonly number[],
): Float32Array {
  const stepped = theta.slice();
  const dense = aggregateUpdates([update], layout.tensors).tensors;
  if (medianNorms) {
    dense.forEach((values, t) => {
      const norm = decodedNorm(update.tensors[t]!);
      if (norm > medianNorms[t]!) {
        const clip = medianNorms[t]! / norm;
        for (let i = 0; i < values.length; i++) values[i] = values[i]! * clip;
      }
    });
  }
  outerStep(tensorViews(layout, stepped), dense, lr);
  return stepped;
}

/** Batches of `rows` windows (each seqLen + 1 tokens from `tokens`), in order. */
export function windowBatches(tokens: Uint16Array, starts: readonly number[], rows: number, seqLen: number): Batch[] {
  if (starts.length % rows !== 0) throw new RangeError(`evaluation: ${starts.length} windows are not whole batches of ${rows}`);
  const batches: Batch[] = [];
  for (let at = 0; at < starts.length; at += rows)
    batches.push(splitRows(gatherWindows(tokens, starts.slice(at, at + rows), seqLen), seqLen));
  return batches;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Rows per evaluation batch for sets of `a` and `b` sequences: both must be whole batches. */
export function evaluationRows(a: number, b: number): number {
  return gcd(a, b);
}

export class LossEvaluator {
  private constructor(
    readonly model: LlamaModel,
    readonly rows: number,
    readonly seqLen: number,
  ) {}

  /** A replica for batches of [rows, seqLen]; compiles its pipelines now. */
  static async create(rt: GpuRuntime, config: LlamaConfig, rows: number, seqLen: number): Promise<LossEvaluator> {
    // Always f32: every validator and auditor must measure the same losses, whatever its GPU offers.
    return new LossEvaluator(await LlamaModel.create(rt, config, { batch: rows, seqLen }, { f16: false }), rows, seqLen);
  }

  get layout(): ParameterLayout {
    return this.model.layout;
  }

  /** Mean loss of θ over `batches`. */
  async loss(theta: Float32Array, batches: readonly Batch[]): Promise<number> {
    this.model.setParameters(theta);
    return evaluateLoss(this.model, batches);
  }

  destroy(): void {
    this.model.destroy();
  }
}
