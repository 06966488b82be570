// The LLaMA forward pass on the GPU as a list of kernel calls, top to bottom (llm.c's
// gpt2_forward). With a gradient scale the head and the loss are fused with their backward, block
// by block, so the [T, V] logits never exist at once: each block's logits are overwritten by
// their gradient, which is pushed into ∂L/∂lnf and ∂L/∂W_head before the next block.
import { matmul } from '../kernels/matmul.ts';
import { embeddingForward } from '../kernels/embedding.ts';
import { rmsnormForward } from '../kernels/rmsnorm.ts';
import { ropeForward } from '../kernels/rope.ts';
import { attentionForward } from '../kernels/attention.ts';
import { swigluForward } from '../kernels/swiglu.ts';
import { meanLoss, softmaxCrossEntropy } from '../kernels/crossentropy.ts';
import type { BufferSlice, GpuRuntime } from '../gpu/runtime.ts';
import { sliceOf, type Activations } from './activations.ts';
import { headDim, type LlamaConfig } from './config.ts';
import type { ModelWeights } from './parameters.ts';

/** Everything a forward or backward pass touches. */
export interface ModelTensors {
  config: LlamaConfig;
  params: ModelWeights;
  grads: ModelWeights;
  acts: Activations;
}

/** Model dimensions the kernels take. */
export function dims(config: LlamaConfig, acts: Activations) {
  const hd = headDim(config);
  return {
    B: acts.B,
    S: acts.S,
    T: acts.T,
    C: config.hidden_size,
    I: config.intermediate_size,
    V: config.vocab_size,
    nHeads: config.num_attention_heads,
    nKvHeads: config.num_key_value_heads,
    headDim: hd,
    kvDim: config.num_key_value_heads * hd,
    eps: config.rms_norm_eps,
    theta: config.rope_theta,
  };
}

/** The residual stream leaving layer l: the next layer's input, or the model's output. */
export function layerOutput(acts: Activations, l: number): BufferSlice {
  return l + 1 < acts.layers.length ? acts.layers[l + 1]!.input : acts.output;
}

/** dst = src, in queue order with the dispatches around it. */
export function copyView(rt: GpuRuntime, dst: BufferSlice, src: BufferSlice): void {
  rt.copy(src.buffer, src.offset, dst.buffer, dst.offset, src.size);
}

/**
 * Records the forward pass for the tokens and targets already in acts.tokens / acts.targets:
 * per-token losses into acts.losses and their mean into acts.meanLoss. With a `gradScale`
 * (1/T for the mean loss), also writes ∂L/∂lnf of L = gradScale·Σ losses into acts.dNorm and
 * accumulates ∂L/∂W_head, for llamaBackward.
 */
export function llamaForward(rt: GpuRuntime, m: ModelTensors, gradScale: number | null): void {
  const { params: p, grads: g, acts: a } = m;
  const { B, S, T, C, I, V, nHeads, nKvHeads, headDim, kvDim, eps, theta } = dims(m.config, a);

  embeddingForward(rt, { out: a.layers[0]!.input, table: p.embed, tokens: a.tokens, T, C });
  for (let l = 0; l < a.layers.length; l++) {
    const w = p.layers[l]!;
    const x = a.layers[l]!;
    const out = layerOutput(a, l);
    // Attention block: mid = input + o_proj(attention(rope(q_proj(h)), rope(k_proj(h)), v_proj(h))), h = norm(input)
    rmsnormForward(rt, { out: x.ln1, rstd: x.ln1Rstd, x: x.input, weight: w.inputNorm, T, C, eps });
    matmul(rt, { out: x.q, a: x.ln1, b: w.q, M: T, N: C, K: C, transB: true });
    matmul(rt, { out: x.k, a: x.ln1, b: w.k, M: T, N: kvDim, K: C, transB: true });
    matmul(rt, { out: x.v, a: x.ln1, b: w.v, M: T, N: kvDim, K: C, transB: true });
    ropeForward(rt, { x: x.q, B, S, nHeads, headDim, theta });
    ropeForward(rt, { x: x.k, B, S, nHeads: nKvHeads, headDim, theta });
    attentionForward(rt, { out: x.attn, lse: x.lse, q: x.q, k: x.k, v: x.v, B, S, nHeads, nKvHeads, headDim });
    copyView(rt, x.mid, x.input);
    matmul(rt, { out: x.mid, a: x.attn, b: w.o, M: T, N: C, K: C, transB: true, accumulate: true });
    // MLP block: out = mid + down_proj(silu(gate_proj(h)) · up_proj(h)), h = norm(mid)
    rmsnormForward(rt, { out: x.ln2, rstd: x.ln2Rstd, x: x.mid, weight: w.postNorm, T, C, eps });
    matmul(rt, { out: x.gate, a: x.ln2, b: w.gate, M: T, N: I, K: C, transB: true });
    matmul(rt, { out: x.up, a: x.ln2, b: w.up, M: T, N: I, K: C, transB: true });
    swigluForward(rt, { out: x.act, gate: x.gate, up: x.up, n: T * I });
    copyView(rt, out, x.mid);
    matmul(rt, { out, a: x.act, b: w.down, M: T, N: C, K: I, transB: true, accumulate: true });
  }
  rmsnormForward(rt, { out: a.lnf, rstd: a.lnfRstd, x: a.output, weight: p.finalNorm, T, C, eps });

  // Head and loss over blocks of tokens; each row's gradient is (softmax − onehot)·gradScale.
  for (let start = 0; start < T; start += a.logitsBlockTokens) {
    const rows = Math.min(a.logitsBlockTokens, T - start);
    const lnf = sliceOf(a.lnf, start * C, rows * C);
    const logits = sliceOf(a.logits, 0, rows * V);
    const targets = sliceOf(a.targets, start, rows);
    const losses = sliceOf(a.losses, start, rows);
    matmul(rt, { out: logits, a: lnf, b: p.head, M: rows, N: V, K: C, transB: true });
    softmaxCrossEntropy(rt, { logits, targets, losses, T: rows, V, gradScale: gradScale ?? undefined });
    if (gradScale !== null) {
      matmul(rt, { out: sliceOf(a.dNorm, start * C, rows * C), a: logits, b: p.head, M: rows, N: C, K: V });
      matmul(rt, { out: g.head, a: logits, b: lnf, M: V, N: C, K: rows, transA: true, accumulate: true });
    }
  }
  meanLoss(rt, { out: a.meanLoss, losses: a.losses, targets: a.targets, T });
}
