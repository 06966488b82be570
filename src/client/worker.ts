// The training worker: owns the GPU device, the model and the inner loop; the main thread talks
// to it through Comlink (RTCPeerConnection does not exist in workers, so networking stays on
// the main thread). Large arrays cross with Comlink.transfer, never by copy.
import * as Comlink from 'comlink';
import { dataUrl, fetchSplit } from '../data/browser.ts';
import type { TokenSplit } from '../data/shards.ts';
import { browserGpuDevice } from '../gpu/browser.ts';
import type { AdapterReport } from '../gpu/device.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { residualForward } from '../kernels/residual.ts';
import { preset, type LlamaConfig } from '../model/config.ts';
import { initParameters } from '../model/init.ts';
import { LlamaModel } from '../model/model.ts';
import { heldOutBatches, roundBatches, type Batch } from '../train/batches.ts';
import { checkpointHash, decodeCheckpoint, encodeCheckpoint, type CheckpointFiles } from '../train/checkpoint.ts';
import { TrainingControl } from '../train/control.ts';
import { InnerLoop, type StepProgress } from '../train/inner-loop.ts';
import { AdamW } from '../train/optimizer.ts';

let runtime: Promise<GpuRuntime> | undefined;

function getRuntime(): Promise<GpuRuntime> {
  runtime ??= browserGpuDevice().then((gpu) => {
    void gpu.lost.then((err) => {
      runtime = undefined;
      console.error(err.message);
    });
    return new GpuRuntime(gpu);
  });
  // A failed start must not poison later attempts (the user may enable WebGPU and retry).
  runtime.catch(() => (runtime = undefined));
  return runtime;
}

export interface SelfTestResult {
  n: number;
  maxAbsError: number;
  ok: boolean;
}

export interface SessionOptions {
  preset: string;
  /** Rows per batch and tokens per row. */
  batch: number;
  seqLen?: number;
  seed?: number;
  /** Run identity for sample assignment (a solo tab uses its own). */
  runId?: string;
  hotkey?: string;
}

export interface SessionInfo {
  config: LlamaConfig;
  parameterCount: number;
  batch: number;
  seqLen: number;
  trainTokens: number;
  modelHash: string;
}

export interface TrainOptions {
  steps: number;
  lr?: number;
  warmup?: number;
  /** Evaluate held-out loss every this many steps (0: never). */
  evalEvery?: number;
}

export type TrainEvent = ({ kind: 'step' } & StepProgress) | { kind: 'heldout'; step: number; loss: number };

export interface CheckpointSummary {
  step: number;
  modelHash: string;
  /** Held-out loss on the fixed evaluation batches, for comparing with another loader. */
  heldOutLoss: number;
  files: CheckpointFiles;
}

/** Everything a tab's training needs, created by init(). */
class Session {
  private readonly control = new TrainingControl();
  private running = false;
  round = 0;

  constructor(
    readonly model: LlamaModel,
    readonly optimizer: AdamW,
    readonly loop: InnerLoop,
    readonly train: TokenSplit,
    readonly heldOut: Batch[],
    readonly opts: Required<SessionOptions>,
  ) {}

  async info(): Promise<SessionInfo> {
    return {
      config: this.model.config,
      parameterCount: this.model.layout.parameterCount,
      batch: this.model.batch,
      seqLen: this.model.seqLen,
      trainTokens: this.train.tokens.length,
      modelHash: checkpointHash(this.model.layout, await this.model.getParameters()),
    };
  }

  async run(o: TrainOptions, onEvent: (e: TrainEvent) => void): Promise<{ cancelled: boolean; steps: number }> {
    if (this.running) throw new Error('training is already running in this tab');
    this.running = true;
    this.control.cancelled = false;
    try {
      const first = this.optimizer.stepCount;
      const schedule = { peak: o.lr ?? 3e-3, warmupSteps: o.warmup ?? Math.min(20, Math.ceil(o.steps / 10)), totalSteps: first + o.steps, minRatio: 0.1 };
      const batches = roundBatches(this.train.tokens, {
        runId: this.opts.runId,
        round: this.round++,
        hotkey: this.opts.hotkey,
        steps: o.steps,
        microBatches: 1,
        rows: this.model.batch,
        seqLen: this.model.seqLen,
      });
      const evalEvery = o.evalEvery ?? 0;
      let done = 0;
      while (done < o.steps) {
        const chunk = evalEvery > 0 ? Math.min(evalEvery, o.steps - done) : o.steps - done;
        const offset = done;
        const r = await this.loop.trainSteps({
          steps: chunk,
          batch: (s) => batches(offset + s, 0),
          schedule,
          control: this.control,
          onStep: (p) => onEvent({ kind: 'step', ...p }),
        });
        done += r.stepsDone;
        if (r.cancelled) return { cancelled: true, steps: done };
        if (evalEvery > 0) onEvent({ kind: 'heldout', step: this.optimizer.stepCount, loss: await this.loop.evaluate(this.heldOut) });
      }
      return { cancelled: false, steps: done };
    } finally {
      this.running = false;
    }
  }

