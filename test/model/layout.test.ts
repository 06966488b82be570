// Presets, config validation, the flat parameter layout (names, offsets, alignment, arenas,
// hash), deterministic init and the activation memory plan: CPU only.
import { describe, expect, it } from 'vitest';
import { ALIGN_FLOATS } from '../../src/model/arena.ts';
import { activationReport, planActivations } from '../../src/model/activations.ts';
import { parseLlamaConfig, preset, PRESETS, validateConfig } from '../../src/model/config.ts';
import { initParameters, NormalStream, portableLog } from '../../src/model/init.ts';
import { packParameters, parameterLayout, unpackParameters } from '../../src/model/layout.ts';

const GIB = 1024 ** 3;
const WEBGPU_DEFAULTS = { maxBufferSize: 256 * 1024 * 1024, maxStorageBufferBindingSize: 128 * 1024 * 1024 };

describe('LlamaConfig', () => {
  it('has the three presets with the documented shapes', () => {
    expect(PRESETS.tiny).toMatchObject({
      vocab_size: 256,
      hidden_size: 64,
      intermediate_size: 192,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      max_position_embeddings: 64,
    });
    expect(PRESETS.small).toMatchObject({ vocab_size: 50257, hidden_size: 384, num_hidden_layers: 6, max_position_embeddings: 256 });
    expect(PRESETS.base).toMatchObject({
      vocab_size: 50257,
      hidden_size: 768,
      intermediate_size: 2048,
      num_hidden_layers: 12,
      max_position_embeddings: 1024,
    });
    for (const p of Object.values(PRESETS)) expect(() => validateConfig(p)).not.toThrow();
    expect(() => preset('huge')).toThrow(/unknown model preset 'huge'; choose one of tiny, small, base/);
  });

  it('reads a Hugging Face config.json, filling HF defaults', () => {
    const c = parseLlamaConfig({
      architectures: ['LlamaForCausalLM'],
      hidden_act: 'silu',
      vocab_size: 10,
      hidden_size: 8,
      intermediate_size: 12,
      num_hidden_layers: 1,
      num_attention_heads: 2,
    });
    expect(c).toEqual({
      vocab_size: 10,
      hidden_size: 8,
      intermediate_size: 12,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      num_key_value_heads: 2,
      max_position_embeddings: 2048,
      rms_norm_eps: 1e-6,
      rope_theta: 10000,
      tie_word_embeddings: false,
    });
  });

  it('rejects configs it would compute differently, naming the field', () => {
    const ok = { ...PRESETS.tiny };
    expect(() => parseLlamaConfig({ ...ok, num_key_value_heads: 3 })).toThrow(
      /num_attention_heads 4 is not a multiple of num_key_value_heads 3/,
    );
    expect(() => parseLlamaConfig({ ...ok, hidden_size: 66 })).toThrow(/hidden_size 66 is not divisible/);
    expect(() => parseLlamaConfig({ ...ok, hidden_act: 'gelu' })).toThrow(/hidden_act must be 'silu'/);
    expect(() => parseLlamaConfig({ ...ok, rope_scaling: { type: 'linear', factor: 2 } })).toThrow(/rope_scaling is not supported/);
    expect(() => parseLlamaConfig({ ...ok, vocab_size: 1.5 })).toThrow(/vocab_size must be a positive integer/);
    expect(() => parseLlamaConfig({ ...ok, rms_norm_eps: -1 })).toThrow(/rms_norm_eps must be a positive number/);
    const { hidden_size: _, ...missing } = ok;
    expect(() => parseLlamaConfig(missing)).toThrow(/missing 'hidden_size'/);
    expect(() => parseLlamaConfig([1])).toThrow(/JSON object/);
  });
});

