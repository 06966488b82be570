// Float64 CPU reference for shaders/crossentropy.wgsl: softmax cross-entropy per row, its fused
// backward and the mean over non-ignored positions.
import { IGNORE_INDEX } from '../../src/kernels/crossentropy.ts';

export interface CrossEntropyReference {
  /** [T]: logsumexp(row) − row[target]; 0 where ignored, NaN for an out-of-range target. */
  losses: Float64Array;
  /** [T, V]: (softmax − onehot)·gradScale; a zero row where ignored or out of range. */
  dlogits: Float64Array;
}

export function softmaxCrossEntropyReference(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  T: number,
  V: number,
  gradScale = 1,
): CrossEntropyReference {
  const losses = new Float64Array(T);
  const dlogits = new Float64Array(T * V);
  for (let t = 0; t < T; t++) {
    const target = targets[t]!;
    if (target === IGNORE_INDEX) continue;
    if (target >= V) {
      losses[t] = NaN;
      continue;
    }
    let max = -Infinity;
    for (let i = 0; i < V; i++) max = Math.max(max, logits[t * V + i]!);
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(logits[t * V + i]! - max);
    const lse = max + Math.log(sum);
    losses[t] = lse - logits[t * V + target]!;
    for (let i = 0; i < V; i++) {
      dlogits[t * V + i] = (Math.exp(logits[t * V + i]! - lse) - (i === target ? 1 : 0)) * gradScale;
    }
  }
  return { losses, dlogits };
}

/** Mean of losses over positions whose target is not IGNORE_INDEX (0 when there are none). */
export function meanLossReference(losses: ArrayLike<number>, targets: ArrayLike<number>): number {
  let sum = 0;
  let count = 0;
  for (let t = 0; t < losses.length; t++) {
    if (targets[t] === IGNORE_INDEX) continue;
    sum += losses[t]!;
    count++;
  }
  return count === 0 ? 0 : sum / count;
}
