// A whole SparseLoCo swarm in one process, on one GPU runtime: N peers (src/engine/peer.ts), each
// with its own replica, AdamW state, error feedback and assigned samples, run the real round
// (inner steps, error feedback + compression on the GPU or CPU, encode, decode, aggregate, outer
// step), and a centralized baseline trains on exactly the same tokens (R·H steps of the peers'
// N·B rows stacked) so the two held-out losses compare at equal tokens. `webloco simulate`
// prints its reports; test/claims/simulate.claim.ts checks the claim (`npm run test:claims`).
//
// Every peer decodes every payload from its bytes and applies the outer step itself; the
// simulator stops when the peers' model hashes differ: the protocol's "every honest peer arrives
// at a bit-identical θ" made executable.
//
// With `adversaries` (engine/adversary.ts) one cheating peer per listed behaviour joins the honest
// ones, and a `judge` decides each round which payloads make θ_{w+1} (the Gauntlet validator,
// src/gauntlet/simulation.ts, supplies one; the simulator sits below it and only knows the
// interface). Without a judge the decision takes every payload, as a hub without a validator does.
// The result then also says how often each peer was gathered, the judge's final ranking, and the
// held-out loss of the same honest peers run alone (take-everything), the loss the adversaries
// must not cost.
import type { GpuRuntime } from '../gpu/runtime.ts';
import type { LlamaConfig } from '../model/config.ts';
import { parameterLayout } from '../model/layout.ts';
import { wireLayoutOf } from '../sparseloco/codec.ts';
import type { CompressedUpdate } from '../sparseloco/types.ts';
import type { Batch } from '../train/batches.ts';
import { adversarialPayload, trains, type Behavior } from './adversary.ts';
import { trainCentralized } from './centralized.ts';
import type { CompressorKind } from './error-feedback.ts';
import { initialModel, type GlobalModel, type OuterRule } from './global-model.ts';
import { Peer } from './peer.ts';
import { contentHash } from '../base/content-hash.ts';

/** The final comparison of swarm and baseline reads at least this many held-out tokens. */
export const FINAL_EVAL_TOKENS = 16_384;

/**
 * Defaults for the tiny preset that show the claim on a software GPU in minutes. H = 8: with fewer
 * inner steps Adam's early updates are nearly uniform in size, so top-k has little to choose by;
 * 30 × 8 = 240 steps gets past the unigram plateau (docs/BENCHMARKS.md).
 */
export const SIMULATE_DEFAULTS = {
  peers: 4,
  rounds: 30,
  innerSteps: 8,
  batch: 2,
  seqLen: 32,
  evalBatches: 2,
} as const;

export interface SimulateOptions {
  config: LlamaConfig;
  /** The train split's tokens (peers' assigned samples come from here) and the held-out split's. */
  trainTokens: Uint16Array;
  heldOutTokens: Uint16Array;
  peers: number;
  rounds: number;
  /** H: inner AdamW steps per round. */
  innerSteps: number;
  /** Rows (sequences) per inner step of one peer; the baseline's batch is peers × batch rows. */
  batch: number;
  seqLen: number;
  /** Peak inner learning rate; warmup then cosine over all rounds·H steps (engine/policy.ts). */
  innerLr?: number;
  warmupSteps?: number;
  minLrRatio?: number;
  /** Outer SGD learning rate (1.0). */
  outerLr?: number;
  /** The outer step's averaging and learning-rate scaling (the protocol's by default; ablations reproduce earlier rules). */
  outerRule?: OuterRule;
  /** Error-feedback decay β (0.95). */
  beta?: number;
  /**
   * Null rounds after joining. The protocol uses 2 for a peer joining a run in progress; here
   * every peer starts with the run, from θ_0, so 0 is the default.
   */
  nullRounds?: number;
  /** Where error feedback and top-k/quantization run: 'gpu' (the worker's path) or 'cpu'. */
  compressor?: CompressorKind;
  /** Seed of θ_0 (model/init.ts). */
  seed?: number;
  runId?: string;
  /** Held-out batches of `batch` rows evaluated after every round (ROUND_EVAL_BATCHES). */
  evalBatches?: number;
  /** Held-out batches for the final comparison (enough for FINAL_EVAL_TOKENS tokens by default). */
  finalEvalBatches?: number;
  /** Train the centralized baseline on the same tokens (default true). */
  baseline?: boolean;
  /** One adversarial peer per entry joins the honest ones (hotkey `adversary-<i>-<behaviour>`). */
  adversaries?: readonly Behavior[];
  /** Decides each round's payloads (required with adversaries); take-everything without one. */
  judge?: RoundJudge;
  /** Also run the honest peers alone, take-everything, for `honestOnlyHeldOutLoss` (default: with adversaries). */
  honestOnlyReference?: boolean;
  onRound?: (report: RoundReport) => void;
}

