// `webloco simulate`: a SparseLoCo swarm of N peers in this one Node process (Dawn), against the
// centralized baseline on the same tokens (src/engine/simulate.ts). One line per round
// {round, heldOutLoss, bytesPerPeer, compressionRatio, payloadHashes, modelHash}, then a final
// summary line; JSON with --json. `--adversaries nan,scaled,…` adds one cheating peer per behaviour
// (src/engine/adversary.ts); with them, or with `--gauntlet`, the Gauntlet validator
// (src/gauntlet) decides every round, each round line names the gathered peers, and the final line
// adds `gathered`, `rank` and `honestOnlyHeldOutLoss`.
import { ensureShards } from '../data/node.ts';
import { parseBehaviors } from '../engine/adversary.ts';
import { GauntletJudge } from '../gauntlet/simulation.ts';
import { tokenizerFor } from '../engine/policy.ts';
import { SIMULATE_DEFAULTS, simulate } from '../engine/simulate.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { preset } from '../model/config.ts';
import { onOff, parseArgs, printer } from './args.ts';

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
    adversaries: 'string',
    gauntlet: 'boolean',
    'eval-sequences': 'number',
    f16: 'string',
    json: 'boolean',
  });
  const adversaries = parseBehaviors(args.adversaries ?? '');
  const config = preset(args.preset ?? 'tiny');
  const compressor = args.compressor ?? 'gpu';
  if (compressor !== 'gpu' && compressor !== 'cpu') throw new Error(`--compressor must be 'gpu' or 'cpu', got '${compressor}'`);
  const print = printer(args.json);
  const data = await ensureShards(tokenizerFor(config));
  const rt = new GpuRuntime(await nodeGpuDevice(), { f16: onOff('--f16', args.f16) });
  const runId = args['run-id'] ?? 'simulate';
  const seqLen = args['seq-len'] ?? Math.min(SIMULATE_DEFAULTS.seqLen, config.max_position_embeddings);
  const evalSequences = args['eval-sequences'];
  const judge =
    adversaries.length > 0 || args.gauntlet
      ? await GauntletJudge.create(rt, {
          runId,
          config,
          trainTokens: data.train.tokens,
          seqLen,
          outerLr: args['outer-lr'],
          gauntlet: evalSequences !== undefined ? { assignedSequences: evalSequences, randomSequences: evalSequences } : {},
        })
      : undefined;
  try {
    const result = await simulate(rt, {
      config,
      trainTokens: data.train.tokens,
      heldOutTokens: data.heldout.tokens,
      peers: args.peers ?? SIMULATE_DEFAULTS.peers,
      rounds: args.rounds ?? SIMULATE_DEFAULTS.rounds,
      innerSteps: args['inner-steps'] ?? SIMULATE_DEFAULTS.innerSteps,
      batch: args.batch ?? SIMULATE_DEFAULTS.batch,
      seqLen,
      innerLr: args.lr,
      warmupSteps: args.warmup,
      outerLr: args['outer-lr'],
      beta: args.beta,
      nullRounds: args['null-rounds'],
      compressor,
      seed: args.seed,
      runId,
      evalBatches: args['eval-batches'],
      finalEvalBatches: args['final-eval-batches'],
      baseline: !args['skip-baseline'],
      adversaries,
      judge,
      onRound: (r) =>
        print({
          round: r.round,
          heldOutLoss: r.heldOutLoss,
          bytesPerPeer: r.bytesPerPeer,
          compressionRatio: r.compressionRatio,
          ...(judge ? { gathered: r.gathered } : {}),
          ...(args.json ? { payloadHashes: r.payloadHashes, modelHash: r.peerModelHashes[0] } : {}),
        }),
    });
    print({
      final: true,
      peers: result.peers,
      rounds: result.rounds,
      heldOutLoss: result.heldOutLoss,
      baselineHeldOutLoss: result.baselineHeldOutLoss,
      lossRatio: result.lossRatio,
      finalEvalTokens: result.finalEvalTokens,
      bytesPerPeerPerRound: result.bytesPerPeerPerRound,
      denseBytes: result.denseBytes,
      compressionRatio: result.compressionRatio,
      modelHash: result.modelHash,
      ...(judge
        ? args.json
          ? { gathered: result.gathered, rank: result.rank }
          : {
              gathered: Object.entries(result.gathered)
                .map(([hotkey, rounds]) => `${hotkey}:${rounds}`)
                .join(' '),
              rank: result.rank!.map((r) => (r.behavior === 'honest' ? r.hotkey : `${r.hotkey}(${r.behavior})`)).join(' '),
            }
        : {}),
      ...(result.honestOnlyHeldOutLoss !== undefined ? { honestOnlyHeldOutLoss: result.honestOnlyHeldOutLoss } : {}),
    });
  } finally {
    judge?.destroy();
    rt.destroy();
  }
}
