// Float64 CPU LlamaForCausalLM: forward and a hand-written backward of the mean cross-entropy over
// all B×S targets, with Hugging Face numerics (RMSNorm, rotate_half RoPE, causal attention with
// repeat_kv, SwiGLU, tied or untied head). Ground truth for the GPU model and `webloco grads`.
import { headDim, type LlamaConfig } from '../../src/model/config.ts';
import { parameterShapes } from '../../src/model/layout.ts';

export type ReferenceParams = Record<string, ArrayLike<number>>;

export interface ReferenceResult {
  loss: number;
  /** Per-token cross-entropy [B·S]. */
  losses: Float64Array;
  /** Gradients of `loss` under the parameters' names (absent when backward is false). */
  grads: Record<string, Float64Array>;
}

interface Dims {
  B: number;
  S: number;
  T: number;
  C: number;
  I: number;
  V: number;
  nH: number;
  nKV: number;
  hd: number;
}

/** y[T, out] = x[T, in] · Wᵀ with W [out, in]. */
function linear(x: Float64Array, W: ArrayLike<number>, T: number, nIn: number, nOut: number): Float64Array {
  const y = new Float64Array(T * nOut);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < nOut; o++) {
      let s = 0;
      for (let i = 0; i < nIn; i++) s += x[t * nIn + i]! * W[o * nIn + i]!;
      y[t * nOut + o] = s;
    }
  }
  return y;
}

/** dx += dy · W; dW += dyᵀ · x. */
function linearBackward(
  dx: Float64Array,
  dW: Float64Array,
  dy: Float64Array,
  x: Float64Array,
  W: ArrayLike<number>,
  T: number,
  nIn: number,
  nOut: number,
): void {
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < nOut; o++) {
      const g = dy[t * nOut + o]!;
      if (g === 0) continue;
      for (let i = 0; i < nIn; i++) {
        dx[t * nIn + i]! += g * W[o * nIn + i]!;
        dW[o * nIn + i]! += g * x[t * nIn + i]!;
      }
    }
  }
}

function rmsnorm(x: Float64Array, w: ArrayLike<number>, T: number, C: number, eps: number) {
  const y = new Float64Array(T * C);
  const rstd = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[t * C + c]! ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[t] = r;
    for (let c = 0; c < C; c++) y[t * C + c] = w[c]! * x[t * C + c]! * r;
  }
  return { y, rstd };
}

/** y = w ⊙ x·r, r = (mean x² + eps)^-½: dx += r·(dy⊙w) − x·r³/C·Σ(dy⊙w⊙x); dw += Σ_t dy⊙x·r. */
function rmsnormBackward(
  dx: Float64Array,
  dw: Float64Array,
  dy: Float64Array,
  x: Float64Array,
  w: ArrayLike<number>,
  rstd: Float64Array,
  T: number,
  C: number,
): void {
  for (let t = 0; t < T; t++) {
    const r = rstd[t]!;
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dy[t * C + c]! * w[c]! * x[t * C + c]!;
    for (let c = 0; c < C; c++) {
      const i = t * C + c;
      dx[i]! += r * dy[i]! * w[c]! - (x[i]! * r * r * r * dot) / C;
      dw[c]! += dy[i]! * x[i]! * r;
    }
  }
}

/** rotate_half RoPE in place on [B·S, nHeads·hd]; `inverse` applies the transpose (backward). */
function rope(x: Float64Array, d: Dims, nHeads: number, theta: number, inverse: boolean): void {
  const half = d.hd / 2;
  for (let b = 0; b < d.B; b++) {
    for (let p = 0; p < d.S; p++) {
      for (let h = 0; h < nHeads; h++) {
        const base = (b * d.S + p) * nHeads * d.hd + h * d.hd;
        for (let i = 0; i < half; i++) {
          const angle = p * theta ** (-(2 * i) / d.hd);
          const cos = Math.cos(angle);
          const sin = inverse ? -Math.sin(angle) : Math.sin(angle);
          const x1 = x[base + i]!;
          const x2 = x[base + i + half]!;
          x[base + i] = x1 * cos - x2 * sin;
          x[base + i + half] = x2 * cos + x1 * sin;
        }
      }
    }
  }
}

