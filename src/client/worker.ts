// The training worker: owns the GPU device and either one peer of the engine (src/engine/peer.ts)
// or a Gauntlet validator; the main thread talks to it through Comlink (RTCPeerConnection does not
// exist in workers, so networking stays on the main thread). Its API is split by role:
//   gpu        the adapter, the capability check, the self-test, and word of a lost device (the page
//              then rejoins from its saved state: src/ui/useSwarm.ts);
//   solo       before the tab joins a swarm: SparseLoCo rounds on its own (H inner steps, error
//              feedback and compression on the GPU, encode, then the outer step from its own payload);
//   member     in a hub's run (src/client/swarm-client.ts): train and compress when the participant
//              asks, apply the chain's decisions, snapshot and restore θ, AdamW state and e;
//   controls   pause, resume and the duty cycle of whichever peer is training;
//   validator  the tab as a Gauntlet validator (src/client/validator-client.ts): judges each round's
//              committed payloads on the GPU and follows the chain's decision.
// A tab is a participant or a validator, not both. Large arrays cross with Comlink.transfer.
import { randomHex } from '../base/hex.ts';
import * as Comlink from 'comlink';
import { dataUrl, fetchSplit } from '../data/browser.ts';
import { initialModel, modelFromCheckpoint } from '../engine/global-model.ts';
import { Peer, type PeerOptions as EnginePeerOptions } from '../engine/peer.ts';
import { tokenizerFor } from '../engine/policy.ts';
import { Validator } from '../gauntlet/validator.ts';
import { checkCapability, type Capability } from '../engine/capability.ts';
import { gpuSelfTest, type SelfTestResult } from '../engine/self-test.ts';
import { browserGpuDevice } from '../gpu/browser.ts';
import type { AdapterReport } from '../gpu/device.ts';
import { GpuRuntime, type RuntimeOptions } from '../gpu/runtime.ts';
import { preset, type LlamaConfig } from '../model/config.ts';
import { blake3Ready } from '../base/blake3.ts';
import { contentHash, type ContentHash } from '../base/content-hash.ts';
import { parameterLayout } from '../model/layout.ts';
import { decodeCheckpoint, type CheckpointFiles } from '../train/checkpoint.ts';
import { TrainingControl } from '../train/control.ts';
import type { SignedDecision } from '../chain/extrinsics.ts';
import { decidedPayloads, followDecision, ModelMismatchError, ModelReplica } from '../run/follow.ts';
import type { StepProgress } from '../train/inner-loop.ts';

export type { Capability, SelfTestResult };

let runtime: Promise<GpuRuntime> | undefined;
/** The page's choices (e.g. `?f16=off`), set before the runtime starts. */
let runtimeOptions: RuntimeOptions = {};
/** Why the device the peer ran on was lost, until a new device replaces it (null while the device lives). */
let deviceLost: string | null = null;
/** Main-thread callbacks (Comlink proxies) told of every lost device, by watch id. */
const lossWatchers = new Map<number, (message: string) => void>();
let nextWatchId = 0;

function getRuntime(): Promise<GpuRuntime> {
  runtime ??= browserGpuDevice().then((gpu) => {
    deviceLost = null;
    const started = runtime;
    void gpu.lost.then((err) => {
      // The next getRuntime() asks for a new adapter and device: a lost one never comes back.
      if (runtime === started) runtime = undefined;
      deviceLost = `${err.reason}: ${err.detail}`;
      peer?.cancel();
      console.error(err.message);
      for (const watcher of lossWatchers.values()) void Promise.resolve(watcher(deviceLost)).catch(() => {}); // a closed page hears nothing
    });
    return new GpuRuntime(gpu, runtimeOptions);
  });
  // A failed start must not poison later attempts (the user may enable WebGPU and retry).
  runtime.catch(() => (runtime = undefined));
  return runtime;
}

