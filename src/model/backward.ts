// The LLaMA backward pass on the GPU: forward.ts in reverse, line by line (llm.c's
// gpt2_backward). Starts from ∂L/∂lnf, which the fused head in llamaForward left in acts.dNorm.
// Parameter gradients accumulate (zero them first); scratch activation gradients are overwritten.
import { matmul } from '../kernels/matmul.ts';
import { embeddingBackward, type TokenIndex } from '../kernels/embedding.ts';
import { rmsnormBackward } from '../kernels/rmsnorm.ts';
import { ropeBackward } from '../kernels/rope.ts';
import { attentionBackward } from '../kernels/attention.ts';
import { swigluBackward } from '../kernels/swiglu.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import { dims, type ModelTensors } from './forward.ts';

/** Records the backward pass; `index` groups acts.tokens by id for the embedding gradient. */
export function llamaBackward(rt: GpuRuntime, m: ModelTensors, index: TokenIndex): void {
  const { params: p, grads: g, acts: a } = m;
  const { B, S, T, C, I, nHeads, nKvHeads, headDim, kvDim, theta } = dims(m.config, a);

  // dResidual accumulates ∂L/∂(residual stream) from the top of the model down.
  rt.clear(a.dResidual.buffer, a.dResidual.offset, a.dResidual.size);
  rmsnormBackward(rt, { dx: a.dResidual, dWeight: g.finalNorm, dOut: a.dNorm, x: a.output, weight: p.finalNorm, rstd: a.lnfRstd, T, C });
  for (let l = a.layers.length - 1; l >= 0; l--) {
    const w = p.layers[l]!;
    const dw = g.layers[l]!;
    const x = a.layers[l]!;
    // MLP block, reversed. out = mid + act·W_downᵀ: dResidual is ∂L/∂out and flows to mid unchanged.
    matmul(rt, { out: a.dAct, a: a.dResidual, b: w.down, M: T, N: I, K: C });
    matmul(rt, { out: dw.down, a: a.dResidual, b: x.act, M: C, N: I, K: T, transA: true, accumulate: true });
    swigluBackward(rt, { dGate: a.dGate, dUp: a.dUp, dOut: a.dAct, gate: x.gate, up: x.up, n: T * I });
    matmul(rt, { out: a.dNorm, a: a.dGate, b: w.gate, M: T, N: C, K: I });
    matmul(rt, { out: a.dNorm, a: a.dUp, b: w.up, M: T, N: C, K: I, accumulate: true });
    matmul(rt, { out: dw.gate, a: a.dGate, b: x.ln2, M: I, N: C, K: T, transA: true, accumulate: true });
    matmul(rt, { out: dw.up, a: a.dUp, b: x.ln2, M: I, N: C, K: T, transA: true, accumulate: true });
    rmsnormBackward(rt, { dx: a.dResidual, dWeight: dw.postNorm, dOut: a.dNorm, x: x.mid, weight: w.postNorm, rstd: x.ln2Rstd, T, C });
    // Attention block, reversed. mid = input + attn·W_oᵀ: dResidual is now ∂L/∂mid.
    matmul(rt, { out: a.dAttn, a: a.dResidual, b: w.o, M: T, N: C, K: C });
    matmul(rt, { out: dw.o, a: a.dResidual, b: x.attn, M: C, N: C, K: T, transA: true, accumulate: true });
    attentionBackward(rt, { dq: a.dq, dk: a.dk, dv: a.dv, dOut: a.dAttn, q: x.q, k: x.k, v: x.v, out: x.attn, lse: x.lse, B, S, nHeads, nKvHeads, headDim });
    ropeBackward(rt, { dx: a.dq, B, S, nHeads, headDim, theta });
    ropeBackward(rt, { dx: a.dk, B, S, nHeads: nKvHeads, headDim, theta });
    matmul(rt, { out: a.dNorm, a: a.dq, b: w.q, M: T, N: C, K: C });
    matmul(rt, { out: a.dNorm, a: a.dk, b: w.k, M: T, N: C, K: kvDim, accumulate: true });
    matmul(rt, { out: a.dNorm, a: a.dv, b: w.v, M: T, N: C, K: kvDim, accumulate: true });
    matmul(rt, { out: dw.q, a: a.dq, b: x.ln1, M: C, N: C, K: T, transA: true, accumulate: true });
    matmul(rt, { out: dw.k, a: a.dk, b: x.ln1, M: kvDim, N: C, K: T, transA: true, accumulate: true });
    matmul(rt, { out: dw.v, a: a.dv, b: x.ln1, M: kvDim, N: C, K: T, transA: true, accumulate: true });
    rmsnormBackward(rt, { dx: a.dResidual, dWeight: dw.inputNorm, dOut: a.dNorm, x: x.input, weight: w.inputNorm, rstd: x.ln1Rstd, T, C });
  }
  embeddingBackward(rt, { dTable: g.embed, dOut: a.dResidual, index, C });
}