/** Causal softmax attention with repeat_kv; returns out [T, nH·hd] and the probabilities. */
function attention(q: Float64Array, k: Float64Array, v: Float64Array, d: Dims) {
  const { B, S, nH, nKV, hd } = d;
  const group = nH / nKV;
  const scale = 1 / Math.sqrt(hd);
  const out = new Float64Array(B * S * nH * hd);
  const probs = new Float64Array(B * nH * S * S);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nH; h++) {
      const kvh = Math.floor(h / group);
      for (let t = 0; t < S; t++) {
        const qi = (b * S + t) * nH * hd + h * hd;
        const row = ((b * nH + h) * S + t) * S;
        let max = -Infinity;
        for (let j = 0; j <= t; j++) {
          const ki = (b * S + j) * nKV * hd + kvh * hd;
          let s = 0;
          for (let c = 0; c < hd; c++) s += q[qi + c]! * k[ki + c]!;
          probs[row + j] = s * scale;
          max = Math.max(max, s * scale);
        }
        let sum = 0;
        for (let j = 0; j <= t; j++) sum += probs[row + j] = Math.exp(probs[row + j]! - max);
        for (let j = 0; j <= t; j++) {
          const p = (probs[row + j]! /= sum);
          const vi = (b * S + j) * nKV * hd + kvh * hd;
          for (let c = 0; c < hd; c++) out[qi + c]! += p * v[vi + c]!;
        }
      }
    }
  }
  return { out, probs };
}

