// `webloco simulate`: a SparseLoCo swarm of N peers in this one Node process (Dawn), against the
// centralized baseline on the same tokens (src/sparseloco/simulate.ts). One line per round
// {round, heldOutLoss, bytesPerPeer, compressionRatio}, then a final summary line; JSON with --json.
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { preset } from '../model/config.ts';
import { simulate, type CompressorKind } from '../sparseloco/simulate.ts';
import { parseArgs } from './args.ts';
import { ensureShards, tokenizerFor } from './train.ts';

/**
 * Defaults for the tiny preset that show the claim on a software GPU in minutes. Short rounds
 * (H = 2) give error feedback many chances to deliver what top-k held back: with H = 4 or 5 the
 * swarm lagged and oscillated at the same token budget (measured, see the simulate test).
 */
export const SIMULATE_DEFAULTS = {
  peers: 4,
  // H = 8: with fewer inner steps Adam's early updates are nearly uniform in size, so top-k has
  // little to choose by; 30 × 8 = 240 steps gets past the unigram plateau (docs/BENCHMARKS.md).
  rounds: 30,
  innerSteps: 8,
  batch: 2,
  seqLen: 32,
  innerLr: 3e-3,
  evalBatches: 2,
  finalEvalBatches: 16,
} as const;

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, {
    peers: 'number',
    rounds: 'number',
    preset: 'string',
    'inner-steps': 'number',
    batch: 'number',
    'seq-len': 'number',
    lr: 'number',
    warmup: 'number',
    'outer-lr': 'number',
    beta: 'number',
    'null-rounds': 'number',
    compressor: 'string',
    seed: 'number',
    'run-id': 'string',
    'eval-batches': 'number',
    'final-eval-batches': 'number',
    'skip-baseline': 'boolean',
    json: 'boolean',
  });
  const config = preset(args.preset ?? 'tiny');
  const compressor = (args.compressor ?? 'gpu') as CompressorKind;
  if (compressor !== 'gpu' && compressor !== 'cpu') throw new Error(`--compressor must be 'gpu' or 'cpu', got '${args.compressor}'`);
  const print = (o: Record<string, unknown>) =>
    console.log(args.json ? JSON.stringify(o) : Object.entries(o).map(([k, v]) => `${k} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : v}`).join('  '));

  const data = await ensureShards(tokenizerFor(config.vocab_size));
  const rt = new GpuRuntime(await nodeGpuDevice());
  try {
    const result = await simulate(rt, {
      config,
      trainTokens: data.train.tokens,
      heldOutTokens: data.heldout.tokens,
      peers: args.peers ?? SIMULATE_DEFAULTS.peers,
      rounds: args.rounds ?? SIMULATE_DEFAULTS.rounds,
      innerSteps: args['inner-steps'] ?? SIMULATE_DEFAULTS.innerSteps,
      batch: args.batch ?? SIMULATE_DEFAULTS.batch,
      seqLen: args['seq-len'] ?? Math.min(SIMULATE_DEFAULTS.seqLen, config.max_position_embeddings),
      innerLr: args.lr ?? SIMULATE_DEFAULTS.innerLr,
      warmupSteps: args.warmup,
      outerLr: args['outer-lr'],
      beta: args.beta,
      nullRounds: args['null-rounds'],
      compressor,
      seed: args.seed,
      runId: args['run-id'],
      evalBatches: args['eval-batches'] ?? SIMULATE_DEFAULTS.evalBatches,
      finalEvalBatches: args['final-eval-batches'] ?? SIMULATE_DEFAULTS.finalEvalBatches,
      baseline: !args['skip-baseline'],
      onRound: (r) => print({ round: r.round, heldOutLoss: r.heldOutLoss, bytesPerPeer: r.bytesPerPeer, compressionRatio: r.compressionRatio }),
    });
    print({
      final: true,
      peers: result.peers,
      rounds: result.rounds,
      heldOutLoss: result.heldOutLoss,
      baselineHeldOutLoss: result.baselineHeldOutLoss,
      lossRatio: result.lossRatio,
      bytesPerPeerPerRound: result.bytesPerPeerPerRound,
      denseBytes: result.denseBytes,
      compressionRatio: result.compressionRatio,
      modelHash: result.modelHash,
    });
  } finally {
    rt.destroy();
  }
}