/** A payload as the judge receives it. */
export interface SimulatedSubmission {
  /** The hotkey its announcement names (a `forged` peer names another peer's). */
  hotkey: string;
  /** The peer that really sent it: the simulator knows; a judge must not trust it beyond signing for it. */
  sender: string;
  payload: Uint8Array;
  payloadHash: string;
}

/** Whoever decides a round's payloads: the Gauntlet validator in a gauntlet simulation. */
export interface RoundJudge {
  /** The gather set (payload hashes in aggregation order) and, when it computed one, the H_{w+1} it expects. */
  decide(
    round: number,
    base: GlobalModel,
    submissions: readonly SimulatedSubmission[],
  ): Promise<{ payloadHashes: readonly string[]; nextModelHash?: string }>;
  /** Hotkeys best first, after the last round. */
  ranking(): readonly string[];
}

export interface RoundReport {
  round: number;
  heldOutLoss: number;
  /** Mean payload size over the peers this round (0 in a null round). */
  bytesPerPeer: number;
  /** Dense fp32 bytes over bytesPerPeer (0 in a null round). */
  compressionRatio: number;
  /** blake3 of each peer's payload, in peer order (empty in a null round). */
  payloadHashes: string[];
  /** θ_{r+1}'s model hash as each peer computed it (all equal, or the simulation throws). */
  peerModelHashes: string[];
  /** Each peer's mean inner training loss this round. */
  innerLosses: number[];
  /** Senders whose payload is in the decision. */
  gathered: string[];
}

export interface SimulationResult {
  peers: number;
  rounds: number;
  /** θ_0's loss on the final held-out set. */
  initialHeldOutLoss: number;
  /** The swarm's final θ on the final held-out set. */
  heldOutLoss: number;
  /** The baseline's final θ on the same set; NaN when the baseline was not run. */
  baselineHeldOutLoss: number;
  /** Held-out tokens the final comparison read. */
  finalEvalTokens: number;
  lossRatio: number;
  /** Mean payload bytes per peer per round, over the rounds that sent payloads. */
  bytesPerPeerPerRound: number;
  /** The model as dense fp32: parameterCount × 4 bytes. */
  denseBytes: number;
  compressionRatio: number;
  modelHash: string;
  baselineModelHash: string;
  /** Tokens each side trained on: peers × rounds × H × batch × seqLen. */
  tokens: number;
  reports: RoundReport[];
  /** Each peer's behaviour, by hotkey ('honest' for the N honest peers). */
  behaviors: Record<string, Behavior>;
  /** Per peer: the rounds its payload was in the decision. */
  gathered: Record<string, number>;
  /** The judge's final order, best first, then the peers it never ranked (absent without a judge). */
  rank?: { hotkey: string; behavior: Behavior }[];
  /** The same honest peers alone, take-everything, on the final held-out set (absent unless run). */
  honestOnlyHeldOutLoss?: number;
}