describe('parameter layout', () => {
  it('lists Hugging Face names in canonical order with aligned offsets and decay flags', () => {
    const layout = parameterLayout({ ...PRESETS.tiny, tie_word_embeddings: false, num_key_value_heads: 2 });
    const names = layout.tensors.map((t) => t.name);
    expect(names.slice(0, 10)).toEqual([
      'model.embed_tokens.weight',
      'model.layers.0.input_layernorm.weight',
      'model.layers.0.self_attn.q_proj.weight',
      'model.layers.0.self_attn.k_proj.weight',
      'model.layers.0.self_attn.v_proj.weight',
      'model.layers.0.self_attn.o_proj.weight',
      'model.layers.0.post_attention_layernorm.weight',
      'model.layers.0.mlp.gate_proj.weight',
      'model.layers.0.mlp.up_proj.weight',
      'model.layers.0.mlp.down_proj.weight',
    ]);
    expect(names.slice(-2)).toEqual(['model.norm.weight', 'lm_head.weight']);
    expect(layout.tensors[3]!.shape).toEqual([32, 64]); // k_proj: 2 KV heads of 16
    expect(layout.tensors[9]!.shape).toEqual([64, 192]); // down_proj [out, in]
    let end = 0;
    for (const t of layout.tensors) {
      expect(t.offset % ALIGN_FLOATS).toBe(0);
      expect(t.offset).toBeGreaterThanOrEqual(end);
      expect(t.weightDecay).toBe(t.shape.length === 2);
      end = t.offset + t.size;
    }
    expect(layout.totalFloats).toBeGreaterThanOrEqual(end);
    expect(layout.arenaFloats).toHaveLength(1);
  });

  it('counts about 124M parameters for base, with the head tied', () => {
    const layout = parameterLayout(PRESETS.base);
    expect(layout.tensors.some((t) => t.name === 'lm_head.weight')).toBe(false);
    expect(layout.parameterCount).toBe(50257 * 768 + 12 * (2 * 768 + 4 * 768 * 768 + 3 * 768 * 2048) + 768);
    expect(layout.parameterCount / 1e6).toBeCloseTo(123.6, 1);
  });

  it('splits into arenas under small buffer limits, each tensor bindable', () => {
    // small holds 120 MB of parameters, its embedding 77 MB: a 96 MiB maxBufferSize needs two arenas.
    const limits = { maxBufferSize: 96 * 1024 * 1024, maxStorageBufferBindingSize: 96 * 1024 * 1024 };
    const layout = parameterLayout(PRESETS.small, limits);
    expect(layout.arenaFloats).toHaveLength(2);
    for (const floats of layout.arenaFloats) expect(floats * 4).toBeLessThanOrEqual(limits.maxBufferSize);
    for (const t of layout.tensors) {
      expect(t.arenaOffset + t.size).toBeLessThanOrEqual(layout.arenaFloats[t.arena]!);
      expect(t.offset).toBe(layout.arenaStart[t.arena]! + t.arenaOffset);
    }
    // base's 154 MB embedding cannot be one binding of 128 MiB: the error says what to do.
    expect(() => parameterLayout(PRESETS.base, WEBGPU_DEFAULTS)).toThrow(
      /model.embed_tokens.weight needs 154389504 bytes in one binding.*smaller model preset/,
    );
    expect(parameterLayout(PRESETS.base, { maxBufferSize: 4 * GIB, maxStorageBufferBindingSize: GIB }).arenaFloats).toHaveLength(1);
  });

  it('hashes names and shapes: stable, and different for a different shape', () => {
    const limits = { maxBufferSize: 96 * 1024 * 1024, maxStorageBufferBindingSize: 96 * 1024 * 1024 };
    const a = parameterLayout(PRESETS.tiny);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(parameterLayout({ ...PRESETS.tiny }).hash).toBe(a.hash);
    expect(parameterLayout({ ...PRESETS.tiny, intermediate_size: 128 }).hash).not.toBe(a.hash);
    expect(parameterLayout({ ...PRESETS.tiny, tie_word_embeddings: false }).hash).not.toBe(a.hash);
    // Arena splitting is a property of the device, not of the model: same hash.
    expect(parameterLayout(PRESETS.small, limits).hash).toBe(parameterLayout(PRESETS.small).hash);
  });

  it('packs and unpacks named tensors through the flat vector', () => {
    const layout = parameterLayout(PRESETS.tiny);
    const named = Object.fromEntries(layout.tensors.map((t, i) => [t.name, new Float32Array(t.size).fill(i + 1)]));
    const flat = packParameters(layout, named);
    const back = unpackParameters(layout, flat);
    layout.tensors.forEach((t, i) => expect(back.get(t.name)!.every((v) => v === i + 1)).toBe(true));
    expect(() => packParameters(layout, { ...named, 'model.norm.weight': new Float32Array(3) })).toThrow(
      /'model.norm.weight' has 3 elements, expected 64/,
    );
  });
});

