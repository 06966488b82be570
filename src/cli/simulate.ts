// `webloco simulate`: a SparseLoCo swarm of N peers in this one Node process (Dawn), against the
// centralized baseline on the same tokens (src/engine/simulate.ts). One line per round
// {round, heldOutLoss, bytesPerPeer, compressionRatio, payloadHashes, modelHash}, then a final
// summary line; JSON with --json. `--adversaries nan,scaled,…` adds one cheating peer per behaviour
// (src/engine/adversary.ts); with them, or with `--gauntlet`, the Gauntlet validator
// (src/gauntlet) decides every round, each round line names the gathered peers, and the final line
// adds `gathered`, `rank` and `honestOnlyHeldOutLoss`.
import { ensureShards } from '../data/node.ts';
import { BEHAVIORS, parseBehaviors } from '../engine/adversary.ts';
import { DEFAULT_INNER_LR, MAX_WARMUP_STEPS, ROUND_EVAL_BATCHES, tokenizerFor } from '../engine/policy.ts';
import { FINAL_EVAL_TOKENS, SIMULATE_DEFAULTS, simulate } from '../engine/simulate.ts';
import { GAUNTLET_DEFAULTS } from '../gauntlet/config.ts';
import { GauntletJudge } from '../gauntlet/simulation.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { PRESETS, preset } from '../model/config.ts';
import { ERROR_FEEDBACK_BETA } from '../sparseloco/compress.ts';
import { DEFAULT_AVERAGING } from '../sparseloco/aggregate.ts';
import { DEFAULT_LR_SCALING, DEFAULT_OUTER_LR } from '../sparseloco/outer.ts';
import { onOff, printer, UsageError, type CommandSpec, type OptionValues } from './args.ts';

export const command = {
  name: 'simulate',
  summary: 'a SparseLoCo swarm of N peers in this process vs the centralized baseline at equal tokens',
  options: {
    peers: { kind: 'number', default: SIMULATE_DEFAULTS.peers, help: 'honest peers in the swarm' },
    rounds: { kind: 'number', default: SIMULATE_DEFAULTS.rounds, help: 'outer rounds' },
    preset: { kind: 'string', default: 'tiny', help: `model preset (${Object.keys(PRESETS).join(', ')})` },
    'inner-steps': { kind: 'number', default: SIMULATE_DEFAULTS.innerSteps, help: 'H, inner AdamW steps of each peer a round' },
    batch: {
      kind: 'number',
      default: SIMULATE_DEFAULTS.batch,
      help: "rows per inner step of each peer (the baseline's batch is peers × batch)",
    },
    'seq-len': {
      kind: 'number',
      placeholder: 'N',
      help: `tokens per row (default: ${SIMULATE_DEFAULTS.seqLen}, or the model's context length if shorter)`,
    },
    lr: {
      kind: 'number',
      shownDefault: DEFAULT_INNER_LR,
      help: 'peak inner learning rate: warm-up, then cosine decay over rounds × H steps',
    },
    warmup: { kind: 'number', placeholder: 'N', help: `inner warm-up steps (default: a tenth of rounds × H, at most ${MAX_WARMUP_STEPS})` },
    'outer-lr': { kind: 'number', shownDefault: DEFAULT_OUTER_LR, help: 'outer SGD learning rate' },
    averaging: {
      kind: 'string',
      default: DEFAULT_AVERAGING,
      help: "how the aggregate averages an index: over all peers ('all') or only those that selected it ('selecting', the earlier rule)",
    },
    'lr-scaling': {
      kind: 'string',
      default: DEFAULT_LR_SCALING,
      help: "how the outer learning rate grows with the n payloads a decision aggregates: ×√n up to ×2 ('sqrt') or not ('none', the earlier rule)",
    },
    beta: { kind: 'number', shownDefault: ERROR_FEEDBACK_BETA, help: 'error-feedback decay β' },
    'null-rounds': { kind: 'number', shownDefault: 0, help: 'null rounds (no payload) each peer takes after joining' },
    compressor: { kind: 'string', default: 'gpu', help: 'where error feedback, top-k and quantization run: gpu or cpu' },
    seed: { kind: 'number', shownDefault: 0, help: 'seed of θ_0' },
    'run-id': { kind: 'string', default: 'simulate', help: "run id: the peers' data assignments derive from it" },
    'eval-batches': { kind: 'number', shownDefault: ROUND_EVAL_BATCHES, help: 'held-out batches evaluated after every round' },
    'final-eval-batches': {
      kind: 'number',
      placeholder: 'N',
      help: `held-out batches for the final comparison (default: enough for ${FINAL_EVAL_TOKENS} tokens)`,
    },
    'skip-baseline': { kind: 'boolean', help: 'do not train the centralized baseline (no lossRatio)' },
    adversaries: {
      kind: 'string',
      placeholder: 'B[,B...]',
      help: `one cheating peer per behaviour listed (${BEHAVIORS.join(', ')}); implies --gauntlet`,
    },
    gauntlet: { kind: 'boolean', help: 'the Gauntlet validator decides every round (default: every payload is gathered)' },
    'eval-sequences': {
      kind: 'number',
      shownDefault: GAUNTLET_DEFAULTS.assignedSequences,
      help: "the Gauntlet's assigned and random sequences scored per peer (each)",
    },
    f16: { kind: 'string', placeholder: 'on|off', help: "f16 matmul operands (default: the runtime's, off)" },
    json: { kind: 'boolean', help: 'print one JSON object per line (with payload and model hashes) instead of text' },
  },
  details: [
    'Prints a line per round (held-out loss, bytes per peer, compression ratio), then a final line comparing the swarm with the baseline;',
    'with the Gauntlet, each round line names the gathered peers and the final line adds the ranking and the honest-only loss.',
  ],
} satisfies CommandSpec;

