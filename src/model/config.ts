// The model's shape, in Hugging Face LlamaConfig field names so that a config.json written by
// `transformers` loads unchanged, plus the three presets WebLoCo trains.

export interface LlamaConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  tie_word_embeddings: boolean;
}

export type PresetName = 'tiny' | 'small' | 'base';

const COMMON = { rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true } as const;

export const PRESETS: Readonly<Record<PresetName, Readonly<LlamaConfig>>> = {
  // Byte-level vocabulary: trains in seconds even on a software GPU.
  tiny: {
    ...COMMON,
    vocab_size: 256,
    hidden_size: 64,
    intermediate_size: 192,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 4,
    max_position_embeddings: 64,
  },
  // GPT-2 BPE vocabulary (gpt-tokenizer).
  small: {
    ...COMMON,
    vocab_size: 50257,
    hidden_size: 384,
    intermediate_size: 1024,
    num_hidden_layers: 6,
    num_attention_heads: 6,
    num_key_value_heads: 6,
    max_position_embeddings: 256,
  },
  // GPT-2 small's budget (~124M parameters) in LLaMA form.
  base: {
    ...COMMON,
    vocab_size: 50257,
    hidden_size: 768,
    intermediate_size: 2048,
    num_hidden_layers: 12,
    num_attention_heads: 12,
    num_key_value_heads: 12,
    max_position_embeddings: 1024,
  },
};

export function preset(name: string): LlamaConfig {
  if (!(name in PRESETS)) throw new Error(`unknown model preset '${name}'; choose one of ${Object.keys(PRESETS).join(', ')}`);
  return { ...PRESETS[name as PresetName] };
}

export function headDim(config: LlamaConfig): number {
  return config.hidden_size / config.num_attention_heads;
}

/** Hugging Face's defaults for the fields a config.json may leave out. */
const HF_DEFAULTS = {
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: false,
  max_position_embeddings: 2048,
} as const;

const REQUIRED = ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads'] as const;

/**
 * Reads a LlamaConfig from parsed JSON (a Hugging Face config.json or one of ours), filling
 * Hugging Face's defaults, and rejects anything this implementation would compute differently
 * (rope scaling, biases, another activation) instead of silently training a different model.
 */
export function parseLlamaConfig(json: unknown): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error('model config must be a JSON object with LlamaConfig fields');
  const raw = json as Record<string, unknown>;
  for (const field of REQUIRED) {
    if (raw[field] === undefined) throw new Error(`model config is missing '${field}'`);
  }
  const unsupported: [string, (v: unknown) => boolean, string][] = [
    ['hidden_act', (v) => v === 'silu', "hidden_act must be 'silu' (SwiGLU)"],
    ['rope_scaling', (v) => v === null, 'rope_scaling is not supported; use plain RoPE (rope_scaling: null)'],
    ['attention_bias', (v) => v === false, 'attention_bias is not supported (set it to false)'],
    ['mlp_bias', (v) => v === false, 'mlp_bias is not supported (set it to false)'],
    [
      'head_dim',
      (v) => v === (raw.hidden_size as number) / (raw.num_attention_heads as number),
      'head_dim must equal hidden_size / num_attention_heads',
    ],
  ];
  for (const [field, ok, why] of unsupported) {
    if (raw[field] !== undefined && !ok(raw[field])) throw new Error(`model config: ${why} (got ${JSON.stringify(raw[field])})`);
  }
  const config: LlamaConfig = {
    vocab_size: raw.vocab_size as number,
    hidden_size: raw.hidden_size as number,
    intermediate_size: raw.intermediate_size as number,
    num_hidden_layers: raw.num_hidden_layers as number,
    num_attention_heads: raw.num_attention_heads as number,
    num_key_value_heads: (raw.num_key_value_heads ?? raw.num_attention_heads) as number,
    max_position_embeddings: (raw.max_position_embeddings ?? HF_DEFAULTS.max_position_embeddings) as number,
    rms_norm_eps: (raw.rms_norm_eps ?? HF_DEFAULTS.rms_norm_eps) as number,
    rope_theta: (raw.rope_theta ?? HF_DEFAULTS.rope_theta) as number,
    tie_word_embeddings: (raw.tie_word_embeddings ?? HF_DEFAULTS.tie_word_embeddings) as boolean,
  };
  validateConfig(config);
  return config;
}

/** Throws an error naming the first field that makes `config` unusable. */
export function validateConfig(config: LlamaConfig): void {
  const positiveInts = [
    'vocab_size',
    'hidden_size',
    'intermediate_size',
    'num_hidden_layers',
    'num_attention_heads',
    'num_key_value_heads',
    'max_position_embeddings',
  ] as const;
  for (const field of positiveInts) {
    const v = config[field];
    if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`model config: ${field} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  // Token ids travel as u32 and every tensor dimension must index f32 arrays safely.
  if (config.vocab_size > 2 ** 31) throw new Error(`model config: vocab_size ${config.vocab_size} is too large`);
  if (config.hidden_size % config.num_attention_heads !== 0) {
    throw new Error(
      `model config: hidden_size ${config.hidden_size} is not divisible by num_attention_heads ${config.num_attention_heads}`,
    );
  }
  if (config.num_attention_heads % config.num_key_value_heads !== 0) {
    throw new Error(
      `model config: num_attention_heads ${config.num_attention_heads} is not a multiple of num_key_value_heads ${config.num_key_value_heads}`,
    );
  }
  if (headDim(config) % 2 !== 0) throw new Error(`model config: head dimension ${headDim(config)} must be even for rotary embeddings`);
  for (const field of ['rms_norm_eps', 'rope_theta'] as const) {
    const v = config[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new Error(`model config: ${field} must be a positive number, got ${JSON.stringify(v)}`);
  }
  if (typeof config.tie_word_embeddings !== 'boolean')
    throw new Error(`model config: tie_word_embeddings must be true or false, got ${JSON.stringify(config.tie_word_embeddings)}`);
}
