// Float64 CPU reference for RMSNorm (Hugging Face LlamaRMSNorm) forward and backward.

export interface RmsnormForwardRef {
  out: Float64Array;
  rstd: Float64Array;
}

/** rstd[t] = 1/sqrt(mean(x[t]²) + eps); out[t, c] = x[t, c]·rstd[t]·weight[c]. */
export function rmsnormForwardRef(x: ArrayLike<number>, weight: ArrayLike<number>, T: number, C: number, eps: number): RmsnormForwardRef {
  const out = new Float64Array(T * C);
  const rstd = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let sumSq = 0;
    for (let c = 0; c < C; c++) sumSq += x[t * C + c]! ** 2;
    const r = 1 / Math.sqrt(sumSq / C + eps);
    rstd[t] = r;
    for (let c = 0; c < C; c++) out[t * C + c] = x[t * C + c]! * r * weight[c]!;
  }
  return { out, rstd };
}

/**
 * Gradients of out = x·rstd(x)·weight, added to the given initial dx and dWeight. rstd is
 * recomputed here in float64 from x, so the check covers the GPU's use of its saved rstd too.
 */
export function rmsnormBackwardRef(
  dxInitial: ArrayLike<number>,
  dWeightInitial: ArrayLike<number>,
  dOut: ArrayLike<number>,
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  T: number,
  C: number,
  eps: number,
): { dx: Float64Array; dWeight: Float64Array } {
  const dx = Float64Array.from(dxInitial);
  const dWeight = Float64Array.from(dWeightInitial);
  const { rstd } = rmsnormForwardRef(x, weight, T, C, eps);
  for (let t = 0; t < T; t++) {
    const r = rstd[t]!;
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dOut[t * C + c]! * weight[c]! * x[t * C + c]!;
    for (let c = 0; c < C; c++) {
      const i = t * C + c;
      dx[i]! += r * dOut[i]! * weight[c]! - (r ** 3 * x[i]! * dot) / C;
      dWeight[c]! += dOut[i]! * x[i]! * r;
    }
  }
  return { dx, dWeight };
}
