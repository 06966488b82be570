// The GPU model (forward + backward on Dawn) against the float64 reference: the loss and every
// parameter's gradient, on small random configs with grouped KV heads, a tied and an untied head,
// and a head + loss split into several token blocks; AdamW overfitting one batch; and the
// `webloco grads` command. One file, so that one process compiles the pipelines once (a software
// GPU spends about a minute on them); every config shares headDim 8 for the same reason.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run as runGrads } from '../../src/cli/grads.ts';
import { PRESETS, type LlamaConfig } from '../../src/model/config.ts';
import { initParameters } from '../../src/model/init.ts';
import { packParameters, parameterLayout, parameterShapes, unpackParameters } from '../../src/model/layout.ts';
import { LlamaModel } from '../../src/model/model.ts';
import { readSafetensors, writeSafetensors, type Tensor } from '../../src/model/safetensors.ts';
import { AdamW } from '../../src/train/optimizer.ts';
import { compareClose } from '../helpers/allclose.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { adamwReference, globalNormSquaredReference } from '../reference/adamw.ts';
import { llamaReference } from '../reference/llama.ts';
import { randomParams, randomTokens } from './fixtures.ts';
import { GROUPED } from '../helpers/configs.ts';

const CASES: [string, LlamaConfig, { batch: number; seqLen: number; logitsBlockTokens?: number }][] = [
  ['untied head, grouped KV heads', GROUPED, { batch: 2, seqLen: 7 }],
  [
    'tied head, full KV heads, two head blocks',
    { ...GROUPED, tie_word_embeddings: true, num_key_value_heads: 4 },
    { batch: 2, seqLen: 37, logitsBlockTokens: 64 },
  ],
];

const models: LlamaModel[] = [];
afterAll(() => models.forEach((m) => m.destroy()));

describe.each(CASES)('LlamaModel on the GPU (%s)', (_label, config, shape) => {
  it('matches the float64 reference loss and every gradient', async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.create(rt, config, shape);
    models.push(model);
    const layout = parameterLayout(config);
    const flat = packParameters(layout, randomParams(config, 3, 0.2));
    const { tokens, targets } = randomTokens(config.vocab_size, shape.batch, shape.seqLen, 4);
    model.setParameters(flat);
    model.step(tokens, targets);
    const [loss, losses, grads] = await Promise.all([model.readLoss(), model.readLosses(), model.readGradients()]);

    // The reference sees the same f32-rounded parameters, so the only difference is f32 arithmetic.
    const ref = llamaReference(config, Object.fromEntries(unpackParameters(layout, flat)), tokens, targets, shape.batch, shape.seqLen);
    // Losses near 4 from sums of ≤ 64 f32 terms through two layers: about 1e-6 relative in practice.
    expect(Math.abs(loss - ref.loss)).toBeLessThan(1e-4 * ref.loss);
    expect(compareClose(losses, ref.losses, { atol: 1e-4, rtol: 1e-4 }).ok).toBe(true);

    const gpu = unpackParameters(model.layout, grads);
    for (const t of layout.tensors) {
      const expected = ref.grads[t.name]!;
      const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      // f32 sums of ≤ 74 terms per op (T, I or V) through ~20 chained ops leave errors of a few
      // f32 ulps of the tensor's largest gradient (measured ≤ 1.4e-6 of it); 3e-5 of it plus
      // 1e-3 relative keeps a 20× margin while any real bug (a wrong sign, index, scale or
      // missing term) moves entries by a sizeable fraction of the scale.
      const result = compareClose(gpu.get(t.name)!, expected, { atol: 3e-5 * scale, rtol: 1e-3 });
      expect(scale, `${t.name} reference gradient is all zero`).toBeGreaterThan(0);
      expect(result.ok, `${t.name}: ${result.message}`).toBe(true);
    }
  });
});

