// Training's pieces: the schedule and checkpoints that round-trip under Hugging Face names.
import { describe, expect, it } from 'vitest';
import { preset } from '../../src/model/config.ts';
import { initParameters } from '../../src/model/init.ts';
import { parameterLayout } from '../../src/model/layout.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { checkpointHash, CONFIG_FILE, decodeCheckpoint, encodeCheckpoint, MODEL_FILE, OPTIMIZER_FILE } from '../../src/train/checkpoint.ts';
import { learningRate } from '../../src/train/schedule.ts';

describe('learning-rate schedule', () => {
  const s = { peak: 1e-3, warmupSteps: 10, totalSteps: 110, minRatio: 0.1 };
  it('warms up linearly, then decays along a cosine to 0.1 x peak', () => {
    expect(learningRate(s, 1)).toBeCloseTo(1e-4, 12);
    expect(learningRate(s, 10)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, 60)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 12);
    expect(learningRate(s, 110)).toBeCloseTo(1e-4, 12);
    expect(learningRate(s, 500)).toBeCloseTo(1e-4, 12);
  });
});

describe('checkpoints', () => {
  const config = preset('tiny');
  const layout = parameterLayout(config);
  const params = initParameters(layout, { seed: 7 });

  it('round-trip exactly, under Hugging Face names, with a config transformers can read', () => {
    const m = params.map((x) => x * 0.5);
    const v = params.map((x) => x * x);
    const files = encodeCheckpoint({ config, params, step: 12, optimizer: { step: 12, m, v } });
    expect(Object.keys(files).sort()).toEqual([CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE].sort());
    const st = readSafetensors(files[MODEL_FILE]!);
    expect([...st.tensors.keys()]).toContain('model.layers.1.mlp.down_proj.weight');
    expect(st.tensors.has('lm_head.weight')).toBe(false); // tied to the embedding
    expect(st.tensors.get('model.embed_tokens.weight')!.shape).toEqual([256, 64]);
    const hf: unknown = JSON.parse(new TextDecoder().decode(files[CONFIG_FILE]));
    expect(hf).toMatchObject({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 64,
      tie_word_embeddings: true,
      hidden_act: 'silu',
    });

    const back = decodeCheckpoint(files);
    expect(back.step).toBe(12);
    expect(back.params).toEqual(params);
    expect(back.optimizer!.m).toEqual(m);
    expect(checkpointHash(layout, back.params)).toBe(checkpointHash(layout, params));
    // The single downloaded file is enough: its metadata carries the config.
    expect(decodeCheckpoint({ [MODEL_FILE]: files[MODEL_FILE]! }).params).toEqual(params);
  });

  it('reject a model file whose parameters do not match its recorded hash', () => {
    const files = encodeCheckpoint({ config, params, step: 0 });
    const bytes = files[MODEL_FILE]!.slice();
    bytes[bytes.length - 3]! ^= 0x40;
    expect(() => decodeCheckpoint({ ...files, [MODEL_FILE]: bytes })).toThrow(/corrupt/);
  });
});
