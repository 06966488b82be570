// The training worker: owns the GPU device and one peer of the engine (src/engine/peer.ts); the
// main thread talks to it through Comlink (RTCPeerConnection does not exist in workers, so
// networking stays on the main thread). Until the tab joins a swarm it runs SparseLoCo rounds on
// its own: H inner steps, error feedback and compression on the GPU, encode, then the outer step
// from its own payload. Large arrays cross with Comlink.transfer, never by copy.
// A tab can instead be a Gauntlet validator of its hub's run (src/client/validator-client.ts): the
// worker then holds a Validator and θ_w instead of a peer, judges each round's committed payloads
// on the GPU and follows the chain's decision. A tab is a participant or a validator, not both.
import { randomHex } from '../base/hex.ts';
import * as Comlink from 'comlink';
import { dataUrl, fetchSplit } from '../data/browser.ts';
import { applyDecision, hashHex, initialModel, modelFromCheckpoint, type GlobalModel } from '../engine/global-model.ts';
import { Peer, type PeerOptions } from '../engine/peer.ts';
import { tokenizerFor } from '../engine/policy.ts';
import { Validator } from '../gauntlet/validator.ts';
import { checkCapability, type Capability } from '../engine/capability.ts';
import { gpuSelfTest, type SelfTestResult } from '../engine/self-test.ts';
import { browserGpuDevice } from '../gpu/browser.ts';
import type { AdapterReport } from '../gpu/device.ts';
import { GpuRuntime, type RuntimeOptions } from '../gpu/runtime.ts';
import { preset, type LlamaConfig } from '../model/config.ts';
import { blake3Ready } from '../base/blake3.ts';
import { contentHash } from '../base/content-hash.ts';
import { parameterLayout } from '../model/layout.ts';
import { decodeCheckpoint, type CheckpointFiles } from '../train/checkpoint.ts';
import { TrainingControl } from '../train/control.ts';
import type { StepProgress } from '../train/inner-loop.ts';

export type { Capability, SelfTestResult };

let runtime: Promise<GpuRuntime> | undefined;
/** The page's choices (e.g. `?f16=off`), set before the runtime starts. */
let runtimeOptions: RuntimeOptions = {};

function getRuntime(): Promise<GpuRuntime> {
  runtime ??= browserGpuDevice().then((gpu) => {
    void gpu.lost.then((err) => {
      runtime = undefined;
      console.error(err.message);
    });
    return new GpuRuntime(gpu, runtimeOptions);
  });
  // A failed start must not poison later attempts (the user may enable WebGPU and retry).
  runtime.catch(() => (runtime = undefined));
  return runtime;
}

/** A solo run: the tab is a swarm of one, with the same round as every peer. */
export interface SessionOptions {
  preset: string;
  /** Rows per inner step and tokens per row. */
  batch: number;
  seqLen?: number;
  /** H: inner steps per round. */
  innerSteps: number;
  /** Rounds in the run (the inner schedule spans rounds × H steps). */
  rounds: number;
  /** Seed of θ_0. */
  seed?: number;
  /** Identity for sample assignment: `runId` and `hotkey` seed the samples (the simulator names its peers peer-0, peer-1, …). */
  runId?: string;
  hotkey?: string;
  /** A peer joining a swarm's run in progress: its first round and null rounds (none for a solo run). */
  joinedRound?: number;
  nullRounds?: number;
}

export interface SessionInfo {
  config: LlamaConfig;
  parameterCount: number;
  batch: number;
  seqLen: number;
  innerSteps: number;
  rounds: number;
  runId: string;
  hotkey: string;
  trainTokens: number;
  modelHash: string;
  /** The next round to run. */
  round: number;
}

/** One finished round, as the page shows it. */
export interface RoundSummary {
  round: number;
  payloadBytes: number;
  denseBytes: number;
  compressionRatio: number;
  payloadHash: string;
  /** H_{w+1} after the outer step. */
  modelHash: string;
  heldOutLoss: number;
  meanInnerLoss: number;
}

export type TrainEvent = ({ kind: 'step' } & StepProgress) | ({ kind: 'round' } & RoundSummary) | { kind: 'compress'; round: number };

/** What a tab saves after each swarm round to resume after a reload: θ and AdamW state, and e. */
export interface PeerSnapshot {
  /** The round θ is the model of (the next to train). */
  round: number;
  modelHash: string;
  step: number;
  /** Held-out loss of θ on the round's evaluation batches. */
  heldOutLoss: number;
  files: CheckpointFiles;
  errorFeedback: Float32Array;
  /** blake3 of e's bytes: the page shows it so a resumed session can be seen to carry the same e. */
  errorFeedbackHash: string;
}

