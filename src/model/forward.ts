// The LLaMA forward pass on the GPU as a list of kernel calls, top to bottom (llm.c's
// gpt2_forward). With a gradient scale the head and the loss are fused with their backward, block
// by block, so the [T, V] logits never exist at once: each block's logits are overwritten by
// their gradient, which is pushed into ∂L/∂lnf and ∂L/∂W_head before the next block. On the f16
// path (precision.ts) the matmuls read half copies of their operands, cast just before.
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
import { castWeights, halfSlice, linear, toHalf, type HalfTensors } from './precision.ts';

/** Everything a forward or backward pass touches. */
export interface ModelTensors {
  config: LlamaConfig;
  params: ModelWeights;
  grads: ModelWeights;
  acts: Activations;
  /** The half copies of the f16 path; null on the f32 path. */
  half: HalfTensors | null;
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
function layerOutput(acts: Activations, l: number): BufferSlice {
  return l + 1 < acts.layers.length ? acts.layers[l + 1]!.input : acts.output;
}

/** dst = src, in queue order with the dispatches around it. */
function copyView(rt: GpuRuntime, dst: BufferSlice, src: BufferSlice): void {
  rt.copy(src.buffer, src.offset, dst.buffer, dst.offset, src.size);
}

/**
 * Records the forward pass for the tokens and targets already in acts.tokens / acts.targets:
 * per-token losses into acts.losses and their mean into acts.meanLoss. With a `gradScale`
 * (1/T for the mean loss), also writes ∂L/∂lnf of L = gradScale·Σ losses into acts.dNorm and
 * accumulates ∂L/∂W_head, for llamaBackward.
 */
export function llamaForward(rt: GpuRuntime, m: ModelTensors, gradScale: number | null): void {
  const { params: p, grads: g, acts: a, half: h } = m;
  const { B, S, T, C, I, V, nHeads, nKvHeads, headDim, kvDim, eps, theta } = dims(m.config, a);
  if (h) castWeights(rt, h);

  embeddingForward(rt, { out: a.layers[0]!.input, table: p.embed, tokens: a.tokens, T, C });
  for (let l = 0; l < a.layers.length; l++) {
    const w = p.layers[l]!;
    const hw = h?.layers[l];
    const x = a.layers[l]!;
    const hx = h?.acts[l];
    const out = layerOutput(a, l);
    // Attention block: mid = input + o_proj(attention(rope(q_proj(h)), rope(k_proj(h)), v_proj(h))), h = norm(input)
    rmsnormForward(rt, { out: x.ln1, rstd: x.ln1Rstd, x: x.input, weight: w.inputNorm, T, C, eps });
    const ln1 = toHalf(rt, { f32: x.ln1, half: hx?.ln1 }, T * C);
    linear(rt, { out: x.q, a: ln1, b: { f32: w.q, half: hw?.q }, M: T, N: C, K: C, transB: true });
    linear(rt, { out: x.k, a: ln1, b: { f32: w.k, half: hw?.k }, M: T, N: kvDim, K: C, transB: true });
    linear(rt, { out: x.v, a: ln1, b: { f32: w.v, half: hw?.v }, M: T, N: kvDim, K: C, transB: true });
    ropeForward(rt, { x: x.q, B, S, nHeads, headDim, theta });
    ropeForward(rt, { x: x.k, B, S, nHeads: nKvHeads, headDim, theta });
    attentionForward(rt, { out: x.attn, lse: x.lse, q: x.q, k: x.k, v: x.v, B, S, nHeads, nKvHeads, headDim });
    copyView(rt, x.mid, x.input);
    const attn = toHalf(rt, { f32: x.attn, half: hx?.attn }, T * C);
    linear(rt, { out: x.mid, a: attn, b: { f32: w.o, half: hw?.o }, M: T, N: C, K: C, transB: true, accumulate: true });
    // MLP block: out = mid + down_proj(silu(gate_proj(h)) · up_proj(h)), h = norm(mid)
    rmsnormForward(rt, { out: x.ln2, rstd: x.ln2Rstd, x: x.mid, weight: w.postNorm, T, C, eps });
    const ln2 = toHalf(rt, { f32: x.ln2, half: hx?.ln2 }, T * C);
    linear(rt, { out: x.gate, a: ln2, b: { f32: w.gate, half: hw?.gate }, M: T, N: I, K: C, transB: true });
    linear(rt, { out: x.up, a: ln2, b: { f32: w.up, half: hw?.up }, M: T, N: I, K: C, transB: true });
    swigluForward(rt, { out: x.act, gate: x.gate, up: x.up, n: T * I });
    copyView(rt, out, x.mid);
    const act = toHalf(rt, { f32: x.act, half: hx?.act }, T * I);
    linear(rt, { out, a: act, b: { f32: w.down, half: hw?.down }, M: T, N: C, K: I, transB: true, accumulate: true });
  }
  rmsnormForward(rt, { out: a.lnf, rstd: a.lnfRstd, x: a.output, weight: p.finalNorm, T, C, eps });
  toHalf(rt, { f32: a.lnf, half: h?.lnf }, T * C);
  const head = { f32: p.head, half: h?.head };

  // Head and loss over blocks of tokens; each row's gradient is (softmax − onehot)·gradScale.
  for (let start = 0; start < T; start += a.logitsBlockTokens) {
    const rows = Math.min(a.logitsBlockTokens, T - start);
    const lnf = { f32: sliceOf(a.lnf, start * C, rows * C), half: h ? halfSlice(h.lnf, start * C, rows * C) : undefined };
    const logits = sliceOf(a.logits, 0, rows * V);
    const targets = sliceOf(a.targets, start, rows);
    const losses = sliceOf(a.losses, start, rows);
    linear(rt, { out: logits, a: lnf, b: head, M: rows, N: V, K: C, transB: true });
    softmaxCrossEntropy(rt, { logits, targets, losses, T: rows, V, gradScale: gradScale ?? undefined });
    if (gradScale !== null) {
      const dLogits = toHalf(rt, { f32: logits, half: h ? halfSlice(h.dLogits, 0, rows * V) : undefined }, rows * V);
      linear(rt, { out: sliceOf(a.dNorm, start * C, rows * C), a: dLogits, b: head, M: rows, N: C, K: V });
      linear(rt, { out: g.head, a: dLogits, b: lnf, M: V, N: C, K: rows, transA: true, accumulate: true });
    }
  }
  meanLoss(rt, { out: a.meanLoss, losses: a.losses, targets: a.targets, T });
}
