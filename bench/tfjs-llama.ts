// The same LLaMA as src/model, written with tfjs ops and trained by tfjs's autodiff: the peer
// implementation that `npm run bench:train` times ours against. Same math as ours and as
// test/reference/llama.ts (HF RMSNorm, rotate_half RoPE, causal attention with repeat_kv, SwiGLU,
// tied head, mean cross-entropy over all B·S targets) and the same AdamW (PyTorch's order, global
// grad-norm clipping as torch.nn.utils.clip_grad_norm_), so the two do the same work per step.
// Runs wherever tfjs runs; the bench uses it in the browser on tfjs-backend-webgpu.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's entry point registers no gradients (the tfjs union package does): autodiff needs them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { headDim, type LlamaConfig } from '../src/model/config.ts';
import { unpackParameters, type ParameterLayout } from '../src/model/layout.ts';
import type { AdamWHyperparameters } from '../src/train/optimizer.ts';

interface LayerVariables {
  inputNorm: tf.Variable;
  q: tf.Variable;
  k: tf.Variable;
  v: tf.Variable;
  o: tf.Variable;
  postNorm: tf.Variable;
  gate: tf.Variable;
  up: tf.Variable;
  down: tf.Variable;
}

/** Distinguishes the variables of several models in tfjs's global variable registry. */
let modelCount = 0;

export class TfjsLlama {
  readonly config: LlamaConfig;
  /** Every trainable tensor, in our layout's order, with its weight-decay flag. */
  private readonly variables: { variable: tf.Variable; weightDecay: boolean; m: tf.Variable; v: tf.Variable }[] = [];
  private readonly embed: tf.Variable;
  private readonly layers: LayerVariables[] = [];
  private readonly finalNorm: tf.Variable;
  private readonly head: tf.Variable;
  /** RoPE tables [S, headDim] and the causal mask [S, S], built per sequence length. */
  private readonly constantsBySeqLen = new Map<number, { cos: tf.Tensor2D; sin: tf.Tensor2D; mask: tf.Tensor2D }>();
  stepCount = 0;

  /** A model holding `flat` (our flat parameter vector in `layout`'s order, e.g. from initParameters). */
  constructor(layout: ParameterLayout, flat: Float32Array) {
    this.config = layout.config;
    const id = modelCount++;
    const tensors = unpackParameters(layout, flat);
    const byName = new Map<string, tf.Variable>();
    for (const t of layout.tensors) {
      // tidy frees the initial-value tensors; variables survive it.
      const variable = tf.tidy(() => tf.variable(tf.tensor(tensors.get(t.name)!, t.shape, 'float32'), true, `llama${id}/${t.name}`));
      const zeros = () => tf.tidy(() => tf.variable(tf.zeros(t.shape, 'float32'), false));
      byName.set(t.name, variable);
      this.variables.push({ variable, weightDecay: t.weightDecay, m: zeros(), v: zeros() });
    }
    const get = (name: string) => byName.get(name) ?? failMissing(name);
    this.embed = get('model.embed_tokens.weight');
    for (let l = 0; l < this.config.num_hidden_layers; l++) {
      const p = `model.layers.${l}`;
      this.layers.push({
        inputNorm: get(`${p}.input_layernorm.weight`),
        q: get(`${p}.self_attn.q_proj.weight`),
        k: get(`${p}.self_attn.k_proj.weight`),
        v: get(`${p}.self_attn.v_proj.weight`),
        o: get(`${p}.self_attn.o_proj.weight`),
        postNorm: get(`${p}.post_attention_layernorm.weight`),
        gate: get(`${p}.mlp.gate_proj.weight`),
        up: get(`${p}.mlp.up_proj.weight`),
        down: get(`${p}.mlp.down_proj.weight`),
      });
    }
    this.finalNorm = get('model.norm.weight');
    this.head = this.config.tie_word_embeddings ? this.embed : get('lm_head.weight');
  }