export interface RunResult {
  cancelled: boolean;
  /** Rounds completed by this call. */
  rounds: number;
  /** Every round of the run is done. */
  runComplete: boolean;
}

/** What the tab offers the swarm for a round (the payload crosses to the main thread, not copied). */
export interface SwarmContribution {
  round: number;
  cancelled: boolean;
  losses: number[];
  skipped?: string;
  payload: Uint8Array | null;
  payloadHash: string | null;
}

export interface CheckpointSummary {
  step: number;
  modelHash: string;
  /** Held-out loss on the round's evaluation batches, for comparing with another loader. */
  heldOutLoss: number;
  files: CheckpointFiles;
}

/** A tab validating its hub's run: where it starts (the hub's checkpoint) and with which settings. */
export interface ValidatorStart {
  runId: string;
  preset: string;
  seqLen: number;
  /** The round the checkpoint is θ of: the first round it judges. */
  round: number;
  /** The checkpoint's model.safetensors bytes (transferred). */
  checkpoint: Uint8Array;
}

/** What the chain decided a round: the payloads in aggregation order (hashes and bytes) and H_{w+1}. */
export interface ChainDecision {
  payloadHashes: string[];
  payloads: Uint8Array[];
  modelHash: string;
}

/** One round as this tab's Gauntlet judged it, next to the chain's decision. */
export interface JudgedRoundSummary {
  round: number;
  /** The payloads this tab would gather, in aggregation order. */
  gathered: string[];
  /** Its gather set is exactly the decision's payload list, in the same order. */
  agrees: boolean;
  /** The decision's payloads of the chain's decision that this tab also gathered. */
  decidedAlsoGathered: number;
  rejected: { peer: string; payloadHash: string; reason: string }[];
  /** This tab's standings, best first (at most five). */
  top: { hotkey: string; final: number }[];
  /** H_{w+1} after applying the chain's decision to this tab's θ_w. */
  modelHash: string;
  /** That hash is the one the decision names. */
  modelHashMatches: boolean;
}

/** The tab's Gauntlet: a Validator on the worker's GPU and θ_w of the round it judges next. */
class ValidatorSession {
  constructor(
    readonly validator: Validator,
    readonly runId: string,
    public model: GlobalModel,
    public round: number,
  ) {}

  async judge(round: number, submissions: { hotkey: string; payload: Uint8Array }[], decision: ChainDecision): Promise<JudgedRoundSummary> {
    if (round !== this.round)
      throw new Error(`this tab's validator holds θ of round ${this.round}, not ${round}: rounds are judged in order`);
    const { record } = await this.validator.judge({ round, base: this.model, submissions });
    const { layout, wire } = this.validator.context;
    // Whatever this tab thinks, the run goes on with the chain's decision: follow it.
    const next = applyDecision(layout, wire, this.model, { runId: this.runId, round }, decision.payloads);
    const modelHash = hashHex(next);
    const modelHashMatches = modelHash === decision.modelHash;
    if (modelHashMatches) {
      this.model = next;
      this.round = round + 1;
    }
    const decided = new Set(decision.payloadHashes);
    return {
      round,
      gathered: record.payloadHashes,
      agrees:
        record.payloadHashes.length === decision.payloadHashes.length &&
        record.payloadHashes.every((h, i) => h === decision.payloadHashes[i]),
      decidedAlsoGathered: record.payloadHashes.filter((h) => decided.has(h)).length,
      rejected: record.rejected.map((r) => ({ peer: r.peer, payloadHash: r.payloadHash, reason: r.reason })),
      top: this.validator
        .ranking()
        .slice(0, 5)
        .map((s) => ({ hotkey: s.hotkey, final: s.final })),
      modelHash,
      modelHashMatches,
    };
  }

  destroy(): void {
    this.validator.destroy();
  }
}

/** The tab's peer and where it is in its run. */
class Session {
  private control = new TrainingControl();
  private running = false;
  /** Pause and throttle outlive each task's control: a paused tab stays paused into the next round. */
  private paused = false;
  private dutyCycle = 1;
  /** Settles when the rounds in progress stop; close() waits for it before freeing the GPU. */
  private active: Promise<unknown> = Promise.resolve();
  round = 0;

