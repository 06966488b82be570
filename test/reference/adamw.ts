// Float64 CPU reference for shaders/adamw.wgsl: the global gradient norm and one step of
// torch.optim.AdamW (decoupled weight decay applied before the Adam update, as PyTorch does) on
// gradients clipped like torch.nn.utils.clip_grad_norm_.

export function globalNormSquaredReference(parts: readonly ArrayLike<number>[]): number {
  let sum = 0;
  for (const part of parts) for (let i = 0; i < part.length; i++) sum += part[i]! * part[i]!;
  return sum;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Infinity turns clipping off. */
  maxNorm: number;
}

/** Optimizer state of one parameter group, held in float64. */
export interface AdamWState {
  params: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

export function clipFactorReference(normSquared: number, maxNorm: number): number {
  return Number.isFinite(maxNorm) ? Math.min(1, maxNorm / (Math.sqrt(normSquared) + 1e-6)) : 1;
}

/** One AdamW step in place; `normSquared` is Σ g² over every group's gradients. */
export function adamwReference(state: AdamWState, grads: ArrayLike<number>, h: AdamWHyper, step: number, normSquared: number): void {
  const clip = clipFactorReference(normSquared, h.maxNorm);
  const biasCorrection1 = 1 - h.beta1 ** step;
  const biasCorrection2 = 1 - h.beta2 ** step;
  const { params, m, v } = state;
  for (let i = 0; i < params.length; i++) {
    const g = grads[i]! * clip;
    params[i]! *= 1 - h.lr * h.weightDecay;
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * g * g;
    const mHat = m[i]! / biasCorrection1;
    const vHat = v[i]! / biasCorrection2;
    params[i]! -= h.lr * (mHat / (Math.sqrt(vHat) + h.eps));
  }
}