/** Rows of several batches of the same seqLen stacked into one batch. */
function concatBatches(batches: readonly Batch[]): Batch {
  const seqLen = batches[0]!.seqLen;
  const rows = batches.reduce((n, b) => n + b.rows, 0);
  const inputs = new Uint32Array(rows * seqLen);
  const targets = new Uint32Array(rows * seqLen);
  let at = 0;
  for (const b of batches) {
    if (b.seqLen !== seqLen) throw new Error(`concatBatches: seqLen ${b.seqLen} differs from ${seqLen}`);
    inputs.set(b.inputs, at);
    targets.set(b.targets, at);
    at += b.inputs.length;
  }
  return { inputs, targets, rows, seqLen };
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function checkOptions(o: SimulateOptions): void {
  for (const [name, v] of [
    ['peers', o.peers],
    ['evalBatches', o.evalBatches ?? 1],
    ['finalEvalBatches', o.finalEvalBatches ?? 1],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`simulate: ${name} must be a positive integer, got ${v}`);
  }
  if ((o.adversaries?.length ?? 0) > 0 && !o.judge) {
    throw new RangeError(
      'simulate: adversaries need a judge (the Gauntlet: `webloco simulate --gauntlet`); take-everything would apply their payloads or fail on them',
    );
  }
}

/** A simulated peer: its hotkey, behaviour, and the replica it trains on (none for peers that do not train). */
interface SimulatedPeer {
  hotkey: string;
  behavior: Behavior;
  peer: Peer | null;
  /** What it sent last round (a stale peer resends it). */
  previous: Uint8Array | null;
}

/** The judge's order, then the peers it never ranked (it never saw them under their own name), in roster order. */
function finalRank(judged: readonly string[], members: readonly SimulatedPeer[]): { hotkey: string; behavior: Behavior }[] {
  const behaviorOf = new Map(members.map((m) => [m.hotkey, m.behavior]));
  const ranked = judged.filter((h) => behaviorOf.has(h));
  const unranked = members.map((m) => m.hotkey).filter((h) => !ranked.includes(h));
  return [...ranked, ...unranked].map((hotkey) => ({ hotkey, behavior: behaviorOf.get(hotkey)! }));
}

/** Runs the swarm (and, unless told not to, the centralized baseline) and reports every round. */
export async function simulate(rt: GpuRuntime, options: SimulateOptions): Promise<SimulationResult> {
  checkOptions(options);
  const { config, peers: peerCount, rounds, innerSteps, batch, seqLen } = options;
  const runId = options.runId ?? 'simulate';
  const schedule = { lr: options.innerLr, warmup: options.warmupSteps, minRatio: options.minLrRatio };
  const data = { train: options.trainTokens, heldOut: options.heldOutTokens };

  const adversaries = options.adversaries ?? [];
  const members: SimulatedPeer[] = [];
  const peers: Peer[] = [];
  let result: SimulationResult;
  try {
    // θ_0, seeded and portable, computed once: every peer starts from the same bits. The layout is
    // the one LlamaModel.create computes (the GPU's limits decide the arenas).
    const theta0 = initialModel(parameterLayout(config, rt.limits), options.seed ?? 0);
    const roster: { hotkey: string; behavior: Behavior }[] = [
      ...Array.from({ length: peerCount }, (_, p) => ({ hotkey: `peer-${p}`, behavior: 'honest' as const })),
      ...adversaries.map((behavior, i) => ({ hotkey: `adversary-${i}-${behavior}`, behavior })),
    ];
    for (const { hotkey, behavior } of roster) {
      if (!trains(behavior)) {
        members.push({ hotkey, behavior, peer: null, previous: null });
        continue;
      }
      const peerOptions = {
        config,
        identity: { runId, hotkey },
        batch,
        seqLen,
        innerSteps,
        rounds,
        schedule,
        compressor: options.compressor,
        beta: options.beta,
        // Every peer starts with the run, from θ_0.
        joinedRound: 0,
        nullRounds: options.nullRounds ?? 0,
        outerLr: options.outerLr,
        outerRule: options.outerRule,
        evalBatches: options.evalBatches,
      };
      const peer = await Peer.create(rt, peerOptions, data, { theta: theta0.theta.slice(), hash: theta0.hash });
      peers.push(peer);
      members.push({ hotkey, behavior, peer, previous: null });
    }
    const honestPeers = members.filter((m) => m.behavior === 'honest').map((m) => m.peer!);
    const evaluator = peers[0]!;
    const wire = wireLayoutOf(evaluator.layout.tensors);
    const gathered: Record<string, number> = Object.fromEntries(members.map((m) => [m.hotkey, 0]));
    const finalEvalBatches = options.finalEvalBatches ?? Math.ceil(FINAL_EVAL_TOKENS / (batch * seqLen));
    const finalHeldOut = evaluator.heldOutBatches(finalEvalBatches);
    const initialHeldOutLoss = await evaluator.evaluate(finalHeldOut);

    const reports: RoundReport[] = [];
    for (let round = 0; round < rounds; round++) {
      const base: GlobalModel = { theta: evaluator.theta, hash: evaluator.modelHashBytes };
      const submissions: SimulatedSubmission[] = [];
      const innerLosses: number[] = [];
      for (const [index, member] of members.entries()) {
        let honest: { payload: Uint8Array; update: CompressedUpdate } | null = null;
        if (member.peer) {
          const { losses, contribution } = await member.peer.contribute(round);
          if (member.behavior === 'honest') innerLosses.push(mean(losses));
          honest = contribution;
        }
        const payload =
          member.behavior === 'honest'
            ? (honest?.payload ?? null)
            : adversarialPayload(member.behavior, {
                origin: { runId, round, baseModelHash: base.hash },
                wire,
                layout: evaluator.layout.tensors,
                honest,
                previous: member.previous,
                earlier: submissions.map((s) => s.payload),
                seed: (round * 7919 + index * 104729 + (options.seed ?? 0)) >>> 0,
              });
        if (member.behavior === 'stale') member.previous = honest?.payload ?? null;
        else member.previous = payload;
        if (!payload) continue;
        // A forger names the honest peer of its own index as the sender.
        const hotkey = member.behavior === 'forged' ? `peer-${index % peerCount}` : member.hotkey;
        submissions.push({ hotkey, sender: member.hotkey, payload, payloadHash: contentHash(payload) });
      }
      // The decision: the judge's, or take-everything in upload order; each peer decodes the bytes itself.
      const decision = options.judge
        ? await options.judge.decide(round, base, submissions)
        : { payloadHashes: submissions.map((s) => s.payloadHash) };
      const decided = decision.payloadHashes.map((hash) => {
        const submission = submissions.find((s) => s.payloadHash === hash);
        if (!submission) throw new Error(`simulate: round ${round}'s decision names payload ${hash}, which nobody sent`);
        return submission;
      });
      const payloads = decided.map((s) => s.payload);
      const gatheredSenders = submissions.filter((s) => decision.payloadHashes.includes(s.payloadHash)).map((s) => s.sender);
      for (const sender of new Set(gatheredSenders)) gathered[sender]!++;
      const peerModelHashes = peers.map((peer) => peer.applyDecision(round, payloads));
      if (new Set(peerModelHashes).size !== 1) {
        throw new Error(
          `simulate: after round ${round} the peers disagree on θ (model hashes ${peerModelHashes.join(', ')}); the outer step is not deterministic`,
        );
      }
      if (decision.nextModelHash !== undefined && decision.nextModelHash !== peerModelHashes[0]) {
        throw new Error(
          `simulate: round ${round}'s decision expects model ${decision.nextModelHash}, the peers computed ${peerModelHashes[0]}`,
        );
      }
      const payloadHashes = submissions.map((s) => s.payloadHash);
      const bytesPerPeer = payloadHashes.length > 0 ? mean(submissions.map((s) => s.payload.length)) : 0;
      const report: RoundReport = {
        round,
        heldOutLoss: await evaluator.evaluate(),
        bytesPerPeer,
        compressionRatio: bytesPerPeer > 0 ? evaluator.denseBytes / bytesPerPeer : 0,
        payloadHashes,
        peerModelHashes,
        innerLosses,
        gathered: gatheredSenders,
      };
      reports.push(report);
      options.onRound?.(report);
    }
    const heldOutLoss = await evaluator.evaluate(finalHeldOut);

    // The baseline: one replica, R·H steps, each on the N peers' batches of that step stacked.
    let baselineHeldOutLoss = NaN;
    let baselineModelHash = '';
    if (options.baseline ?? true) {
      const assigned = Array.from({ length: rounds }, (_, round) => honestPeers.map((peer) => peer.assignedBatches(round)));
      const baseline = await trainCentralized(rt, {
        config,
        steps: rounds * innerSteps,
        batch: batch * peerCount,
        seqLen,
        schedule,
        evalEvery: rounds * innerSteps,
        heldOut: [],
        theta: theta0.theta,
        batches: (step) => concatBatches(assigned[Math.floor(step / innerSteps)]!.map((b) => b(step % innerSteps, 0))),
      });
      baselineModelHash = baseline.modelHash;
      baselineHeldOutLoss = await evaluator.evaluate(finalHeldOut, baseline.params);
    }

    const sent = reports.filter((r) => r.bytesPerPeer > 0);
    const bytesPerPeerPerRound = sent.length > 0 ? mean(sent.map((r) => r.bytesPerPeer)) : 0;
    const behaviors: Record<string, Behavior> = Object.fromEntries(members.map((m) => [m.hotkey, m.behavior]));
    result = {
      peers: peerCount,
      rounds,
      initialHeldOutLoss,
      heldOutLoss,
      baselineHeldOutLoss,
      finalEvalTokens: finalEvalBatches * batch * seqLen,
      lossRatio: heldOutLoss / baselineHeldOutLoss,
      bytesPerPeerPerRound,
      denseBytes: evaluator.denseBytes,
      compressionRatio: bytesPerPeerPerRound > 0 ? evaluator.denseBytes / bytesPerPeerPerRound : 0,
      modelHash: evaluator.modelHash,
      baselineModelHash,
      tokens: peerCount * rounds * innerSteps * batch * seqLen,
      reports,
      behaviors,
      gathered,
      ...(options.judge ? { rank: finalRank(options.judge.ranking(), members) } : {}),
    };
  } finally {
    for (const peer of peers) peer.destroy();
  }
  if (options.honestOnlyReference ?? adversaries.length > 0) {
    const alone = await simulate(rt, {
      ...options,
      adversaries: [],
      judge: undefined,
      baseline: false,
      honestOnlyReference: false,
      onRound: undefined,
    });
    result.honestOnlyHeldOutLoss = alone.heldOutLoss;
  }
  return result;
}