/** The tab's peer: a solo run (a swarm of one), or a member of a hub's run, with the same round as every peer. */
export interface PeerOptions {
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

export interface PeerInfo {
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
  /** The inner steps' time, summed: what the GPU spent training. */
  trainingMs: number;
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

/** What the chain decided a round, with the bytes of the payloads it names. */
export interface ChainDecision {
  decision: SignedDecision;
  /** Each named payload by its content hash. */
  payloads: Map<ContentHash, Uint8Array>;
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
  /**
   * The peers this tab evaluated, on windows its own seed chose: the relative loss reduction on
   * random windows (gradient score) and whether the gain on the peer's assigned windows beat it
   * (binary). Another validator's windows differ, so on a marginal payload its verdict may too.
   */
  evaluated: { hotkey: string; gradientScore: number; binary: 1 | -1 }[];
  /** This tab's standings, best first (at most five). */
  top: { hotkey: string; final: number }[];
  /** H_{w+1} after applying the chain's decision to this tab's θ_w. */
  modelHash: string;
  /** That hash is the one the decision names. */
  modelHashMatches: boolean;
}

/** The tab's Gauntlet: a Validator on the worker's GPU and θ_w of the round it judges next. */
class WorkerValidator {
  constructor(
    readonly validator: Validator,
    readonly replica: ModelReplica,
    public round: number,
  ) {}