  constructor(
    readonly peer: Peer,
    private readonly trainTokens: number,
  ) {}

  info(): SessionInfo {
    const o = this.peer.options;
    return {
      config: o.config,
      parameterCount: this.peer.layout.parameterCount,
      batch: o.batch,
      seqLen: o.seqLen,
      innerSteps: o.innerSteps,
      rounds: o.rounds,
      ...o.identity,
      trainTokens: this.trainTokens,
      modelHash: this.peer.modelHash,
      round: this.round,
    };
  }

  /** Runs one GPU task at a time; close() waits for the one in progress. */
  /** Rounds are being trained right now. */
  get busy(): boolean {
    return this.running;
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    if (this.running) return Promise.reject(new Error('training is already running in this tab'));
    this.running = true;
    this.control = new TrainingControl();
    this.control.setDutyCycle(this.dutyCycle);
    if (this.paused) this.control.pause();
    const run = task().finally(() => (this.running = false));
    this.active = run.catch(() => {});
    return run;
  }

  /** Solo: runs rounds until `rounds` more are done, the run ends, or it is cancelled. */
  runRounds(rounds: number, onEvent: (e: TrainEvent) => void): Promise<RunResult> {
    return this.exclusive(() => this.rounds(rounds, onEvent));
  }

  /** In a swarm: this peer's contribution to `round` (H steps, error feedback, compression, encoding). */
  contribute(round: number, onEvent: (e: TrainEvent) => void): Promise<SwarmContribution> {
    return this.exclusive(async () => {
      const result = await this.peer.contribute(round, {
        control: this.control,
        onStep: (p) => onEvent({ kind: 'step', ...p }),
        onCompress: () => onEvent({ kind: 'compress', round }),
      });
      const c = result.contribution;
      return {
        round,
        cancelled: result.cancelled,
        losses: result.losses,
        skipped: result.skipped,
        payload: c?.payload ?? null,
        payloadHash: c?.payloadHash ?? null,
      };
    });
  }

  /** In a swarm: applies a round's decision; returns H_{w+1}. */
  applyDecision(round: number, payloads: Uint8Array[]): string {
    const modelHash = this.peer.applyDecision(round, payloads);
    this.round = round + 1;
    return modelHash;
  }

  private async rounds(rounds: number, onEvent: (e: TrainEvent) => void): Promise<RunResult> {
    const control = this.control;
    let done = 0;
    while (done < rounds && this.round < this.peer.options.rounds) {
      const round = this.round;
      const result = await this.peer.contribute(round, { control, onStep: (p) => onEvent({ kind: 'step', ...p }) });
      // A round stopped halfway sends nothing; θ and the error feedback stay as they were.
      if (result.cancelled) return { cancelled: true, rounds: done, runComplete: false };
      const payloads = result.contribution ? [result.contribution.payload] : [];
      const modelHash = this.peer.applyDecision(round, payloads);
      const payloadBytes = result.contribution?.payload.length ?? 0;
      this.round++;
      done++;
      onEvent({
        kind: 'round',
        round,
        payloadBytes,
        denseBytes: this.peer.denseBytes,
        compressionRatio: payloadBytes > 0 ? this.peer.denseBytes / payloadBytes : 0,
        payloadHash: result.contribution?.payloadHash ?? '',
        modelHash,
        heldOutLoss: await this.peer.evaluate(),
        meanInnerLoss: result.losses.reduce((a, b) => a + b, 0) / result.losses.length,
      });
    }
    return { cancelled: false, rounds: done, runComplete: this.round >= this.peer.options.rounds };
  }

  pause() {
    this.paused = true;
    this.control.pause();
  }
  resume() {
    this.paused = false;
    this.control.resume();
  }
  setDutyCycle(duty: number) {
    this.control.setDutyCycle(duty);
    this.dutyCycle = duty;
  }

  /** θ, AdamW state and e as they stand between rounds (never while a round is being trained). */
  async snapshot(): Promise<PeerSnapshot> {
    if (this.running) throw new Error('a round is being trained: snapshots are taken between rounds');
    const summary = await this.checkpoint();
    const errorFeedback = await this.peer.errorFeedbackState();
    return {
      round: this.round,
      modelHash: summary.modelHash,
      step: summary.step,
      heldOutLoss: summary.heldOutLoss,
      files: summary.files,
      errorFeedback,
      errorFeedbackHash: contentHash(new Uint8Array(errorFeedback.buffer)),
    };
  }

