// Float64 CPU reference for causal grouped-query attention (src/kernels/attention.ts): the plain
// definition, a full score matrix per head with an explicit mask, and hand-derived gradients.
export interface AttentionReferenceShape {
  B: number;
  S: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

export interface AttentionReferenceForward {
  /** [B·S, nHeads·headDim] */
  out: Float64Array;
  /** [B, nHeads, S] */
  lse: Float64Array;
}

export interface AttentionReferenceGradients {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
}

type Floats = ArrayLike<number>;

/** Row-major index helpers for the [B·S, heads·headDim] layouts. */
function layout(s: AttentionReferenceShape) {
  const { S, nHeads, nKvHeads, headDim } = s;
  return {
    q: (b: number, i: number, h: number, d: number) => ((b * S + i) * nHeads + h) * headDim + d,
    kv: (b: number, j: number, g: number, d: number) => ((b * S + j) * nKvHeads + g) * headDim + d,
    kvHeadOf: (h: number) => Math.floor(h / (nHeads / nKvHeads)),
  };
}

/**
 * P[i][j] = softmax_j(scale·q_i·k_j with key j > query i masked to −∞) for one (batch, head),
 * plus each row's log-sum-exp of the scaled, unmasked scores.
 */
function probabilities(q: Floats, k: Floats, s: AttentionReferenceShape, b: number, h: number): { p: Float64Array[]; lse: Float64Array } {
  const { S, headDim } = s;
  const at = layout(s);
  const g = at.kvHeadOf(h);
  const scale = 1 / Math.sqrt(headDim);
  const p: Float64Array[] = [];
  const lse = new Float64Array(S);
  for (let i = 0; i < S; i++) {
    const scores = new Float64Array(S).fill(-Infinity);
    for (let j = 0; j < S; j++) {
      if (j > i) continue; // the causal mask: a query never sees its future
      let dot = 0;
      for (let d = 0; d < headDim; d++) dot += q[at.q(b, i, h, d)]! * k[at.kv(b, j, g, d)]!;
      scores[j] = dot * scale;
    }
    const max = Math.max(...scores);
    let sum = 0;
    for (let j = 0; j < S; j++) sum += Math.exp(scores[j]! - max);
    lse[i] = max + Math.log(sum);
    p.push(scores.map((x) => Math.exp(x - lse[i]!)));
  }
  return { p, lse };
}

export function attentionForwardReference(q: Floats, k: Floats, v: Floats, s: AttentionReferenceShape): AttentionReferenceForward {
  const { B, S, nHeads, headDim } = s;
  const at = layout(s);
  const out = new Float64Array(B * S * nHeads * headDim);
  const lse = new Float64Array(B * nHeads * S);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHeads; h++) {
      const g = at.kvHeadOf(h);
      const { p, lse: rowLse } = probabilities(q, k, s, b, h);
      lse.set(rowLse, (b * nHeads + h) * S);
      for (let i = 0; i < S; i++) {
        for (let d = 0; d < headDim; d++) {
          let sum = 0;
          for (let j = 0; j < S; j++) sum += p[i]![j]! * v[at.kv(b, j, g, d)]!;
          out[at.q(b, i, h, d)] = sum;
        }
      }
    }
  }
  return { out, lse };
}

/**
 * Gradients of sum(out ∘ dOut), derived by hand: with O = P·V and P = softmax(scale·Q·Kᵀ),
 *   dV = Pᵀ·dO,   dP = dO·Vᵀ,   dS_ij = P_ij (dP_ij − Σ_l P_il dP_il),
 *   dQ = scale·dS·K,   dK = scale·dSᵀ·Q,
 * and a kv head's dK, dV are the sums over the query heads that share it. The row term
 * Σ_l P_il dP_il is computed from P and dP here, not from out (the kernel uses rowsum(dO ∘ O),
 * which is equal: Σ_l P_il (dO_i·v_l) = dO_i·O_i).
 */
export function attentionBackwardReference(
  q: Floats,
  k: Floats,
  v: Floats,
  dOut: Floats,
  s: AttentionReferenceShape,
): AttentionReferenceGradients {
  const { B, S, nHeads, nKvHeads, headDim } = s;
  const at = layout(s);
  const scale = 1 / Math.sqrt(headDim);
  const dq = new Float64Array(B * S * nHeads * headDim);
  const dk = new Float64Array(B * S * nKvHeads * headDim);
  const dv = new Float64Array(B * S * nKvHeads * headDim);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHeads; h++) {
      const g = at.kvHeadOf(h);
      const { p } = probabilities(q, k, s, b, h);
      for (let i = 0; i < S; i++) {
        const dP = new Float64Array(S);
        for (let j = 0; j < S; j++) {
          for (let d = 0; d < headDim; d++) dP[j]! += dOut[at.q(b, i, h, d)]! * v[at.kv(b, j, g, d)]!;
        }
        let rowTerm = 0;
        for (let j = 0; j < S; j++) rowTerm += p[i]![j]! * dP[j]!;
        for (let j = 0; j < S; j++) {
          const pij = p[i]![j]!;
          const dS = pij * (dP[j]! - rowTerm);
          for (let d = 0; d < headDim; d++) {
            dv[at.kv(b, j, g, d)]! += pij * dOut[at.q(b, i, h, d)]!;
            dq[at.q(b, i, h, d)]! += scale * dS * k[at.kv(b, j, g, d)]!;
            dk[at.kv(b, j, g, d)]! += scale * dS * q[at.q(b, i, h, d)]!;
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}