function attentionBackward(dOut: Float64Array, q: Float64Array, k: Float64Array, v: Float64Array, probs: Float64Array, d: Dims) {
  const { B, S, nH, nKV, hd } = d;
  const group = nH / nKV;
  const scale = 1 / Math.sqrt(hd);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const dp = new Float64Array(S);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nH; h++) {
      const kvh = Math.floor(h / group);
      for (let t = 0; t < S; t++) {
        const qi = (b * S + t) * nH * hd + h * hd;
        const row = ((b * nH + h) * S + t) * S;
        let pdp = 0;
        for (let j = 0; j <= t; j++) {
          const vi = (b * S + j) * nKV * hd + kvh * hd;
          let s = 0;
          for (let c = 0; c < hd; c++) {
            s += dOut[qi + c]! * v[vi + c]!;
            dv[vi + c]! += probs[row + j]! * dOut[qi + c]!;
          }
          dp[j] = s;
          pdp += probs[row + j]! * s;
        }
        for (let j = 0; j <= t; j++) {
          const dScore = probs[row + j]! * (dp[j]! - pdp) * scale;
          const ki = (b * S + j) * nKV * hd + kvh * hd;
          for (let c = 0; c < hd; c++) {
            dq[qi + c]! += dScore * k[ki + c]!;
            dk[ki + c]! += dScore * q[qi + c]!;
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

interface LayerCache {
  x: Float64Array;
  ln1: { y: Float64Array; rstd: Float64Array };
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  probs: Float64Array;
  attn: Float64Array;
  xMid: Float64Array;
  ln2: { y: Float64Array; rstd: Float64Array };
  gate: Float64Array;
  up: Float64Array;
  act: Float64Array;
}

/**
 * Mean next-token cross-entropy of `tokens` [B·S] predicting `targets` [B·S], and (unless
 * `backward` is false) its gradient with respect to every parameter.
 */
export function llamaReference(
  config: LlamaConfig,
  params: ReferenceParams,
  tokens: ArrayLike<number>,
  targets: ArrayLike<number>,
  B: number,
  S: number,
  backward = true,
): ReferenceResult {
  const d: Dims = {
    B,
    S,
    T: B * S,
    C: config.hidden_size,
    I: config.intermediate_size,
    V: config.vocab_size,
    nH: config.num_attention_heads,
    nKV: config.num_key_value_heads,
    hd: headDim(config),
  };
  const { T, C, I, V, nH, nKV, hd } = d;
  const kvDim = nKV * hd;
  const eps = config.rms_norm_eps;
  const theta = config.rope_theta;
  const P = (name: string) => {
    const p = params[name];
    if (!p) throw new Error(`reference: missing parameter ${name}`);
    return p;
  };
  const headName = config.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  if (tokens.length !== T || targets.length !== T) throw new Error(`reference: expected ${T} tokens and targets`);

  // ---- forward ----
  const embed = P('model.embed_tokens.weight');
  let x = new Float64Array(T * C);
  for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) x[t * C + c] = embed[tokens[t]! * C + c]!;
  const caches: LayerCache[] = [];
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const ln1 = rmsnorm(x, P(`${p}.input_layernorm.weight`), T, C, eps);
    const q = linear(ln1.y, P(`${p}.self_attn.q_proj.weight`), T, C, C);
    const k = linear(ln1.y, P(`${p}.self_attn.k_proj.weight`), T, C, kvDim);
    const v = linear(ln1.y, P(`${p}.self_attn.v_proj.weight`), T, C, kvDim);
    rope(q, d, nH, theta, false);
    rope(k, d, nKV, theta, false);
    const { out: attn, probs } = attention(q, k, v, d);
    const o = linear(attn, P(`${p}.self_attn.o_proj.weight`), T, C, C);
    const xMid = x.map((xi, i) => xi + o[i]!);
    const ln2 = rmsnorm(xMid, P(`${p}.post_attention_layernorm.weight`), T, C, eps);
    const gate = linear(ln2.y, P(`${p}.mlp.gate_proj.weight`), T, C, I);
    const up = linear(ln2.y, P(`${p}.mlp.up_proj.weight`), T, C, I);
    const act = gate.map((g, i) => g * sigmoid(g) * up[i]!);
    const down = linear(act, P(`${p}.mlp.down_proj.weight`), T, I, C);
    caches.push({ x, ln1, q, k, v, probs, attn, xMid, ln2, gate, up, act });
    x = xMid.map((xi, i) => xi + down[i]!);
  }
  const lnf = rmsnorm(x, P('model.norm.weight'), T, C, eps);
  const logits = linear(lnf.y, P(headName), T, C, V);
  const losses = new Float64Array(T);
  const dLogits = new Float64Array(T * V);
  for (let t = 0; t < T; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    const max = row.reduce((m, z) => Math.max(m, z), -Infinity);
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(row[i]! - max);
    const target = targets[t]!;
    losses[t] = Math.log(sum) + max - row[target]!;
    for (let i = 0; i < V; i++) dLogits[t * V + i] = (Math.exp(row[i]! - max) / sum - (i === target ? 1 : 0)) / T;
  }
  const loss = losses.reduce((a, b) => a + b, 0) / T;
  const grads: Record<string, Float64Array> = {};
  if (!backward) return { loss, losses, grads };

  // ---- backward: forward in reverse ----
  for (const { name, shape } of parameterShapes(config)) grads[name] = new Float64Array(shape.reduce((a, b) => a * b, 1));
  const G = (name: string) => grads[name]!;
  const dLnf = new Float64Array(T * C);
  linearBackward(dLnf, G(headName), dLogits, lnf.y, P(headName), T, C, V);
  const dx = new Float64Array(T * C); // gradient of the residual stream
  rmsnormBackward(dx, G('model.norm.weight'), dLnf, x, P('model.norm.weight'), lnf.rstd, T, C);
  for (let l = config.num_hidden_layers - 1; l >= 0; l--) {
    const p = `model.layers.${l}`;
    const c = caches[l]!;
    // x_{l+1} = xMid + down(act): dx flows to both unchanged.
    const dAct = new Float64Array(T * I);
    linearBackward(dAct, G(`${p}.mlp.down_proj.weight`), dx, c.act, P(`${p}.mlp.down_proj.weight`), T, I, C);
    const dGate = new Float64Array(T * I);
    const dUp = new Float64Array(T * I);
    for (let i = 0; i < T * I; i++) {
      const g = c.gate[i]!;
      const s = sigmoid(g);
      dUp[i] = dAct[i]! * g * s;
      dGate[i] = dAct[i]! * c.up[i]! * s * (1 + g * (1 - s));
    }
    const dLn2 = new Float64Array(T * C);
    linearBackward(dLn2, G(`${p}.mlp.gate_proj.weight`), dGate, c.ln2.y, P(`${p}.mlp.gate_proj.weight`), T, C, I);
    linearBackward(dLn2, G(`${p}.mlp.up_proj.weight`), dUp, c.ln2.y, P(`${p}.mlp.up_proj.weight`), T, C, I);
    rmsnormBackward(
      dx,
      G(`${p}.post_attention_layernorm.weight`),
      dLn2,
      c.xMid,
      P(`${p}.post_attention_layernorm.weight`),
      c.ln2.rstd,
      T,
      C,
    );
    // xMid = x + o_proj(attn)
    const dAttn = new Float64Array(T * C);
    linearBackward(dAttn, G(`${p}.self_attn.o_proj.weight`), dx, c.attn, P(`${p}.self_attn.o_proj.weight`), T, C, C);
    const { dq, dk, dv } = attentionBackward(dAttn, c.q, c.k, c.v, c.probs, d);
    rope(dq, d, nH, theta, true);
    rope(dk, d, nKV, theta, true);
    const dLn1 = new Float64Array(T * C);
    linearBackward(dLn1, G(`${p}.self_attn.q_proj.weight`), dq, c.ln1.y, P(`${p}.self_attn.q_proj.weight`), T, C, C);
    linearBackward(dLn1, G(`${p}.self_attn.k_proj.weight`), dk, c.ln1.y, P(`${p}.self_attn.k_proj.weight`), T, C, kvDim);
    linearBackward(dLn1, G(`${p}.self_attn.v_proj.weight`), dv, c.ln1.y, P(`${p}.self_attn.v_proj.weight`), T, C, kvDim);
    rmsnormBackward(dx, G(`${p}.input_layernorm.weight`), dLn1, c.x, P(`${p}.input_layernorm.weight`), c.ln1.rstd, T, C);
  }
  const dEmbed = G('model.embed_tokens.weight');
  for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) dEmbed[tokens[t]! * C + c]! += dx[t * C + c]!;
  return { loss, losses, grads };
}
