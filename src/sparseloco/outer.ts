// The outer step every peer applies after a decision: θ ← θ − lr_n·aggregate (plain SGD, no
// momentum; lr_n = lr·min(√n, 2) for the n payloads aggregated, lr 1.0 by default). It runs on the CPU in f32
// semantics (each product and difference rounded to f32, no fused multiply-add) so that every
// peer, and any later GPU port that avoids FMA, lands on the same bits and the same model hash.

export const DEFAULT_OUTER_LR = 1.0;

/** How the learning rate of a decision grows with the number n of payloads it aggregates: ×√n up to ×2 ('sqrt') or not ('none'). */
export type LrScaling = 'sqrt' | 'none';
export const DEFAULT_LR_SCALING: LrScaling = 'sqrt';

/**
 * The most the √n scaling multiplies the learning rate by. The mean of n peers' sparse updates is
 * about √n times shorter than one peer's where they disagree, and the scaling makes up for it, but
 * not without bound: on `tiny`, 4 peers stepped at 2× ended 1.94% behind centralized training, 8 at
 * 2.83× wobbled on the way (1.0330), and 16 at 4× diverged for a while and ended far behind
 * (docs/BENCHMARKS.md).
 */
const MAX_LR_SCALE = 2;

/** The learning rate a decision of `peers` usable payloads steps with: lr·min(√peers, MAX_LR_SCALE) in float64 ('sqrt'), or lr ('none'). */
export function decisionLr(lr: number, peers: number, scaling: LrScaling = DEFAULT_LR_SCALING): number {
  if (scaling !== 'sqrt' && scaling !== 'none')
    throw new RangeError(`outer step: lr scaling must be 'sqrt' or 'none', not '${String(scaling)}'`);
  if (!Number.isSafeInteger(peers) || peers < 0) throw new RangeError(`outer step: ${peers} is not a number of peers`);
  return scaling === 'sqrt' ? lr * Math.min(Math.sqrt(peers), MAX_LR_SCALE) : lr;
}

/**
 * In place, for every tensor t and element i:
 *   θ[t][i] = f32(θ[t][i] − f32(f32(lr) · aggregate[t][i])).
 * Float64 products and differences of f32 values rounded once to f32 are exactly the f32
 * operations (float64 carries more than twice f32's 24 bits), so this is IEEE f32 arithmetic.
 */
export function outerStep(params: readonly Float32Array[], aggregate: readonly Float32Array[], lr: number = DEFAULT_OUTER_LR): void {
  if (!Number.isFinite(lr)) throw new RangeError(`outerStep: learning rate ${lr} is not finite`);
  if (params.length !== aggregate.length)
    throw new RangeError(`outerStep: ${params.length} parameter tensors but ${aggregate.length} aggregate tensors`);
  params.forEach((p, t) => {
    if (p.length !== aggregate[t]!.length)
      throw new RangeError(`outerStep: tensor ${t} has ${p.length} parameters but ${aggregate[t]!.length} aggregate values`);
  });
  const lr32 = Math.fround(lr);
  params.forEach((theta, t) => {
    const update = aggregate[t]!;
    for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! - Math.fround(lr32 * update[i]!);
  });
}
