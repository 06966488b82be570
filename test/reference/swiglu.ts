// Float64 CPU reference for the SwiGLU activation out = silu(gate)·up and its gradients.

function sigmoid(g: number): number {
  return g >= 0 ? 1 / (1 + Math.exp(-g)) : Math.exp(g) / (1 + Math.exp(g));
}

export function swigluForwardRef(gate: ArrayLike<number>, up: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = gate[i]! * sigmoid(gate[i]!) * up[i]!;
  return out;
}

export function swigluBackwardRef(
  dOut: ArrayLike<number>,
  gate: ArrayLike<number>,
  up: ArrayLike<number>,
  n: number,
): { dGate: Float64Array; dUp: Float64Array } {
  const dGate = new Float64Array(n);
  const dUp = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    const s = sigmoid(g);
    dUp[i] = dOut[i]! * g * s;
    dGate[i] = dOut[i]! * up[i]! * s * (1 + g * (1 - s));
  }
  return { dGate, dUp };
}