  /**
   * Mean cross-entropy of predicting `targets` from `tokens` ([B, S] int32 each), as a scalar
   * tensor recorded on tfjs's tape (call inside tf.variableGrads to get gradients).
   */
  loss(tokens: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
    const [B, S] = tokens.shape;
    const T = B * S;
    const V = this.config.vocab_size;
    const { cos, sin, mask } = this.constants(S);
    let x: tf.Tensor2D = tf.gather(this.embed, tf.reshape(tokens, [T])) as tf.Tensor2D;
    for (const w of this.layers) {
      const h = this.rmsnorm(x, w.inputNorm);
      const attn = this.attention(h, w, B, S, cos, sin, mask);
      x = tf.add(x, linear(attn, w.o));
      const h2 = this.rmsnorm(x, w.postNorm);
      const gate = linear(h2, w.gate);
      const act = tf.mul(tf.mul(gate, tf.sigmoid(gate)), linear(h2, w.up));
      x = tf.add(x, linear(act as tf.Tensor2D, w.down));
    }
    const logits = linear(this.rmsnorm(x, this.finalNorm), this.head);
    // −log softmax at the target, summed over the vocabulary through a one-hot mask: the
    // formulation tfjs-layers uses for categorical cross-entropy, differentiable with tfjs ops.
    const picked = tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(tf.reshape<tf.Rank.R1>(targets, [T]), V)));
    return tf.div<tf.Scalar>(tf.neg(picked), T);
  }

  /**
   * Records one training step (loss, gradients, clipped AdamW update of every parameter, as
   * src/train/optimizer.ts does it) and returns the loss before the update; read it with data()
   * to wait for the step. With `keepGradients` it also returns the gradients (before clipping), in
   * the layout's order, for the caller to read and dispose.
   */
  step(
    tokens: tf.Tensor2D,
    targets: tf.Tensor2D,
    lr: number,
    hyper: AdamWHyperparameters,
    keepGradients = false,
  ): { loss: tf.Scalar; gradients?: tf.Tensor[] } {
    const step = ++this.stepCount;
    let gradients: tf.Tensor[] | undefined;
    const loss = tf.tidy(() => {
      const vars = this.variables.map((p) => p.variable);
      const { value, grads } = tf.variableGrads(() => this.loss(tokens, targets), vars);
      const gradOf = (v: tf.Variable) => grads[v.name] ?? failMissing(v.name);
      if (keepGradients) gradients = vars.map((v) => tf.keep(gradOf(v)));
      // torch's clip_grad_norm_: scale = min(1, maxNorm / (‖g‖ + 1e-6)), computed on the GPU.
      let clip: tf.Tensor = tf.scalar(1);
      if (Number.isFinite(hyper.maxGradNorm)) {
        // Pairwise adds, not tf.addN: addN binds every input at once, beyond the 8 storage
        // buffers per stage that tfjs's device allows.
        const squares = vars.map((v) => tf.sum(tf.square(gradOf(v))));
        const norm = tf.sqrt(squares.reduce((a, b) => tf.add(a, b)));
        clip = tf.minimum(1, tf.div(hyper.maxGradNorm, tf.add(norm, 1e-6)));
      }
      const stepSize = lr / (1 - hyper.beta1 ** step);
      const biasCorrection2 = Math.sqrt(1 - hyper.beta2 ** step);
      for (const p of this.variables) {
        const g = tf.mul(gradOf(p.variable), clip);
        p.m.assign(tf.add(tf.mul(p.m, hyper.beta1), tf.mul(g, 1 - hyper.beta1)));
        p.v.assign(tf.add(tf.mul(p.v, hyper.beta2), tf.mul(tf.square(g), 1 - hyper.beta2)));
        const decayed = p.weightDecay ? tf.mul(p.variable, 1 - lr * hyper.weightDecay) : p.variable;
        const denom = tf.add(tf.div(tf.sqrt(p.v), biasCorrection2), hyper.eps);
        p.variable.assign(tf.sub(decayed, tf.mul(tf.div(p.m, denom), stepSize)));
      }
      return value;
    });
    return { loss, gradients };
  }

  dispose(): void {
    for (const p of this.variables) tf.dispose([p.variable, p.m, p.v]);
    for (const c of this.constantsBySeqLen.values()) tf.dispose([c.cos, c.sin, c.mask]);
    this.constantsBySeqLen.clear();
  }

  /** HF LlamaRMSNorm: w ⊙ x / √(mean(x²) + eps), over the last axis. */
  private rmsnorm(x: tf.Tensor2D, weight: tf.Variable): tf.Tensor2D {
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), this.config.rms_norm_eps));
    return tf.mul(tf.mul(x, rstd), weight);
  }

  /** Causal self-attention of h [T, C] with rotary q/k and grouped KV heads; returns [T, C]. */
  private attention(
    h: tf.Tensor2D,
    w: LayerVariables,
    B: number,
    S: number,
    cos: tf.Tensor2D,
    sin: tf.Tensor2D,
    mask: tf.Tensor2D,
  ): tf.Tensor2D {
    const nH = this.config.num_attention_heads;
    const nKV = this.config.num_key_value_heads;
    const hd = headDim(this.config);
    const heads = (x: tf.Tensor2D, n: number) => tf.transpose<tf.Tensor4D>(tf.reshape(x, [B, S, n, hd]), [0, 2, 1, 3]);
    const q = rope(heads(linear(h, w.q), nH), cos, sin);
    let k = rope(heads(linear(h, w.k), nKV), cos, sin);
    let v = heads(linear(h, w.v), nKV);
    if (nKV !== nH) {
      // repeat_kv: query head j reads KV head ⌊j / group⌋.
      const group = nH / nKV;
      const repeat = (x: tf.Tensor4D) => tf.reshape<tf.Rank.R4>(tf.tile(tf.expandDims(x, 2), [1, 1, group, 1, 1]), [B, nH, S, hd]);
      k = repeat(k);
      v = repeat(v);
    }
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd)), mask);
    const out = tf.matMul(tf.softmax(scores), v);
    return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [B * S, nH * hd]);
  }

  private constants(S: number) {
    let c = this.constantsBySeqLen.get(S);
    if (!c) {
      const hd = headDim(this.config);
      const half = hd / 2;
      const cos = new Float32Array(S * hd);
      const sin = new Float32Array(S * hd);
      for (let p = 0; p < S; p++) {
        for (let i = 0; i < half; i++) {
          // Angles in float64, as the reference does; both halves of a head share frequency i.
          const angle = p * this.config.rope_theta ** (-(2 * i) / hd);
          cos[p * hd + i] = cos[p * hd + i + half] = Math.cos(angle);
          sin[p * hd + i] = sin[p * hd + i + half] = Math.sin(angle);
        }
      }
      // −1e9 rather than −∞ above the diagonal: exp underflows to exactly 0 either way, and no
      // −∞ − (−∞) can reach the softmax gradient.
      const mask = new Float32Array(S * S);
      for (let i = 0; i < S; i++) for (let j = i + 1; j < S; j++) mask[i * S + j] = -1e9;
      c = { cos: tf.keep(tf.tensor2d(cos, [S, hd])), sin: tf.keep(tf.tensor2d(sin, [S, hd])), mask: tf.keep(tf.tensor2d(mask, [S, S])) };
      this.constantsBySeqLen.set(S, c);
    }
    return c;
  }
}

/** y = x·Wᵀ with W [out, in] (Hugging Face's nn.Linear layout). */
function linear(x: tf.Tensor2D, weight: tf.Tensor): tf.Tensor2D {
  return tf.matMul(x, weight, false, true);
}

/** HF apply_rotary_pos_emb on [B, heads, S, hd]: x·cos + rotate_half(x)·sin, rotate_half(x) = [−x₂, x₁]. */
function rope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  const half = x.shape[3] / 2;
  const [x1, x2] = tf.split(x, [half, half], 3);
  const rotated = tf.concat([tf.neg(x2!), x1!], 3);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}

function failMissing(name: string): never {
  throw new Error(
    `tfjs LLaMA: no tensor or gradient named '${name}'; the parameter layout and TfjsLlama disagree (update bench/tfjs-llama.ts).`,
  );
}