  pause() {
    this.control.pause();
  }
  resume() {
    this.control.resume();
  }
  cancel() {
    this.control.cancel();
  }

  async checkpoint(): Promise<CheckpointSummary> {
    const params = await this.model.getParameters();
    const modelHash = checkpointHash(this.model.layout, params);
    const files = encodeCheckpoint({ config: this.model.config, params, step: this.optimizer.stepCount, optimizer: await this.optimizer.getState(), modelHash });
    return { step: this.optimizer.stepCount, modelHash, heldOutLoss: await this.loop.evaluate(this.heldOut), files };
  }

  async load(files: CheckpointFiles): Promise<SessionInfo> {
    const ckpt = decodeCheckpoint(files);
    if (JSON.stringify(ckpt.config) !== JSON.stringify(this.model.config)) throw new Error('this checkpoint is for a different model shape than the one this tab is training');
    this.model.setParameters(ckpt.params);
    if (ckpt.optimizer) this.optimizer.setState(ckpt.optimizer);
    return this.info();
  }
}

let session: Session | undefined;

function requireSession(): Session {
  if (!session) throw new Error('call init() first');
  return session;
}

const api = {
  /** The adapter this worker's device runs on; throws WebGpuUnavailableError without WebGPU. */
  async adapter(): Promise<AdapterReport & { hasTimestamps: boolean }> {
    const rt = await getRuntime();
    return { ...rt.gpu.adapter, hasTimestamps: rt.gpu.hasTimestamps };
  },

  /** Runs a WGSL kernel on deterministic data and compares it with the CPU result. */
  async selfTest(n = 4099): Promise<SelfTestResult> {
    const rt = await getRuntime();
    const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
    const b = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.7));
    const ga = rt.upload(a);
    const gb = rt.upload(b);
    const out = rt.acquire(n * 4);
    residualForward(rt, out, ga, gb, n);
    const got = await rt.readF32(out, 0, n);
    for (const buf of [ga, gb, out]) rt.release(buf);
    let maxAbsError = 0;
    for (let i = 0; i < n; i++) maxAbsError = Math.max(maxAbsError, Math.abs(got[i]! - Math.fround(a[i]! + b[i]!)));
    return { n, maxAbsError, ok: maxAbsError === 0 };
  },

  /** Builds the model, its optimizer and the data for this tab. */
  async init(options: SessionOptions): Promise<SessionInfo> {
    session?.cancel();
    session?.model.destroy();
    session = undefined;
    const opts: Required<SessionOptions> = { seqLen: 0, seed: 0, runId: 'solo', hotkey: 'this-tab', ...options };
    const config = preset(opts.preset);
    opts.seqLen ||= config.max_position_embeddings;
    const rt = await getRuntime();
    const url = dataUrl(config.vocab_size === 256 ? 'bytes' : 'gpt2');
    const [train, heldout] = await Promise.all([fetchSplit(url, 'train'), fetchSplit(url, 'heldout')]);
    const model = await LlamaModel.create(rt, config, { batch: opts.batch, seqLen: opts.seqLen });
    model.setParameters(initParameters(model.layout, { seed: opts.seed }));
    const optimizer = await AdamW.create(model);
    session = new Session(model, optimizer, new InnerLoop(model, optimizer), train, heldOutBatches(heldout.tokens, 2, opts.batch, opts.seqLen), opts);
    return session.info();
  },

  /** Trains; `onEvent` (a Comlink.proxy) hears every step. Resolves when done or cancelled. */
  train(options: TrainOptions, onEvent: (e: TrainEvent) => void) {
    return requireSession().run(options, onEvent);
  },
  pause: () => requireSession().pause(),
  resume: () => requireSession().resume(),
  cancel: () => requireSession().cancel(),

  /** The current model as checkpoint files (transferred, not copied). */
  async checkpoint(): Promise<CheckpointSummary> {
    const summary = await requireSession().checkpoint();
    return Comlink.transfer(summary, Object.values(summary.files).map((f) => f.buffer as ArrayBuffer));
  },

  loadCheckpoint: (files: CheckpointFiles) => requireSession().load(files),
};

export type WorkerApi = typeof api;

Comlink.expose(api);
