// A whole SparseLoCo swarm in one process, on one GPU runtime: N peers, each with its own model
// replica, AdamW state, error feedback and assigned samples, run the real round loop (inner steps,
// error feedback + compression on the GPU or CPU, wire encode, decode, aggregate, outer step), and
// a centralized baseline trains on exactly the same tokens (R·H steps of the peers' N·B rows
// concatenated) so the two held-out losses can be compared at equal tokens. `webloco simulate`
// (src/cli/simulate.ts) prints its reports; test/sparseloco/simulate.test.ts checks the claim.
//
// Every peer keeps its own copy of θ, decodes every payload from its bytes and applies the outer
// step itself; the simulator refuses to go on when the peers' model hashes differ, which is the
// "every honest peer arrives at a bit-identical θ" rule of the protocol made executable.
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { STORAGE_USAGE, type GpuRuntime } from '../gpu/runtime.ts';
import { arenaGroups, compressBatchOnGpu, COMPRESS_PROGRAMS } from '../kernels/compress.ts';
import type { LlamaConfig } from '../model/config.ts';
import { initParameters } from '../model/init.ts';
import { parameterLayout, type ParameterLayout } from '../model/layout.ts';
import { LlamaModel } from '../model/model.ts';
import { heldOutBatches, roundBatches, type Batch } from '../train/batches.ts';
import { checkpointHash, tensorViews } from '../train/checkpoint.ts';
import { InnerLoop } from '../train/inner-loop.ts';
import { AdamW } from '../train/optimizer.ts';
import type { LrSchedule } from '../train/schedule.ts';
import { aggregateUpdates } from './aggregate.ts';
import { decodeUpdate, encodeUpdate, wireLayoutOf } from './codec.ts';
import { ERROR_FEEDBACK_BETA } from './compress.ts';
import { ErrorFeedback } from './error-feedback.ts';
import { modelHashBytes } from './hash.ts';
import { DEFAULT_OUTER_LR, outerStep } from './outer.ts';
import type { CompressedUpdate, WireLayout } from './types.ts';

export type CompressorKind = 'gpu' | 'cpu';

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
  /** Peak inner learning rate; warmup then cosine to minLrRatio × peak over all rounds·H steps. */
  innerLr: number;
  warmupSteps?: number;
  minLrRatio?: number;
  /** Outer SGD learning rate (1.0). */
  outerLr?: number;
  /** Error-feedback decay β (0.95). */
  beta?: number;
  /**
   * Rounds after joining in which a peer sends nothing and keeps e = 0. The protocol uses 2 for a
   * peer joining a run in progress; here every peer starts with the run, from θ_0, so 0 is the default.
   */
  nullRounds?: number;
  /** Where error feedback and top-k/quantization run: 'gpu' (the worker's path) or 'cpu'. */
  compressor?: CompressorKind;
  /** Seed of θ_0 (model/init.ts). */
  seed?: number;
  runId?: string;
  /** Held-out batches of `batch` rows evaluated after every round (4). */
  evalBatches?: number;
  /**
   * Held-out batches for the final comparison of swarm and baseline (16): more windows than the
   * per-round check, so the loss ratio is not decided by a few sequences.
   */
  finalEvalBatches?: number;
  /** Train the centralized baseline on the same tokens (default true). */
  baseline?: boolean;
  onRound?: (report: RoundReport) => void;
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
}

export interface SimulationResult {
  peers: number;
  rounds: number;
  /** θ_0's loss on the final held-out set. */
  initialHeldOutLoss: number;
  /** The swarm's final θ on the final held-out set (finalEvalBatches). */
  heldOutLoss: number;
  /** The baseline's final θ on the same set; NaN when the baseline was not run. */
  baselineHeldOutLoss: number;
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
}

/** One peer's error feedback and compressor: e ← β·e + Δ; payload = compress(e); e ← e − decoded. */
interface PeerCompressor {
  /** The update to send in `round`, or null in a null round. */
  compress(round: number, pseudoGradient: Float32Array): Promise<CompressedUpdate | null>;
  destroy(): void;
}

/** The CPU path: error-feedback.ts on the flat vector, laid out like the parameters. */
function cpuCompressor(layout: ParameterLayout, beta: number, nullRounds: number): PeerCompressor {
  const feedback = new ErrorFeedback(layout.tensors, layout.totalFloats, 0, { beta, nullRounds });
  return {
    async compress(round, pseudoGradient) {
      return feedback.compress(round, pseudoGradient);
    },
    destroy() {},
  };
}

/** A storage buffer of `floats` f32 zeros, shaped like one parameter arena (WebGPU zero-fills new buffers). */
function zeroedArena(rt: GpuRuntime, floats: number, label: string): GPUBuffer {
  return rt.device.createBuffer({ label, size: Math.max(floats, 4) * 4, usage: STORAGE_USAGE });
}

