// One peer of a SparseLoCo swarm, whole: its replica of the model, AdamW state and schedule, the
// samples assigned to it, the error-feedback store and compressor, the wire encoder, evaluation,
// and the outer step that turns a round's decision into θ_{w+1} with its model hash. The tab's
// worker, `webloco simulate`, headless peers and validators drive a round through this class and
// nothing else, so the round is written once:
//
//   const { contribution } = await peer.contribute(round);  // H inner steps, e ← β·e + Δ, compress, encode
//   ... the swarm decides which payloads make θ_{w+1} ...
//   peer.applyDecision(round, payloads);                     // decode, aggregate, θ ← θ − lr·aggregate
import { bytesToHex } from '../base/hex.ts';
import { contentHash } from '../base/content-hash.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import { COMPRESS_PROGRAMS } from '../kernels/compress.ts';
import type { LlamaConfig } from '../model/config.ts';
import { blake3Ready } from '../base/blake3.ts';
import type { ParameterLayout } from '../model/layout.ts';
import { LlamaModel } from '../model/model.ts';
import { CodecError, encodeUpdate, wireLayoutOf } from '../sparseloco/codec.ts';
import type { CompressedUpdate, WireLayout } from '../sparseloco/types.ts';
import { heldOutBatches, roundBatches, type Batch } from '../train/batches.ts';
import { encodeCheckpoint, type CheckpointFiles } from '../train/checkpoint.ts';
import type { TrainingControl } from '../train/control.ts';
import { InnerLoop, type StepProgress } from '../train/inner-loop.ts';
import { AdamW } from '../train/optimizer.ts';
import type { LrSchedule } from '../train/schedule.ts';
import { applyDecision, initialModel, withHash, type GlobalModel, type OuterRule } from './global-model.ts';
import { createErrorFeedback, type CompressorKind, type ErrorFeedbackCompressor } from './error-feedback.ts';
import { innerSchedule, ROUND_EVAL_BATCHES, type ScheduleOptions } from './policy.ts';

/** Who a peer is in a run: its samples are seeded by (runId, round, hotkey). */
export interface PeerIdentity {
  runId: string;
  hotkey: string;
}

export interface PeerOptions {
  config: LlamaConfig;
  identity: PeerIdentity;
  /** Rows per inner step (per micro-batch) and tokens per row. */
  batch: number;
  seqLen: number;
  microBatches?: number;
  /** H: inner AdamW steps per round. */
  innerSteps: number;
  /** Rounds in the run: the inner schedule spans rounds × H steps. */
  rounds: number;
  schedule?: ScheduleOptions;
  /** Where error feedback and top-k/quantization run ('gpu'). */
  compressor?: CompressorKind;
  /** Error-feedback decay β (0.95). */
  beta?: number;
  /** Null rounds after joining (2 for a peer joining a run in progress; 0 when it starts with the run). */
  nullRounds?: number;
  /**
   * The first round this peer takes part in. Default: the first round it contributes to (a peer
   * that starts in round 0 starts with the run: no null rounds).
   */
  joinedRound?: number;
  /** Outer SGD learning rate (1.0). */
  outerLr?: number;
  /** The outer step's averaging and learning-rate scaling (the protocol's by default; a simulation's ablations reproduce earlier rules). */
  outerRule?: OuterRule;
  /** Held-out batches evaluated after a round (ROUND_EVAL_BATCHES). */
  evalBatches?: number;
}

/** The token splits a peer reads: its assigned samples come from `train`. */
export interface PeerData {
  train: Uint16Array;
  heldOut: Uint16Array;
}

/** What a peer sends for a round. */
export interface Contribution {
  round: number;
  payload: Uint8Array;
  /** blake3 of the payload bytes, hex: the payload's name on the swarm. */
  payloadHash: string;
  update: CompressedUpdate;
}

export interface ContributeOptions {
  control?: TrainingControl;
  onStep?: (p: StepProgress) => void;
  /** Called when the inner steps are done and error feedback, compression and encoding begin. */
  onCompress?: () => void;
}

