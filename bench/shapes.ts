// The matmuls of one training step of a LLaMA config, as (M, N, K, layout) with how often each
// occurs: what `bench kernels` measures. Linear weights are [out, in], so the forward is NT,
// the input gradient NN and the weight gradient TN (docs/ARCHITECTURE.md).
import type { LlamaConfig } from '../src/model/config.ts';

export interface MatmulShape {
  /** e.g. "forward q_proj" */
  name: string;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** How many times one training step runs this shape. */
  count: number;
}

export function trainingStepMatmuls(config: LlamaConfig, tokens: number): MatmulShape[] {
  const C = config.hidden_size;
  const F = config.intermediate_size;
  const kv = (C / config.num_attention_heads) * config.num_key_value_heads;
  const L = config.num_hidden_layers;
  const linears: { name: string; out: number; in: number; count: number }[] = [
    { name: 'q_proj/o_proj', out: C, in: C, count: 2 * L },
    ...(kv === C ? [] : [{ name: 'k_proj/v_proj', out: kv, in: C, count: 2 * L }]),
    { name: 'gate_proj/up_proj', out: F, in: C, count: 2 * L },
    { name: 'down_proj', out: C, in: F, count: L },
    { name: 'lm_head', out: config.vocab_size, in: C, count: 1 },
  ];
  if (kv === C) linears[0] = { name: 'q/k/v/o_proj', out: C, in: C, count: 4 * L };
  const shapes: MatmulShape[] = [];
  for (const l of linears) {
    shapes.push({ name: `forward ${l.name}`, M: tokens, N: l.out, K: l.in, transA: false, transB: true, count: l.count });
    shapes.push({ name: `grad input ${l.name}`, M: tokens, N: l.in, K: l.out, transA: false, transB: false, count: l.count });
    shapes.push({ name: `grad weight ${l.name}`, M: l.out, N: l.in, K: tokens, transA: true, transB: false, count: l.count });
  }
  return shapes;
}

export function matmulFlopsOf(s: Pick<MatmulShape, 'M' | 'N' | 'K'>): number {
  return 2 * s.M * s.N * s.K;
}