  async restoreErrorFeedback(e: Float32Array): Promise<string> {
    if (this.running) throw new Error('a round is being trained: error feedback is restored between rounds');
    this.peer.setErrorFeedbackState(e);
    return contentHash(new Uint8Array((await this.peer.errorFeedbackState()).buffer));
  }
  cancel() {
    this.control.cancel();
  }

  async checkpoint(): Promise<CheckpointSummary> {
    return {
      step: this.peer.optimizer.stepCount,
      modelHash: this.peer.modelHash,
      heldOutLoss: await this.peer.evaluate(),
      files: await this.peer.checkpoint(),
    };
  }

  /** Sets θ from checkpoint files (a swarm's checkpoint when joining, or a saved one) at `round`. */
  load(files: CheckpointFiles, round = this.round): SessionInfo {
    const ckpt = decodeCheckpoint(files);
    // Field by field: a config parsed from a checkpoint lists its fields in another order than a preset.
    const ours = this.peer.options.config;
    const differs = (Object.keys(ours) as (keyof LlamaConfig)[]).filter((k) => ckpt.config[k] !== ours[k]);
    if (differs.length > 0)
      throw new Error(`this checkpoint is for a different model shape than the one this tab is training (${differs.join(', ')} differ)`);
    this.peer.setGlobalModel(ckpt.params);
    if (ckpt.optimizer) this.peer.optimizer.setState(ckpt.optimizer);
    this.round = round;
    return this.info();
  }

  /** Stops any rounds in progress (between steps), then frees every GPU buffer the peer holds. */
  async close(): Promise<void> {
    this.cancel();
    await this.active;
    this.peer.destroy();
  }
}

let session: Session | undefined;
let validatorSession: ValidatorSession | undefined;
/** Settles when a validator being started is ready (or failed): starting twice at once must not leak one. */
let validatorStarting: Promise<unknown> = Promise.resolve();

function requireValidator(): ValidatorSession {
  if (!validatorSession) throw new Error('this tab is not validating: call startValidator() first');
  return validatorSession;
}

function requireSession(): Session {
  if (!session) throw new Error('call init() first');
  return session;
}

