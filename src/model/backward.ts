// The LLaMA backward pass on the GPU: forward.ts in reverse, line by line (llm.c's
// gpt2_backward). Starts from ∂L/∂lnf, which the fused head in llamaForward left in acts.dNorm.
// Parameter gradients accumulate (zero them first); scratch activation gradients are overwritten.
// On the f16 path (precision.ts) the matmuls read half copies of their operands, cast just before.
import { embeddingBackward, type TokenIndex } from '../kernels/embedding.ts';
import { rmsnormBackward } from '../kernels/rmsnorm.ts';
import { ropeBackward } from '../kernels/rope.ts';
import { attentionBackward } from '../kernels/attention.ts';
import { swigluBackward } from '../kernels/swiglu.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import { dims, type ModelTensors } from './forward.ts';
import { linear, toHalf } from './precision.ts';

/** Records the backward pass; `index` groups acts.tokens by id for the embedding gradient. */
export function llamaBackward(rt: GpuRuntime, m: ModelTensors, index: TokenIndex): void {
  const { params: p, grads: g, acts: a, half: h } = m;
  const { B, S, T, C, I, nHeads, nKvHeads, headDim, kvDim, theta } = dims(m.config, a);

  // dResidual accumulates ∂L/∂(residual stream) from the top of the model down.
  rt.clear(a.dResidual.buffer, a.dResidual.offset, a.dResidual.size);
  rmsnormBackward(rt, { dx: a.dResidual, dWeight: g.finalNorm, dOut: a.dNorm, x: a.output, weight: p.finalNorm, rstd: a.lnfRstd, T, C });
  for (let l = a.layers.length - 1; l >= 0; l--) {
    const w = p.layers[l]!;
    const hw = h?.layers[l];
    const dw = g.layers[l]!;
    const x = a.layers[l]!;
    const hx = h?.acts[l];
    // MLP block, reversed. out = mid + act·W_downᵀ: dResidual is ∂L/∂out and flows to mid unchanged.
    let dResidual = toHalf(rt, { f32: a.dResidual, half: h?.dResidual }, T * C);
    linear(rt, { out: a.dAct, a: dResidual, b: { f32: w.down, half: hw?.down }, M: T, N: I, K: C });
    linear(rt, { out: dw.down, a: dResidual, b: { f32: x.act, half: hx?.act }, M: C, N: I, K: T, transA: true, accumulate: true });
    swigluBackward(rt, { dGate: a.dGate, dUp: a.dUp, dOut: a.dAct, gate: x.gate, up: x.up, n: T * I });
    const dGate = toHalf(rt, { f32: a.dGate, half: h?.dGate }, T * I);
    const dUp = toHalf(rt, { f32: a.dUp, half: h?.dUp }, T * I);
    const ln2 = { f32: x.ln2, half: hx?.ln2 };
    linear(rt, { out: a.dNorm, a: dGate, b: { f32: w.gate, half: hw?.gate }, M: T, N: C, K: I });
    linear(rt, { out: a.dNorm, a: dUp, b: { f32: w.up, half: hw?.up }, M: T, N: C, K: I, accumulate: true });
    linear(rt, { out: dw.gate, a: dGate, b: ln2, M: I, N: C, K: T, transA: true, accumulate: true });
    linear(rt, { out: dw.up, a: dUp, b: ln2, M: I, N: C, K: T, transA: true, accumulate: true });
    rmsnormBackward(rt, { dx: a.dResidual, dWeight: dw.postNorm, dOut: a.dNorm, x: x.mid, weight: w.postNorm, rstd: x.ln2Rstd, T, C });
    // Attention block, reversed. mid = input + attn·W_oᵀ: dResidual is now ∂L/∂mid.
    dResidual = toHalf(rt, { f32: a.dResidual, half: h?.dResidual }, T * C);
    linear(rt, { out: a.dAttn, a: dResidual, b: { f32: w.o, half: hw?.o }, M: T, N: C, K: C });
    linear(rt, { out: dw.o, a: dResidual, b: { f32: x.attn, half: hx?.attn }, M: C, N: C, K: T, transA: true, accumulate: true });
    attentionBackward(rt, {
      dq: a.dq,
      dk: a.dk,
      dv: a.dv,
      dOut: a.dAttn,
      q: x.q,
      k: x.k,
      v: x.v,
      out: x.attn,
      lse: x.lse,
      B,
      S,
      nHeads,
      nKvHeads,
      headDim,
    });
    ropeBackward(rt, { dx: a.dq, B, S, nHeads, headDim, theta });
    ropeBackward(rt, { dx: a.dk, B, S, nHeads: nKvHeads, headDim, theta });
    const dq = toHalf(rt, { f32: a.dq, half: h?.dq }, T * C);
    const dk = toHalf(rt, { f32: a.dk, half: h?.dk }, T * kvDim);
    const dv = toHalf(rt, { f32: a.dv, half: h?.dv }, T * kvDim);
    const ln1 = { f32: x.ln1, half: hx?.ln1 };
    linear(rt, { out: a.dNorm, a: dq, b: { f32: w.q, half: hw?.q }, M: T, N: C, K: C });
    linear(rt, { out: a.dNorm, a: dk, b: { f32: w.k, half: hw?.k }, M: T, N: C, K: kvDim, accumulate: true });
    linear(rt, { out: a.dNorm, a: dv, b: { f32: w.v, half: hw?.v }, M: T, N: C, K: kvDim, accumulate: true });
    linear(rt, { out: dw.q, a: dq, b: ln1, M: C, N: C, K: T, transA: true, accumulate: true });
    linear(rt, { out: dw.k, a: dk, b: ln1, M: kvDim, N: C, K: T, transA: true, accumulate: true });
    linear(rt, { out: dw.v, a: dv, b: ln1, M: kvDim, N: C, K: T, transA: true, accumulate: true });
    rmsnormBackward(rt, { dx: a.dResidual, dWeight: dw.inputNorm, dOut: a.dNorm, x: x.input, weight: w.inputNorm, rstd: x.ln1Rstd, T, C });
  }
  embeddingBackward(rt, { dTable: g.embed, dOut: a.dResidual, index, C });
}