export interface ContributeResult {
  round: number;
  /** Inner training losses, one per step taken. */
  losses: number[];
  /** True when training was cancelled: nothing was compressed and the error feedback is unchanged. */
  cancelled: boolean;
  /** The inner steps' time, summed (TrainStepsResult.trainingMs). */
  trainingMs: number;
  /** Null in a null round, when cancelled, and when the update could not be encoded (see `skipped`). */
  contribution: Contribution | null;
  /**
   * Why nothing is sent although the round ran: the error feedback held values the wire format
   * refuses (non-finite, or past its magnitude bound). The peer then forgets its carried error
   * and starts over from e = 0 next round, as after a resync.
   */
  skipped?: string;
}

export class Peer {
  readonly layout: ParameterLayout;
  readonly wire: WireLayout;
  readonly schedule: LrSchedule;
  private readonly loop: InnerLoop;
  private readonly roundEval: Batch[];
  private global: GlobalModel;

  private constructor(
    readonly rt: GpuRuntime,
    readonly options: PeerOptions,
    private readonly data: PeerData,
    readonly model: LlamaModel,
    readonly optimizer: AdamW,
    private readonly errorFeedback: ErrorFeedbackCompressor,
    start: GlobalModel | undefined,
  ) {
    this.layout = model.layout;
    this.wire = wireLayoutOf(this.layout.tensors);
    this.schedule = innerSchedule(options.rounds * options.innerSteps, options.schedule);
    this.loop = new InnerLoop(model, optimizer);
    this.roundEval = this.heldOutBatches(options.evalBatches ?? ROUND_EVAL_BATCHES);
    this.global = start ?? initialModel(this.layout, 0);
    if (this.global.theta.length !== this.layout.totalFloats) {
      throw new RangeError(`the starting model holds ${this.global.theta.length} floats, this layout ${this.layout.totalFloats}`);
    }
  }

  /**
   * Allocates the replica, its optimizer and error feedback, and compiles every pipeline a round
   * uses, so that no round compiles. Starts from `start` (θ_0 of seed 0 when omitted).
   */
  static async create(rt: GpuRuntime, options: PeerOptions, data: PeerData, start?: GlobalModel): Promise<Peer> {
    for (const [name, v] of [
      ['batch', options.batch],
      ['seqLen', options.seqLen],
      ['innerSteps', options.innerSteps],
      ['rounds', options.rounds],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`peer: ${name} must be a positive integer, got ${v}`);
    }
    if (options.seqLen > options.config.max_position_embeddings) {
      throw new RangeError(
        `peer: seqLen ${options.seqLen} exceeds the model's max_position_embeddings ${options.config.max_position_embeddings}`,
      );
    }
    // The model hash runs on WASM BLAKE3 once it has loaded (tens of times faster than JavaScript).
    const [model] = await Promise.all([
      LlamaModel.create(rt, options.config, { batch: options.batch, seqLen: options.seqLen }),
      blake3Ready(),
    ]);
    let optimizer: AdamW | undefined;
    let errorFeedback: ErrorFeedbackCompressor | undefined;
    try {
      optimizer = await AdamW.create(model);
      errorFeedback = createErrorFeedback(rt, model.layout, {
        kind: options.compressor,
        beta: options.beta,
        nullRounds: options.nullRounds,
        joinedRound: options.joinedRound,
      });
      if (errorFeedback.kind === 'gpu') await rt.compileAll(COMPRESS_PROGRAMS);
      return new Peer(rt, options, data, model, optimizer, errorFeedback, start);
    } catch (err) {
      errorFeedback?.destroy();
      optimizer?.destroy();
      model.destroy();
      throw err;
    }
  }

  get identity(): PeerIdentity {
    return this.options.identity;
  }

  /** θ_w as this peer holds it (do not modify). */
  get theta(): Float32Array {
    return this.global.theta;
  }

  get modelHashBytes(): Uint8Array {
    return this.global.hash;
  }

  /** H_w, 64 hex digits. */
  get modelHash(): string {
    return bytesToHex(this.global.hash);
  }

  /** Dense fp32 bytes of the model: what a payload is compared with. */
  get denseBytes(): number {
    return this.layout.parameterCount * 4;
  }

  /** Replaces θ (a joining peer's checkpoint, or a resync); the hash is computed when not given. */
  setGlobalModel(theta: Float32Array, hash?: Uint8Array): void {
    this.global = hash ? { theta, hash } : withHash(this.layout, theta);
  }

