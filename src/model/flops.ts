// Model FLOPs per trained token, as in PaLM (appendix B) and nanoGPT's estimate_mfu: 6 per
// parameter (forward 2, backward 4; the tied embedding counts once, as the head's matmul) plus
// 12·L·S·C for the attention scores and values (forward and backward, causal mask not discounted).
// The training benchmark's MFU and the page's expected tokens/s both count with it.
import type { LlamaConfig } from './config.ts';

export function modelFlopsPerToken(config: LlamaConfig, parameterCount: number, seqLen: number): number {
  return 6 * parameterCount + 12 * config.num_hidden_layers * seqLen * config.hidden_size;
}