/**
 * The GPU path (src/kernels/compress.ts, bit-identical to the CPU one): e lives on the GPU in
 * buffers shaped like the parameter arenas; Δ is uploaded into shared scratch arenas; only the
 * selected entries come back.
 */
function gpuCompressor(rt: GpuRuntime, layout: ParameterLayout, beta: number, nullRounds: number, deltas: GPUBuffer[]): PeerCompressor {
  const errors = layout.arenaFloats.map((floats, i) => zeroedArena(rt, floats, `error-feedback-${i}`));
  const groups = arenaGroups(layout.tensors, errors, deltas, rt.limits.maxStorageBufferBindingSize);
  return {
    async compress(round, pseudoGradient) {
      if (round < nullRounds) {
        for (const e of errors) rt.clear(e);
        return null;
      }
      layout.arenaFloats.forEach((floats, i) => rt.write(deltas[i]!, pseudoGradient.subarray(layout.arenaStart[i]!, layout.arenaStart[i]! + floats)));
      return { tensors: await compressBatchOnGpu(rt, { beta, groups }) };
    },
    destroy() {
      for (const e of errors) e.destroy();
    },
  };
}

interface Peer {
  hotkey: string;
  model: LlamaModel;
  optimizer: AdamW;
  loop: InnerLoop;
  compressor: PeerCompressor;
  /** This peer's copy of the global θ (flat, layout order). */
  theta: Float32Array;
  /** Model hash of `theta`, kept with it so each θ is hashed once (blake3 over θ is not cheap). */
  thetaHash: Uint8Array;
}

/** Rows of several batches of the same seqLen stacked into one batch. */
export function concatBatches(batches: readonly Batch[]): Batch {
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
  const positive: [string, number][] = [
    ['peers', o.peers],
    ['rounds', o.rounds],
    ['innerSteps', o.innerSteps],
    ['batch', o.batch],
    ['seqLen', o.seqLen],
    ['evalBatches', o.evalBatches ?? 1],
    ['finalEvalBatches', o.finalEvalBatches ?? 1],
  ];
  for (const [name, v] of positive) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`simulate: ${name} must be a positive integer, got ${v}`);
  }
  if (o.seqLen > o.config.max_position_embeddings) {
    throw new RangeError(`simulate: seqLen ${o.seqLen} exceeds the model's max_position_embeddings ${o.config.max_position_embeddings}; use a shorter --seq-len`);
  }
  if (!(o.innerLr > 0)) throw new RangeError(`simulate: the inner learning rate must be positive, got ${o.innerLr}`);
  if (o.compressor !== undefined && o.compressor !== 'gpu' && o.compressor !== 'cpu') {
    throw new RangeError(`simulate: compressor must be 'gpu' or 'cpu', got '${String(o.compressor)}'`);
  }
}