describe('AdamW on the GPU model', () => {
  it('steps every tensor like torch AdamW, decaying 2-D weights only, clipping by the global norm', async () => {
    const rt = await testRuntime();
    const config = GROUPED;
    const shape = { batch: 2, seqLen: 7 };
    const model = await LlamaModel.create(rt, config, shape);
    models.push(model);
    const layout = model.layout;
    const start = packParameters(layout, randomParams(config, 5, 0.2));
    model.setParameters(start);
    const optimizer = await AdamW.create(model);
    const hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, maxNorm: 1 };
    const states = layout.tensors.map((t) => ({
      params: Float64Array.from(start.subarray(t.offset, t.offset + t.size)),
      m: new Float64Array(t.size),
      v: new Float64Array(t.size),
    }));
    let clipped = false;
    for (let step = 1; step <= 2; step++) {
      const { tokens, targets } = randomTokens(config.vocab_size, shape.batch, shape.seqLen, 30 + step);
      model.step(tokens, targets);
      optimizer.step(hyper.lr);
      // The reference steps from the GPU's own gradients: this checks the optimizer, not the model.
      const grads = unpackParameters(layout, await model.readGradients());
      const normSquared = globalNormSquaredReference([...grads.values()]);
      clipped ||= Math.sqrt(normSquared) > hyper.maxNorm;
      expect(await optimizer.readGradNorm()).toBeCloseTo(Math.sqrt(normSquared), 4);
      layout.tensors.forEach((t, i) => {
        adamwReference(states[i]!, grads.get(t.name)!, { ...hyper, weightDecay: t.shape.length === 2 ? 0.1 : 0 }, step, normSquared);
      });
    }
    expect(clipped, 'the test should exercise clipping').toBe(true);
    expect(optimizer.stepCount).toBe(2);
    const after = unpackParameters(layout, await model.getParameters());
    layout.tensors.forEach((t, i) => {
      // Updates are ~lr = 1e-3, computed in f32 (relative error ~1e-6) on parameters rounded to f32
      // (|p| ≤ 2, half-ulp 1.2e-7): 5e-7 absolute holds; a decay applied to the wrong group moves
      // a parameter by lr·0.1·|p| ≈ 1e-4, a missing clip by far more.
      const result = compareClose(after.get(t.name)!, states[i]!.params, { atol: 5e-7, rtol: 0 });
      expect(result.ok, `${t.name}: ${result.message}`).toBe(true);
    });
    optimizer.destroy();
  });

  it('overfits one batch: mean loss below 0.1 within a few hundred steps', async () => {
    const rt = await testRuntime();
    // The tiny preset with headDim 8 (hidden 32, 4 heads) to reuse this file's pipelines.
    const config: LlamaConfig = { ...PRESETS.tiny, hidden_size: 32, intermediate_size: 96 };
    const shape = { batch: 2, seqLen: 16 };
    const model = await LlamaModel.create(rt, config, shape);
    models.push(model);
    model.setParameters(initParameters(model.layout, { seed: 1 }));
    const optimizer = await AdamW.create(model);
    const { tokens, targets } = randomTokens(config.vocab_size, shape.batch, shape.seqLen, 11);
    const initial: number[] = [];
    let loss = Infinity;
    let steps = 0;
    while (steps < 400 && !(loss < 0.1)) {
      model.step(tokens, targets);
      optimizer.step(1e-2);
      steps++;
      if (steps === 1) initial.push(await model.readLoss());
      if (steps % 20 === 0) loss = await model.readLoss();
    }
    // Random targets over 256 ids: the first loss is about ln 256 ≈ 5.5.
    expect(initial[0]).toBeGreaterThan(5);
    expect(loss, `loss after ${steps} steps`).toBeLessThan(0.1);
    expect(Number.isFinite(await optimizer.readGradNorm())).toBe(true);
    optimizer.destroy();
  });
});

describe('webloco grads', () => {
  const family: LlamaConfig = { ...GROUPED, vocab_size: 29, intermediate_size: 40 };
  it.each([
    ['untied, grouped KV heads', { ...family }],
    ['tied, grouped KV heads', { ...family, tie_word_embeddings: true }],
    ['untied, full KV heads', { ...family, num_key_value_heads: 4 }],
    ['tied, full KV heads', { ...family, tie_word_embeddings: true, num_key_value_heads: 4 }],
  ])('agrees with the float64 reference (%s)', async (_label, config) => {
    const rt = await testRuntime();
    const dir = await mkdtemp(join(tmpdir(), 'webloco-grads-'));
    try {
      const B = 2;
      const S = 6;
      const params = randomParams(config, 21, 0.2);
      // The weights file in reversed order: the command must go by name, not position.
      const weights: [string, Tensor][] = parameterShapes(config)
        .reverse()
        .map(({ name, shape }) => [name, { dtype: 'F32', shape, data: Float32Array.from(params[name]!) }]);
      const rows = new Int32Array(B * (S + 1)).map((_, i) => (i * 7 + 3) % config.vocab_size);
      // HF config.json fields beyond LlamaConfig's are accepted.
      const configJson = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'silu', ...config };
      await writeFile(join(dir, 'config.json'), JSON.stringify(configJson));
      await writeFile(join(dir, 'w.safetensors'), writeSafetensors(weights));
      await writeFile(join(dir, 't.safetensors'), writeSafetensors({ tokens: { dtype: 'I32', shape: [B, S + 1], data: rows } }));
      const printedLines: string[] = [];
      const log = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void printedLines.push(String(line)));
      try {
        await runGrads(
          {
            config: join(dir, 'config.json'),
            weights: join(dir, 'w.safetensors'),
            tokens: join(dir, 't.safetensors'),
            out: join(dir, 'g.safetensors'),
          },
          rt,
        );
      } finally {
        log.mockRestore();
      }
      expect(printedLines).toHaveLength(1);
      const printed = JSON.parse(printedLines[0]!) as { loss: number };
      const grads = readSafetensors(await readFile(join(dir, 'g.safetensors'))).tensors;

      const inputs = new Int32Array(B * S);
      const targets = new Int32Array(B * S);
      for (let b = 0; b < B; b++) {
        inputs.set(rows.subarray(b * (S + 1), b * (S + 1) + S), b * S);
        targets.set(rows.subarray(b * (S + 1) + 1, (b + 1) * (S + 1)), b * S);
      }
      const f32Params = Object.fromEntries(weights.map(([name, t]) => [name, t.data]));
      const ref = llamaReference(config, f32Params, inputs, targets, B, S);
      // As in the model test above: f32 against float64 on the same f32 weights.
      expect(Math.abs(printed.loss - ref.loss)).toBeLessThan(1e-4 * ref.loss);
      expect([...grads.keys()]).toEqual(weights.map(([name]) => name));
      for (const [name, w] of weights) {
        const g = grads.get(name)!;
        expect(g.shape).toEqual(w.shape);
        const expected = ref.grads[name]!;
        const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const result = compareClose(g.data, expected, { atol: 3e-5 * scale, rtol: 1e-3 });
        expect(result.ok, `${name}: ${result.message}`).toBe(true);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