export async function run(args: OptionValues<typeof command.options>): Promise<void> {
  const f16 = onOff('--f16', args.f16); // before any work: wrong usage exits 2 at once
  const adversaries = parseBehaviors(args.adversaries ?? '');
  const config = preset(args.preset);
  const compressor = args.compressor;
  const averaging = args.averaging;
  if (averaging !== 'all' && averaging !== 'selecting')
    throw new UsageError(`--averaging must be 'all' or 'selecting', got '${averaging}'`);
  const lrScaling = args['lr-scaling'];
  if (lrScaling !== 'sqrt' && lrScaling !== 'none') throw new UsageError(`--lr-scaling must be 'sqrt' or 'none', got '${lrScaling}'`);
  const gauntlet = adversaries.length > 0 || args.gauntlet;
  // The Gauntlet computes H_{w+1} with the protocol's rule; the earlier rules are for ablations of the take-everything swarm.
  if (gauntlet && (averaging !== DEFAULT_AVERAGING || lrScaling !== DEFAULT_LR_SCALING))
    throw new UsageError(
      '--averaging and --lr-scaling other than the defaults reproduce earlier rules without the Gauntlet: leave out --gauntlet and --adversaries',
    );
  if (compressor !== 'gpu' && compressor !== 'cpu') throw new UsageError(`--compressor must be 'gpu' or 'cpu', got '${compressor}'`);
  const print = printer(args.json);
  const data = await ensureShards(tokenizerFor(config));
  const rt = new GpuRuntime(await nodeGpuDevice(), { f16 });
  const runId = args['run-id'];
  const seqLen = args['seq-len'] ?? Math.min(SIMULATE_DEFAULTS.seqLen, config.max_position_embeddings);
  const evalSequences = args['eval-sequences'];
  const judge = gauntlet
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
      peers: args.peers,
      rounds: args.rounds,
      innerSteps: args['inner-steps'],
      batch: args.batch,
      seqLen,
      innerLr: args.lr,
      warmupSteps: args.warmup,
      outerLr: args['outer-lr'],
      outerRule: { averaging, lrScaling },
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