describe('deterministic init', () => {
  it('gives the same bits for the same seed, N(0, 0.02²) weights and unit norm gains', () => {
    const layout = parameterLayout(PRESETS.tiny);
    const a = initParameters(layout, { seed: 42 });
    expect(initParameters(layout, { seed: 42 })).toEqual(a);
    expect(initParameters(layout, { seed: 43 })).not.toEqual(a);
    const embed = unpackParameters(layout, a).get('model.embed_tokens.weight')!;
    const mean = embed.reduce((s, v) => s + v, 0) / embed.length;
    const std = Math.sqrt(embed.reduce((s, v) => s + (v - mean) ** 2, 0) / embed.length);
    // 16384 samples: the sample mean is within ~4 standard errors (0.02/128) of 0, the std within 2%.
    expect(Math.abs(mean)).toBeLessThan(7e-4);
    expect(std).toBeGreaterThan(0.0196);
    expect(std).toBeLessThan(0.0204);
    expect(
      unpackParameters(layout, a)
        .get('model.norm.weight')!
        .every((v) => v === 1),
    ).toBe(true);
  });

  it('pins the first normals of a stream (any engine must reproduce these exact bits)', () => {
    const stream = new NormalStream(new Uint8Array(16).map((_, i) => i + 1));
    const first = Array.from({ length: 4 }, () => stream.next());
    // Recorded on V8; the generator uses only integer ops, IEEE + − × ÷ and sqrt.
    expect(first).toMatchInlineSnapshot(`
      [
        1.0236144126669267,
        -1.5429706710290734,
        -0.05897943491546801,
        0.7870411857604962,
      ]
    `);
  });

  it('computes ln without Math.log to within an ulp', () => {
    for (const x of [1e-300, 5e-324, 1e-10, 0.1, 0.5, 0.70710678, 0.9999999, 1, 1.5, 2, 3.14159, 1e300]) {
      expect(Math.abs(portableLog(x) - Math.log(x))).toBeLessThanOrEqual(2.3e-16 * Math.max(1, Math.abs(Math.log(x))));
    }
  });
});

describe('activation memory plan', () => {
  it('splits the head + loss into 64-token blocks when the logits would exceed the budget', () => {
    const limits = { maxBufferSize: 4 * GIB, maxStorageBufferBindingSize: GIB };
    expect(planActivations(PRESETS.tiny, { batch: 4, seqLen: 64 }, limits).logitsBlockTokens).toBe(256);
    const base = activationReport(PRESETS.base, { batch: 8, seqLen: 1024 }, limits);
    expect(base.logitsBlockTokens % 64).toBe(0);
    expect(base.logitsBlockTokens * 50257 * 4).toBeLessThanOrEqual(64 * 1024 * 1024);
    expect(base.totalBytes).toBeLessThan(12 * base.perLayerBytes + base.headBytes + base.scratchBytes + 64 * 1024);
    expect(() => planActivations(PRESETS.tiny, { batch: 1, seqLen: 65 }, limits)).toThrow(
      /seqLen 65 exceeds the model's max_position_embeddings 64/,
    );
  });
});
