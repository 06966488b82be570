// Random parameters and token batches for the model tests (seeded, reproducible).
import type { LlamaConfig } from '../../src/model/config.ts';
import { parameterShapes } from '../../src/model/layout.ts';
import { randn, rng } from '../helpers/random.ts';

/** Weights ~ N(0, std²); norm gains around 1 so that their gradients are exercised too. */
export function randomParams(config: LlamaConfig, seed: number, std: number): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = {};
  parameterShapes(config).forEach(({ name, shape }, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const r = randn(n, seed * 1000 + i, std);
    out[name] = Float64Array.from(r, (v) => (shape.length === 1 ? 1 + v : v));
  });
  return out;
}

export function randomTokens(vocab: number, B: number, S: number, seed: number): { tokens: Int32Array; targets: Int32Array } {
  const r = rng(seed);
  const row = () => Int32Array.from({ length: S + 1 }, () => Math.floor(r() * vocab));
  const tokens = new Int32Array(B * S);
  const targets = new Int32Array(B * S);
  for (let b = 0; b < B; b++) {
    const seq = row();
    tokens.set(seq.subarray(0, S), b * S);
    targets.set(seq.subarray(1), b * S);
  }
  return { tokens, targets };
}