const api = {
  /** Forces runtime options (the f16 path, subgroups) either way; only before the GPU is first used. */
  configure(options: RuntimeOptions): void {
    if (runtime) throw new Error('the GPU runtime has started: configure the worker before its first call');
    runtimeOptions = { ...options };
  },

  /** The adapter this worker's device runs on; throws WebGpuUnavailableError without WebGPU. */
  async adapter(): Promise<AdapterReport & { hasTimestamps: boolean; f16: boolean; subgroups: boolean }> {
    const rt = await getRuntime();
    return { ...rt.gpu.adapter, hasTimestamps: rt.gpu.hasTimestamps, f16: rt.f16, subgroups: rt.subgroups };
  },

  /** Which presets this adapter fits, a short matmul benchmark, and the preset to recommend. */
  async capability(): Promise<Capability> {
    return checkCapability(await getRuntime());
  },

  /** Runs the model's matmul kernel on exact integer data and compares it with the CPU. */
  async selfTest(): Promise<SelfTestResult> {
    return gpuSelfTest(await getRuntime());
  },

  /** Builds this tab's peer (model, optimizer, error feedback) and loads the data; frees any previous one. */
  async init(options: SessionOptions): Promise<SessionInfo> {
    if (validatorSession)
      throw new Error('this tab is validating the run: stop validating before training (a tab is a participant or a validator)');
    const previous = session;
    session = undefined;
    await previous?.close();
    const config = preset(options.preset);
    const rt = await getRuntime();
    const url = dataUrl(tokenizerFor(config));
    const [train, heldOut] = await Promise.all([fetchSplit(url, 'train'), fetchSplit(url, 'heldout')]);
    const peerOptions: PeerOptions = {
      config,
      identity: { runId: options.runId ?? 'solo', hotkey: options.hotkey ?? 'peer-0' },
      batch: options.batch,
      seqLen: options.seqLen ?? config.max_position_embeddings,
      innerSteps: options.innerSteps,
      rounds: options.rounds,
      // A solo tab starts with its run, from θ_0: no null rounds.
      nullRounds: options.nullRounds ?? 0,
      joinedRound: options.joinedRound,
    };
    const start = initialModel(parameterLayout(config, rt.limits), options.seed ?? 0);
    const peer = await Peer.create(rt, peerOptions, { train: train.tokens, heldOut: heldOut.tokens }, start);
    session = new Session(peer, train.tokens.length);
    session.round = options.joinedRound ?? 0; // a swarm's participant sets the round when it loads the checkpoint
    return session.info();
  },

  /** Runs up to `rounds` rounds; `onEvent` (a Comlink.proxy) hears every step and round. */
  train(rounds: number, onEvent: (e: TrainEvent) => void) {
    return requireSession().runRounds(rounds, onEvent);
  },
  /** Holds training before its next step (this round and later ones) until resume(); θ and e stay as they are. */
  pause: () => requireSession().pause(),
  resume: () => requireSession().resume(),
  /** The share of time training may use the GPU, in [0.05, 1] (rests between steps). */
  setDutyCycle: (duty: number) => requireSession().setDutyCycle(duty),
  cancel: () => requireSession().cancel(),

  /** θ, AdamW state and e between rounds, for the tab to save (buffers transferred). */
  async snapshot(): Promise<PeerSnapshot> {
    const s = await requireSession().snapshot();
    return Comlink.transfer(s, [...Object.values(s.files).map((f) => f.buffer as ArrayBuffer), s.errorFeedback.buffer as ArrayBuffer]);
  },
  /** Sets e from a snapshot of this run's peer; returns the hash of e as the GPU now holds it. */
  restoreErrorFeedback: (e: Float32Array) => requireSession().restoreErrorFeedback(e),

  /** θ_w as checkpoint files (transferred, not copied). */
  async checkpoint(): Promise<CheckpointSummary> {
    const summary = await requireSession().checkpoint();
    return Comlink.transfer(
      summary,
      Object.values(summary.files).map((f) => f.buffer as ArrayBuffer),
    );
  },

  /** θ from checkpoint files, as the model of `round` (a swarm's checkpoint when joining). */
  loadCheckpoint: (files: CheckpointFiles, round?: number) => requireSession().load(files, round),

  /** Swarm rounds: the main thread's participant decides when; the payload is transferred. */
  async contribute(round: number, onEvent: (e: TrainEvent) => void): Promise<SwarmContribution> {
    const c = await requireSession().contribute(round, onEvent);
    return c.payload ? Comlink.transfer(c, [c.payload.buffer as ArrayBuffer]) : c;
  },
  applyDecision: (round: number, payloads: Uint8Array[]) => requireSession().applyDecision(round, payloads),
  modelHash: () => requireSession().peer.modelHash,

  /**
   * Makes this tab a Gauntlet validator of a run, from the hub's checkpoint: the evaluator on this
   * worker's GPU, standings that start empty (it has seen nobody yet) and a secret of its own for
   * its evaluation seeds. Refused while rounds are being trained; an idle peer is freed.
   */
  async startValidator(start: ValidatorStart): Promise<{ round: number; modelHash: string }> {
    await validatorStarting;
    if (session?.busy)
      throw new Error('this tab is training with the swarm: leave the swarm before validating (a tab is a participant or a validator)');
    const starting = (async () => {
      const previousPeer = session;
      session = undefined;
      await previousPeer?.close();
      validatorSession?.destroy();
      validatorSession = undefined;
      const config = preset(start.preset);
      const rt = await getRuntime();
      const [train] = await Promise.all([fetchSplit(dataUrl(tokenizerFor(config)), 'train'), blake3Ready()]);
      const secret = randomHex(32);
      const validator = await Validator.create(rt, {
        runId: start.runId,
        config,
        trainTokens: train.tokens,
        seqLen: start.seqLen,
        secret,
        state: { round: start.round, peers: {} },
      });
      try {
        const model = modelFromCheckpoint(validator.context.layout, start.checkpoint);
        validatorSession = new ValidatorSession(validator, start.runId, model, start.round);
        return { round: start.round, modelHash: hashHex(model) };
      } catch (err) {
        validator.destroy();
        throw err;
      }
    })();
    validatorStarting = starting.catch(() => {});
    return starting;
  },

  /** Judges `round` from its committed submissions, then follows the chain's decision (payloads transferred). */
  judgeRound: (round: number, submissions: { hotkey: string; payload: Uint8Array }[], decision: ChainDecision) =>
    requireValidator().judge(round, submissions, decision),

  /** Frees the validator's GPU buffers; the tab may then train. */
  stopValidator(): void {
    validatorSession?.destroy();
    validatorSession = undefined;
  },
};

export type WorkerApi = typeof api;

Comlink.expose(api);
