// The inner optimizer: AdamW over a LlamaModel's flat parameter arenas, with moments in the same
// layout, weight decay for 2-D weights only, and global-norm clipping computed on the GPU (no
// readback in the step). Hyperparameters default to the Covenant run's (docs/DESIGN.md).
import { STORAGE_USAGE, type BufferSlice, type GpuRuntime } from '../gpu/runtime.ts';
import { adamw, globalNormSquared, readGradNorm } from '../kernels/adamw.ts';
import type { LlamaModel } from '../model/model.ts';
import {
  allocateParameterBuffers,
  clearParameterBuffers,
  destroyParameterBuffers,
  downloadFlat,
  uploadFlat,
  type ParameterBuffers,
} from '../model/parameters.ts';

export interface AdamWHyperparameters {
  beta1: number;
  beta2: number;
  eps: number;
  /** Applied to 2-D weights; norm gains get none. */
  weightDecay: number;
  /** Clip the global gradient norm to this (Infinity: no clipping). */
  maxGradNorm: number;
}

export const ADAMW_DEFAULTS: Readonly<AdamWHyperparameters> = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1.0 };

/** A run of consecutive tensors of one arena that share a weight decay: one adamw dispatch. */
interface ParameterGroup {
  arena: number;
  /** Floats from the arena's start; the padding inside a run is zero in every buffer and stays zero. */
  start: number;
  floats: number;
  weightDecay: boolean;
}

function parameterGroups(buffers: ParameterBuffers): ParameterGroup[] {
  const groups: ParameterGroup[] = [];
  for (const t of buffers.layout.tensors) {
    const last = groups.at(-1);
    if (last && last.arena === t.arena && last.weightDecay === t.weightDecay) {
      last.floats = t.arenaOffset + t.size - last.start;
    } else {
      groups.push({ arena: t.arena, start: t.arenaOffset, floats: t.size, weightDecay: t.weightDecay });
    }
  }
  return groups;
}

/** The optimizer's state as flat vectors in the model's layout (for checkpoints). */
export interface AdamWState {
  step: number;
  m: Float32Array;
  v: Float32Array;
}

/** AdamW for one model: create it with AdamW.create, which compiles the step's pipelines. */
export class AdamW {
  readonly rt: GpuRuntime;
  readonly hyper: AdamWHyperparameters;
  readonly m: ParameterBuffers;
  readonly v: ParameterBuffers;
  /** Steps taken since creation or reset (bias correction uses it). */
  stepCount = 0;
  private readonly groups: ParameterGroup[];
  private readonly normSquared: GPUBuffer;

  private constructor(
    readonly model: LlamaModel,
    hyper: Partial<AdamWHyperparameters> = {},
  ) {
    const rt = model.rt;
    this.rt = rt;
    this.hyper = { ...ADAMW_DEFAULTS, ...hyper };
    this.m = allocateParameterBuffers(rt, model.layout, 'adam-m');
    this.v = allocateParameterBuffers(rt, model.layout, 'adam-v');
    this.groups = parameterGroups(model.params);
    this.normSquared = rt.device.createBuffer({ label: 'grad-norm-squared', size: 16, usage: STORAGE_USAGE });
    this.reset();
  }

  /** Allocates the moments and compiles every pipeline a step uses (found by recording one, see rt.collectPrograms). */
  static async create(model: LlamaModel, hyper: Partial<AdamWHyperparameters> = {}): Promise<AdamW> {
    const optimizer = new AdamW(model, hyper);
    const { rt } = optimizer;
    await rt.compileAll(rt.collectPrograms(() => optimizer.record(0, 1)));
    return optimizer;
  }

  /** Zeroes both moments and the step count (a fresh optimizer, e.g. at the start of a round). */
  reset(): void {
    clearParameterBuffers(this.rt, this.m);
    clearParameterBuffers(this.rt, this.v);
    this.rt.clear(this.normSquared);
    this.stepCount = 0;
  }

  /** Records one AdamW step at learning rate `lr` from the model's current gradients. */
  step(lr: number): void {
    this.stepCount++;
    this.rt.work('training step', () => this.record(lr, this.stepCount));
  }

  /** Records the dispatches of step number `step` (1-based; bias correction uses it). */
  private record(lr: number, step: number): void {
    const { rt, model, hyper } = this;
    const clip = Number.isFinite(hyper.maxGradNorm);
    // The padding between tensors is zero, so whole arenas give the exact norm in few dispatches.
    globalNormSquared(rt, {
      out: this.normSquared,
      parts: model.grads.arenas.map((grad, i) => ({ grad, n: model.layout.arenaFloats[i]! })),
    });
    for (const g of this.groups) {
      const slice = (buffers: ParameterBuffers): BufferSlice => ({
        buffer: buffers.arenas[g.arena]!,
        offset: g.start * 4,
        size: g.floats * 4,
      });
      adamw(rt, {
        params: slice(model.params),
        grads: slice(model.grads),
        m: slice(this.m),
        v: slice(this.v),
        n: g.floats,
        normSquared: clip ? this.normSquared : undefined,
        lr,
        beta1: hyper.beta1,
        beta2: hyper.beta2,
        eps: hyper.eps,
        weightDecay: g.weightDecay ? hyper.weightDecay : 0,
        step,
        maxNorm: hyper.maxGradNorm,
      });
    }
  }

  async getState(): Promise<AdamWState> {
    return { step: this.stepCount, m: await downloadFlat(this.rt, this.m), v: await downloadFlat(this.rt, this.v) };
  }

  /** Restores moments and step count saved by getState (same layout). */
  setState(state: AdamWState): void {
    if (!Number.isSafeInteger(state.step) || state.step < 0)
      throw new Error(`optimizer state: step must be a non-negative integer, got ${state.step}`);
    uploadFlat(this.rt, this.m, state.m);
    uploadFlat(this.rt, this.v, state.v);
    this.stepCount = state.step;
  }

  /** The global gradient norm (before clipping) of the last step: one 4-byte readback. */
  readGradNorm(): Promise<number> {
    return readGradNorm(this.rt, this.normSquared);
  }

  destroy(): void {
    this.rt.flush();
    destroyParameterBuffers(this.m);
    destroyParameterBuffers(this.v);
    this.normSquared.destroy();
  }
}
