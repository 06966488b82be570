// Float64 CPU reference for rotary position embedding (Hugging Face rotate_half convention).
// Written from the HF definition, independently of src/kernels/rope.ts's table: the angle is
// rounded to f32 exactly as HF computes it (inv_freq in f32, then p·inv_freq in f32), and
// everything after the angle is float64.

/** HF's f32 angle for position p and pair i. */
export function hfRopeAngle(p: number, i: number, headDim: number, theta: number): number {
  const exponent = Math.fround((2 * i) / headDim);
  const invFreq = Math.fround(1 / Math.fround(theta ** exponent));
  return Math.fround(p * invFreq);
}

/**
 * Rotates x[B·S, nHeads·headDim] (a copy) by +angle (forward) or −angle (backward, the
 * transpose of the forward's linear map).
 */
export function ropeRef(
  x: ArrayLike<number>,
  B: number,
  S: number,
  nHeads: number,
  headDim: number,
  theta: number,
  direction: 'forward' | 'backward',
): Float64Array {
  const out = Float64Array.from(x);
  const half = headDim / 2;
  const sign = direction === 'forward' ? 1 : -1;
  for (let t = 0; t < B * S; t++) {
    const p = t % S;
    for (let head = 0; head < nHeads; head++) {
      const base = t * nHeads * headDim + head * headDim;
      for (let i = 0; i < half; i++) {
        const angle = hfRopeAngle(p, i, headDim, theta);
        const c = Math.cos(angle);
        const s = sign * Math.sin(angle);
        const lo = x[base + i]!;
        const hi = x[base + i + half]!;
        out[base + i] = lo * c - hi * s;
        out[base + i + half] = hi * c + lo * s;
      }
    }
  }
  return out;
}
