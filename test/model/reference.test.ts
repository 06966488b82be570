// The float64 reference model's hand-written backward against central finite differences, on
// small configs of the tiny preset's family: tied and untied head, grouped and full KV heads.
import { describe, expect, it } from 'vitest';
import type { LlamaConfig } from '../../src/model/config.ts';
import { parameterShapes } from '../../src/model/layout.ts';
import { rng } from '../helpers/random.ts';
import { llamaReference } from '../reference/llama.ts';
import { randomParams, randomTokens } from './fixtures.ts';

const FAMILY: LlamaConfig = {
  vocab_size: 11,
  hidden_size: 8,
  intermediate_size: 12,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 16,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: false,
};

describe.each([
  ['untied, grouped KV heads', { ...FAMILY }],
  ['tied, one KV head per query head', { ...FAMILY, tie_word_embeddings: true, num_key_value_heads: 2 }],
])('float64 reference backward (%s)', (_label, config) => {
  it('matches central finite differences on sampled parameters of every tensor', () => {
    const B = 2;
    const S = 5;
    const params = randomParams(config, 7, 0.3);
    const { tokens, targets } = randomTokens(config.vocab_size, B, S, 8);
    const { grads, loss } = llamaReference(config, params, tokens, targets, B, S);
    expect(Number.isFinite(loss)).toBe(true);
    const pick = rng(9);
    const h = 1e-5;
    for (const { name } of parameterShapes(config)) {
      const p = params[name]!;
      const g = grads[name]!;
      for (let sample = 0; sample < 4; sample++) {
        // Embedding rows of tokens that never occur have zero gradient: sample used ones too.
        const i =
          name === 'model.embed_tokens.weight' && sample < 2
            ? tokens[sample]! * config.hidden_size + sample
            : Math.floor(pick() * p.length);
        const saved = p[i]!;
        p[i] = saved + h;
        const up = llamaReference(config, params, tokens, targets, B, S, false).loss;
        p[i] = saved - h;
        const down = llamaReference(config, params, tokens, targets, B, S, false).loss;
        p[i] = saved;
        const numeric = (up - down) / (2 * h);
        // Central differences: truncation O(h²·f''') ≈ 1e-10 and cancellation ≈ 1e-16/h ≈ 1e-11 on
        // a loss of order 1, so 1e-8 absolute plus 1e-6 relative leaves ample margin.
        expect(Math.abs(numeric - g[i]!), `${name}[${i}]: numeric ${numeric}, analytic ${g[i]}`).toBeLessThanOrEqual(
          1e-8 + 1e-6 * Math.abs(numeric),
        );
      }
    }
  });
});