  /** This peer's batches for `round`: samples(runId, round, hotkey), which any validator can recompute. */
  assignedBatches(round: number): (step: number, micro: number) => Batch {
    const { identity, innerSteps, microBatches, batch, seqLen } = this.options;
    return roundBatches(this.data.train, { ...identity, round, steps: innerSteps, microBatches: microBatches ?? 1, rows: batch, seqLen });
  }

  /** `count` fixed held-out batches of this peer's shape. */
  heldOutBatches(count: number): Batch[] {
    return heldOutBatches(this.data.heldOut, count, this.options.batch, this.options.seqLen);
  }

  /**
   * One round's work: H inner steps from θ_w on the assigned samples, then error feedback,
   * compression and encoding of the pseudo-gradient. θ_w is untouched (the decision moves it).
   */
  async contribute(round: number, options: ContributeOptions = {}): Promise<ContributeResult> {
    const inner = await this.loop.innerRound(this.global.theta, {
      steps: this.options.innerSteps,
      microBatches: this.options.microBatches,
      batch: this.assignedBatches(round),
      schedule: this.schedule,
      control: options.control,
      onStep: options.onStep,
    });
    if (inner.cancelled) return { round, losses: inner.losses, cancelled: true, trainingMs: inner.trainingMs, contribution: null };
    options.onCompress?.();
    const update = await this.errorFeedback.compress(round, inner.pseudoGradient);
    if (!update) return { round, losses: inner.losses, cancelled: false, trainingMs: inner.trainingMs, contribution: null };
    let payload: Uint8Array;
    try {
      payload = encodeUpdate({ runId: this.identity.runId, round, baseModelHash: this.global.hash }, update, this.wire);
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      this.errorFeedback.reset();
      return {
        round,
        losses: inner.losses,
        cancelled: false,
        trainingMs: inner.trainingMs,
        contribution: null,
        skipped: `round ${round}: the update cannot be sent (${err.message}); error feedback reset`,
      };
    }
    return {
      round,
      losses: inner.losses,
      cancelled: false,
      trainingMs: inner.trainingMs,
      contribution: { round, payload, payloadHash: contentHash(payload), update },
    };
  }

  /**
   * Applies a round's decision (global-model.ts): every payload decoded from its bytes against H_w,
   * aggregated in the given order, θ_{w+1} = θ_w − lr·aggregate on the CPU, bit-identical on every
   * peer. Returns H_{w+1}. An empty decision leaves θ as it is. A payload that does not decode
   * (another run, round or base model: this peer is out of sync) throws DecisionError, θ unchanged.
   */
  applyDecision(round: number, payloads: readonly Uint8Array[]): string {
    const origin = { runId: this.identity.runId, round };
    this.global = applyDecision(this.layout, this.wire, this.global, origin, payloads, this.options.outerLr, this.options.outerRule);
    return this.modelHash;
  }

  /** Mean held-out loss of θ_w (or of `theta`) on `batches` (the round's evaluation batches by default). */
  async evaluate(batches: readonly Batch[] = this.roundEval, theta: Float32Array = this.global.theta): Promise<number> {
    this.model.setParameters(theta);
    return this.loop.evaluate(batches);
  }

  /** θ_w as checkpoint files (safetensors + config.json + this peer's AdamW state). */
  async checkpoint(): Promise<CheckpointFiles> {
    return encodeCheckpoint({
      config: this.options.config,
      params: this.global.theta,
      step: this.optimizer.stepCount,
      optimizer: await this.optimizer.getState(),
      modelHash: this.modelHash,
    });
  }

  /** Forgets the carried error (after a resync). */
  resetErrorFeedback(): void {
    this.errorFeedback.reset();
  }

  /** The carried error e, in layout order (saved by a tab to resume after a reload). */
  errorFeedbackState(): Promise<Float32Array> {
    return this.errorFeedback.state();
  }

  /** Restores e saved by errorFeedbackState() from a peer of the same model. */
  setErrorFeedbackState(e: Float32Array): void {
    this.errorFeedback.setState(e);
  }

  /** Frees every GPU buffer this peer holds. */
  destroy(): void {
    this.errorFeedback.destroy();
    this.optimizer.destroy();
    this.model.destroy();
  }
}
