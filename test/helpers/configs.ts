// A model small enough for float64 references and finite differences, with the shapes that catch
// indexing mistakes: an untied head, grouped KV heads (4 query heads over 2), odd vocabulary and
// intermediate sizes.
import type { LlamaConfig } from '../../src/model/config.ts';

export const GROUPED: LlamaConfig = {
  vocab_size: 37,
  hidden_size: 32,
  intermediate_size: 44,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: false,
};