  async judge(round: number, submissions: { hotkey: string; payload: Uint8Array }[], chain: ChainDecision): Promise<JudgedRoundSummary> {
    if (round !== this.round)
      throw new Error(`this tab's validator holds θ of round ${this.round}, not ${round}: rounds are judged in order`);
    const { record } = await this.validator.judge({ round, base: this.replica.model, submissions });
    const decided = decidedPayloads(chain.decision);
    // Whatever this tab thinks, the run goes on with the chain's decision: follow it.
    const base = this.replica.model;
    let modelHashMatches = true;
    try {
      await followDecision(round, chain.decision, {
        payload: async (hash) => {
          const bytes = chain.payloads.get(hash);
          if (!bytes) throw new Error(`the decision's payload ${hash} was not handed to the worker`);
          return bytes;
        },
        apply: (r, payloads) => this.replica.apply(r, payloads),
      });
      this.round = round + 1;
    } catch (err) {
      if (!(err instanceof ModelMismatchError)) throw err;
      modelHashMatches = false;
    }
    const modelHash = this.replica.modelHash;
    if (!modelHashMatches) this.replica.model = base; // stays on θ_w: this tab cannot follow the run from here
    const decidedSet = new Set(decided);
    return {
      round,
      gathered: record.payloadHashes,
      agrees: record.payloadHashes.length === decided.length && record.payloadHashes.every((h, i) => h === decided[i]),
      decidedAlsoGathered: record.payloadHashes.filter((h) => decidedSet.has(h)).length,
      rejected: record.rejected.map((r) => ({ peer: r.peer, payloadHash: r.payloadHash, reason: r.reason })),
      evaluated: record.scores.flatMap((x) =>
        x.evaluated && x.gradientScore !== undefined && x.binary !== undefined
          ? [{ hotkey: x.hotkey, gradientScore: x.gradientScore, binary: x.binary }]
          : [],
      ),
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

/** The tab's engine peer (solo or a swarm member) and where it is in its run. */
class WorkerPeer {
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
    /** Resolves when the device the peer's buffers live on is lost. */
    private readonly lost: Promise<Error>,
  ) {}

  info(): PeerInfo {
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

  /** Rounds are being trained right now. */
  get busy(): boolean {
    return this.running;
  }

  /** Runs one GPU task at a time; close() waits for the one in progress. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    if (this.running) return Promise.reject(new Error('training is already running in this tab'));
    this.running = true;
    this.control = new TrainingControl();
    this.control.setDutyCycle(this.dutyCycle);
    if (this.paused) this.control.pause();
    // On a lost device a pending readback may never settle: the task fails with the loss instead.
    const run = Promise.race([task(), this.lost.then((err) => Promise.reject(err))]).finally(() => (this.running = false));
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
        trainingMs: result.trainingMs,
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
  load(files: CheckpointFiles, round = this.round): PeerInfo {
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
    await Promise.race([this.active, this.lost]);
    this.peer.destroy();
  }
}

let peer: WorkerPeer | undefined;
let validator: WorkerValidator | undefined;
/** Settles when a validator being started is ready (or failed): starting twice at once must not leak one. */
let validatorStarting: Promise<unknown> = Promise.resolve();

function requireValidator(): WorkerValidator {
  if (!validator) throw new Error('this tab is not validating: call validator.start() first');
  return validator;
}

function requirePeer(): WorkerPeer {
  if (!peer) throw new Error('this tab has no peer yet: call solo.init() or member.init() first');
  return peer;
}

/** Builds this tab's peer (model, optimizer, error feedback) and loads the data; frees any previous one. */
async function initPeer(options: PeerOptions): Promise<PeerInfo> {
  if (validator) throw new Error('this tab is validating the run: stop validating before training (a tab is a participant or a validator)');
  const previous = peer;
  peer = undefined;
  await previous?.close();
  const config = preset(options.preset);
  const rt = await getRuntime();
  const url = dataUrl(tokenizerFor(config));
  const [train, heldOut] = await Promise.all([fetchSplit(url, 'train'), fetchSplit(url, 'heldout')]);
  const engineOptions: EnginePeerOptions = {
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
  const engine = await Peer.create(rt, engineOptions, { train: train.tokens, heldOut: heldOut.tokens }, start);
  peer = new WorkerPeer(engine, train.tokens.length, rt.gpu.lost);
  peer.round = options.joinedRound ?? 0; // a swarm's participant sets the round when it loads the checkpoint
  return peer.info();
}

/** θ_w as checkpoint files (transferred, not copied). */
async function checkpoint(): Promise<CheckpointSummary> {
  const summary = await requirePeer().checkpoint();
  return Comlink.transfer(
    summary,
    Object.values(summary.files).map((f) => f.buffer as ArrayBuffer),
  );
}

/** The GPU this worker runs on. */
const gpu = {
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

  /** Calls `onLost` (a Comlink.proxy) with the reason each time this worker's device is lost; returns the id to unwatch. */
  watchDeviceLoss(onLost: (message: string) => void): number {
    const id = nextWatchId++;
    lossWatchers.set(id, onLost);
    return id;
  },
  unwatchDeviceLoss(id: number): void {
    lossWatchers.delete(id);
  },

  /**
   * Why the device the peer trained on was lost, or null while it lives. A call that failed on a
   * dying device may be answered before its lost promise settles: wait for the queue to drain
   * (done at once on a lost device) so that the answer covers that failure.
   */
  async deviceLost(): Promise<string | null> {
    const rt = deviceLost === null ? await runtime?.catch(() => undefined) : undefined;
    if (rt) await Promise.race([rt.gpu.lost, rt.gpu.device.queue.onSubmittedWorkDone()]).catch(() => {}); // a rejection is an answer too
    return deviceLost;
  },
};

/** Whichever peer is training: held before its next step, throttled, stopped. */
const controls = {
  /** Holds training before its next step (this round and later ones) until resume(); θ and e stay as they are. */
  pause: () => requirePeer().pause(),
  resume: () => requirePeer().resume(),
  /** The share of time training may use the GPU, in [0.05, 1] (rests between steps). */
  setDutyCycle: (duty: number) => requirePeer().setDutyCycle(duty),
  cancel: () => requirePeer().cancel(),
};

/** A solo run: the tab as a swarm of one, its own payload each round's decision. */
const solo = {
  init: initPeer,
  /** Runs up to `rounds` rounds; `onEvent` (a Comlink.proxy) hears every step and round. */
  train(rounds: number, onEvent: (e: TrainEvent) => void) {
    return requirePeer().runRounds(rounds, onEvent);
  },
  checkpoint,
};

/** A member of a hub's run: the main thread's participant decides when to train and what to apply. */
const member = {
  init: initPeer,
  /** θ from checkpoint files, as the model of `round` (the run's checkpoint when joining). */
  loadCheckpoint: (files: CheckpointFiles, round?: number) => requirePeer().load(files, round),
  /** This peer's payload for `round` (transferred). */
  async contribute(round: number, onEvent: (e: TrainEvent) => void): Promise<SwarmContribution> {
    const c = await requirePeer().contribute(round, onEvent);
    return c.payload ? Comlink.transfer(c, [c.payload.buffer as ArrayBuffer]) : c;
  },
  applyDecision: (round: number, payloads: Uint8Array[]) => requirePeer().applyDecision(round, payloads),
  modelHash: () => requirePeer().peer.modelHash,
  /** θ, AdamW state and e between rounds, for the tab to save (buffers transferred). */
  async snapshot(): Promise<PeerSnapshot> {
    const s = await requirePeer().snapshot();
    return Comlink.transfer(s, [...Object.values(s.files).map((f) => f.buffer as ArrayBuffer), s.errorFeedback.buffer as ArrayBuffer]);
  },
  /** Sets e from a snapshot of this run's peer; returns the hash of e as the GPU now holds it. */
  restoreErrorFeedback: (e: Float32Array) => requirePeer().restoreErrorFeedback(e),
  checkpoint,
};

/** The tab as a Gauntlet validator of its hub's run. */
const validate = {
  /**
   * Makes this tab a Gauntlet validator of a run, from the hub's checkpoint: the evaluator on this
   * worker's GPU, standings that start empty (it has seen nobody yet) and a secret of its own for
   * its evaluation seeds. Refused while rounds are being trained; an idle peer is freed.
   */
  async start(start: ValidatorStart): Promise<{ round: number; modelHash: string }> {
    await validatorStarting;
    if (peer?.busy)
      throw new Error('this tab is training with the swarm: leave the swarm before validating (a tab is a participant or a validator)');
    const starting = (async () => {
      const previousPeer = peer;
      peer = undefined;
      await previousPeer?.close();
      validator?.destroy();
      validator = undefined;
      const config = preset(start.preset);
      const rt = await getRuntime();
      const [train] = await Promise.all([fetchSplit(dataUrl(tokenizerFor(config)), 'train'), blake3Ready()]);
      const judge = await Validator.create(rt, {
        runId: start.runId,
        config,
        trainTokens: train.tokens,
        seqLen: start.seqLen,
        secret: randomHex(32),
        state: { round: start.round, peers: {} },
      });
      try {
        const { layout, wire } = judge.context;
        const replica = new ModelReplica(layout, wire, start.runId, modelFromCheckpoint(layout, start.checkpoint), () => {
          throw new Error('the main thread hands the worker every payload a decision names');
        });
        validator = new WorkerValidator(judge, replica, start.round);
        return { round: start.round, modelHash: replica.modelHash };
      } catch (err) {
        judge.destroy();
        throw err;
      }
    })();
    validatorStarting = starting.catch(() => {});
    return starting;
  },

  /** Judges `round` from its committed submissions, then follows the chain's decision (payloads transferred). */
  judge: (round: number, submissions: { hotkey: string; payload: Uint8Array }[], decision: ChainDecision) =>
    requireValidator().judge(round, submissions, decision),

  /** Frees the validator's GPU buffers; the tab may then train. */
  stop(): void {
    validator?.destroy();
    validator = undefined;
  },
};

// Marked as proxies so that Comlink's types give the main thread \`api.solo.train(…)\` (Comlink
// resolves the path on this side either way).
const api = {
  gpu: Comlink.proxy(gpu),
  controls: Comlink.proxy(controls),
  solo: Comlink.proxy(solo),
  member: Comlink.proxy(member),
  validator: Comlink.proxy(validate),
};

export type WorkerApi = typeof api;

Comlink.expose(api);