/** Runs the swarm (and, unless told not to, the centralized baseline) and reports every round. */
export async function simulate(rt: GpuRuntime, options: SimulateOptions): Promise<SimulationResult> {
  checkOptions(options);
  const { config, peers: peerCount, rounds, innerSteps, batch, seqLen } = options;
  const beta = options.beta ?? ERROR_FEEDBACK_BETA;
  const outerLr = options.outerLr ?? DEFAULT_OUTER_LR;
  const nullRounds = options.nullRounds ?? 0;
  const runId = options.runId ?? 'simulate';
  const totalSteps = rounds * innerSteps;
  const schedule: LrSchedule = {
    peak: options.innerLr,
    warmupSteps: options.warmupSteps ?? Math.min(20, Math.ceil(totalSteps / 10)),
    totalSteps,
    minRatio: options.minLrRatio ?? 0.1,
  };

  const peers: Peer[] = [];
  let deltas: GPUBuffer[] = [];
  let baseline: { model: LlamaModel; optimizer: AdamW } | null = null;
  try {
    // The same layout LlamaModel.create computes (the GPU's limits decide the arenas).
    const layout = parameterLayout(config, rt.limits);
    const wire: WireLayout = wireLayoutOf(layout.tensors);
    const denseBytes = layout.parameterCount * 4;
    const theta0 = initParameters(layout, { seed: options.seed ?? 0 });
    const theta0Hash = modelHashBytes(layout.tensors, tensorViews(layout, theta0));
    const onGpu = (options.compressor ?? 'gpu') === 'gpu';
    if (onGpu) {
      await rt.compileAll(COMPRESS_PROGRAMS);
      deltas = layout.arenaFloats.map((floats, i) => zeroedArena(rt, floats, `pseudo-gradient-${i}`));
    }
    for (let p = 0; p < peerCount; p++) {
      const model = await LlamaModel.create(rt, config, { batch, seqLen });
      const optimizer = new AdamW(model);
      const compressor = onGpu ? gpuCompressor(rt, layout, beta, nullRounds, deltas) : cpuCompressor(layout, beta, nullRounds);
      peers.push({ hotkey: `peer-${p}`, model, optimizer, loop: new InnerLoop(model, optimizer), compressor, theta: theta0.slice(), thetaHash: theta0Hash });
    }

    const evaluator = peers[0]!.loop;
    const heldOut = heldOutBatches(options.heldOutTokens, options.evalBatches ?? 4, batch, seqLen);
    const finalHeldOut = heldOutBatches(options.heldOutTokens, options.finalEvalBatches ?? 16, batch, seqLen);
    const evaluate = async (theta: Float32Array, batches = heldOut): Promise<number> => {
      evaluator.model.setParameters(theta);
      return evaluator.evaluate(batches);
    };
    const initialHeldOutLoss = await evaluate(theta0, finalHeldOut);

    const assigned = (round: number, peer: Peer) =>
      roundBatches(options.trainTokens, { runId, round, hotkey: peer.hotkey, steps: innerSteps, microBatches: 1, rows: batch, seqLen });

    const reports: RoundReport[] = [];
    for (let round = 0; round < rounds; round++) {
      // Each peer trains from its θ and sends its compressed, encoded pseudo-gradient.
      const payloads: Uint8Array[] = [];
      const innerLosses: number[] = [];
      for (const peer of peers) {
        const batches = assigned(round, peer);
        const inner = await peer.loop.innerRound(peer.theta, { steps: innerSteps, batch: batches, schedule });
        innerLosses.push(mean(inner.losses));
        const update = await peer.compressor.compress(round, inner.pseudoGradient);
        if (update) payloads.push(encodeUpdate({ runId, round, baseModelHash: peer.thetaHash }, update, wire));
      }
      // Each peer decodes every payload from its bytes, aggregates in the same order and steps θ.
      const peerModelHashes = peers.map((peer) => {
        const views = tensorViews(layout, peer.theta);
        const updates = payloads.map((bytes) => decodeUpdate(bytes, wire, { expect: { runId, round, baseModelHash: peer.thetaHash } }).update);
        if (updates.length > 0) outerStep(views, aggregateUpdates(updates, layout.tensors).tensors, outerLr);
        peer.thetaHash = modelHashBytes(layout.tensors, views);
        return bytesToHex(peer.thetaHash);
      });
      if (new Set(peerModelHashes).size !== 1) {
        throw new Error(`simulate: after round ${round} the peers disagree on θ (model hashes ${peerModelHashes.join(', ')}); the outer step is not deterministic`);
      }
      const bytesPerPeer = payloads.length > 0 ? mean(payloads.map((b) => b.length)) : 0;
      const report: RoundReport = {
        round,
        heldOutLoss: await evaluate(peers[0]!.theta),
        bytesPerPeer,
        compressionRatio: bytesPerPeer > 0 ? denseBytes / bytesPerPeer : 0,
        payloadHashes: payloads.map((b) => bytesToHex(blake3(b))),
        peerModelHashes,
        innerLosses,
      };
      reports.push(report);
      options.onRound?.(report);
    }
    const theta = peers[0]!.theta;
    const heldOutLoss = await evaluate(theta, finalHeldOut);

    // The baseline: one replica, R·H steps, each on the N peers' batches of that step stacked.
    let baselineHeldOutLoss = NaN;
    let baselineModelHash = '';
    if (options.baseline ?? true) {
      const model = await LlamaModel.create(rt, config, { batch: batch * peerCount, seqLen });
      baseline = { model, optimizer: new AdamW(model) };
      model.setParameters(theta0);
      const loop = new InnerLoop(model, baseline.optimizer);
      for (let round = 0; round < rounds; round++) {
        const perPeer = peers.map((peer) => assigned(round, peer));
        await loop.trainSteps({ steps: innerSteps, batch: (s) => concatBatches(perPeer.map((b) => b(s, 0))), schedule });
      }
      const baselineTheta = await model.getParameters();
      baselineModelHash = checkpointHash(layout, baselineTheta);
      baselineHeldOutLoss = await evaluate(baselineTheta, finalHeldOut);
    }

    const sent = reports.filter((r) => r.bytesPerPeer > 0);
    const bytesPerPeerPerRound = sent.length > 0 ? mean(sent.map((r) => r.bytesPerPeer)) : 0;
    return {
      peers: peerCount,
      rounds,
      initialHeldOutLoss,
      heldOutLoss,
      baselineHeldOutLoss,
      lossRatio: heldOutLoss / baselineHeldOutLoss,
      bytesPerPeerPerRound,
      denseBytes,
      compressionRatio: bytesPerPeerPerRound > 0 ? denseBytes / bytesPerPeerPerRound : 0,
      modelHash: bytesToHex(peers[0]!.thetaHash),
      baselineModelHash,
      tokens: peerCount * totalSteps * batch * seqLen,
      reports,
    };
  } finally {
    for (const peer of peers) {
      peer.compressor.destroy();
      peer.optimizer.destroy();
      peer.model.destroy();
    }
    baseline?.optimizer.destroy();
    baseline?.model.destroy();
    for (const d of deltas) d.destroy();
  }
}
