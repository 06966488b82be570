// The model's f16 path (GpuRuntime.f16: matmul operands rounded to f16, sums and everything else
// in f32) against the float64 reference, and training with it against training in f32. The halves
// are stored packed in pairs (core WGSL), so this runs on any adapter, SwiftShader included.
import { afterAll, describe, expect, it } from 'vitest';
import { PRESETS } from '../../src/model/config.ts';
import { initParameters } from '../../src/model/init.ts';
import { packParameters, parameterLayout, unpackParameters } from '../../src/model/layout.ts';
import { LlamaModel } from '../../src/model/model.ts';
import { ADAMW_DEFAULTS, AdamW } from '../../src/train/optimizer.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { f16Runtime, testRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/random.ts';
import { llamaReference } from '../reference/llama.ts';
import { randomParams, randomTokens } from './fixtures.ts';
import { GROUPED as CONFIG } from '../helpers/configs.ts';

const models: LlamaModel[] = [];
afterAll(() => models.forEach((m) => m.destroy()));

/** Unit roundoff of binary16: every matmul operand is rounded once, with relative error ≤ U16. */
const U16 = 2 ** -11;

describe('the f16 path', () => {
  it('takes the f16 path only where asked: f32 by default, even where the device has shader-f16', async () => {
    const rt = await testRuntime();
    expect(rt.f16).toBe(false);
    expect((await f16Runtime()).f16).toBe(true);
  });

  it('matches the float64 reference loss and every gradient within f16 rounding', async () => {
    const rt = await f16Runtime();
    const shape = { batch: 2, seqLen: 37, logitsBlockTokens: 64 }; // two head blocks
    const model = await LlamaModel.create(rt, CONFIG, shape);
    models.push(model);
    expect(model.half).not.toBeNull();
    const layout = parameterLayout(CONFIG);
    const flat = packParameters(layout, randomParams(CONFIG, 3, 0.2));
    const { tokens, targets } = randomTokens(CONFIG.vocab_size, shape.batch, shape.seqLen, 4);
    model.setParameters(flat);
    model.step(tokens, targets);
    const [loss, grads] = await Promise.all([model.readLoss(), model.readGradients()]);
    const ref = llamaReference(CONFIG, Object.fromEntries(unpackParameters(layout, flat)), tokens, targets, shape.batch, shape.seqLen);

    // Each matmul rounds both operands to f16: its output errs by ≤ 2·U16 of Σ|terms|. A logit
    // comes out of 4 chained matmuls per layer (q/k/v, o, gate/up, down) and the head, 9 here, so
    // ≤ 18·U16 of its magnitude scale (≈ 1) in the worst case, and the loss (lse − logit) twice
    // that: 36·U16 ≈ 1.8e-2 absolute. Rounding errors of independent values mostly cancel, so
    // the measured error is far below; the bound is what a correct f16 path cannot exceed.
    expect(Math.abs(loss - ref.loss)).toBeLessThan(36 * U16);

    // A gradient passes the forward's 9 matmuls and up to as many backward ones: ≤ 36·U16 of the
    // tensor's scale element-wise in the worst case (≈ 1.8e-2), against the f32 path's 3e-5.
    // Measured norm-wise it is ~1e-3. A real bug (sign, index, scale, missing term) moves a
    // tensor by a sizeable fraction of its scale, so the check still tells right from wrong.
    const gpu = unpackParameters(model.layout, grads);
    for (const t of layout.tensors) {
      const expected = ref.grads[t.name]!;
      const got = gpu.get(t.name)!;
      const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(scale, `${t.name} reference gradient is all zero`).toBeGreaterThan(0);
      let worst = 0;
      let diff = 0;
      let norm = 0;
      for (let i = 0; i < expected.length; i++) {
        worst = Math.max(worst, Math.abs(got[i]! - expected[i]!));
        diff += (got[i]! - expected[i]!) ** 2;
        norm += expected[i]! ** 2;
      }
      expect(worst, `${t.name}: worst element error ${worst} of scale ${scale}`).toBeLessThanOrEqual(36 * U16 * scale);
      expect(Math.sqrt(diff / norm), `${t.name}: relative error in norm`).toBeLessThan(16 * U16);
    }
  });

  // A stream over 16 of tiny's 256 byte values with structure to learn: each token is a fixed
  // function of the previous one 80% of the time, uniform over the 16 otherwise. Train on one
  // stream, measure on another.
  function stream(n: number, seed: number): Int32Array {
    const r = rng(seed);
    const out = new Int32Array(n);
    out[0] = 97;
    for (let i = 1; i < n; i++) out[i] = 97 + (r() < 0.8 ? ((out[i - 1]! - 97) * 5 + 3) % 16 : Math.floor(r() * 16));
    return out;
  }

  async function trainTiny(rt: GpuRuntime): Promise<number> {
    const config = PRESETS.tiny;
    const [B, S, steps] = [2, 32, 15];
    const model = await LlamaModel.create(rt, config, { batch: B, seqLen: S });
    models.push(model);
    const optimizer = await AdamW.create(model, ADAMW_DEFAULTS);
    try {
      model.setParameters(initParameters(model.layout, { seed: 5 }));
      const train = stream(steps * B * (S + 1), 11);
      const batch = (data: Int32Array, i: number) => {
        const tokens = new Int32Array(B * S);
        const targets = new Int32Array(B * S);
        for (let b = 0; b < B; b++) {
          const start = (i * B + b) * (S + 1);
          tokens.set(data.subarray(start, start + S), b * S);
          targets.set(data.subarray(start + 1, start + S + 1), b * S);
        }
        return { tokens, targets };
      };
      for (let i = 0; i < steps; i++) {
        const { tokens, targets } = batch(train, i);
        model.step(tokens, targets);
        optimizer.step(3e-3);
      }
      const heldOut = stream(4 * B * (S + 1), 12);
      let sum = 0;
      for (let i = 0; i < 4; i++) {
        const { tokens, targets } = batch(heldOut, i);
        model.forward(tokens, targets, false);
        sum += await model.readLoss();
      }
      return sum / 4;
    } finally {
      optimizer.destroy();
    }
  }

  it('trains tiny to the same held-out loss as the f32 path, within 2%', async () => {
    const f32 = await trainTiny(await testRuntime());
    const f16 = await trainTiny(await f16Runtime());
    // Learning happened (uniform guessing is ln 256 = 5.55, the 16 values' unigram ln 16 = 2.77),
    // and f16 lands where f32 does.
    expect(f32).toBeLessThan(3.5);
    console.log(`held-out loss after 15 steps: f32 ${f32}, f16 ${f16}`);
    expect(Math.abs(f16 - f32) / f32, `held-out loss f16 ${f16}, f32 ${f32}`).toBeLessThan(0.02);
  });
});
