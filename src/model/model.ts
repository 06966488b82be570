// LlamaModel: parameters, gradients and activations of one model on one GpuRuntime, for a fixed
// batch shape, with the forward and backward passes of forward.ts / backward.ts.
import type { GpuRuntime, Program } from '../gpu/runtime.ts';
import { buildTokenIndex, type TokenIndex } from '../kernels/embedding.ts';
import { allocateActivations, destroyActivations, type ActivationShape, type Activations } from './activations.ts';
import { llamaBackward } from './backward.ts';
import { validateConfig, type LlamaConfig } from './config.ts';
import { llamaForward, type ModelTensors } from './forward.ts';
import { parameterLayout, type ParameterLayout } from './layout.ts';
import { allocateHalfTensors, destroyHalfTensors, type HalfTensors } from './precision.ts';
import {
  allocateParameterBuffers,
  clearParameterBuffers,
  destroyParameterBuffers,
  downloadFlat,
  uploadFlat,
  type ParameterBuffers,
} from './parameters.ts';

/** Which path a model's matmuls take; absent fields follow the runtime. */
export interface ModelPrecision {
  f16?: boolean;
}

export class LlamaModel {
  readonly layout: ParameterLayout;
  readonly params: ParameterBuffers;
  readonly grads: ParameterBuffers;
  readonly acts: Activations;
  /** Half copies for the f16 path (rt.f16), else null. */
  readonly half: HalfTensors | null;
  private readonly tensors: ModelTensors;
  /** The token index of the last forward with gradient, consumed by backward. */
  private pendingIndex: TokenIndex | null = null;

  private constructor(
    readonly rt: GpuRuntime,
    readonly config: LlamaConfig,
    shape: ActivationShape,
    precision: ModelPrecision,
  ) {
    validateConfig(config);
    this.layout = parameterLayout(config, rt.limits);
    this.params = allocateParameterBuffers(rt, this.layout, 'params');
    this.grads = allocateParameterBuffers(rt, this.layout, 'grads');
    this.acts = allocateActivations(rt, config, shape);
    this.half = (precision.f16 ?? rt.f16) ? allocateHalfTensors(rt, config, this.params.weights, this.acts) : null;
    this.tensors = { config, params: this.params.weights, grads: this.grads.weights, acts: this.acts, half: this.half };
    clearParameterBuffers(rt, this.params);
    clearParameterBuffers(rt, this.grads);
  }

  /**
   * Allocates everything for batches of [batch, seqLen] and compiles every pipeline it uses. The
   * f16 path follows the runtime (rt.f16) unless `precision` says otherwise.
   */
  static async create(rt: GpuRuntime, config: LlamaConfig, shape: ActivationShape, precision: ModelPrecision = {}): Promise<LlamaModel> {
    const model = new LlamaModel(rt, config, shape, precision);
    await rt.compileAll(model.programs());
    return model;
  }

  /**
   * Every pipeline a training step and an evaluation use: the two themselves, run on a batch of
   * token 0 with the dispatches only noted (rt.collectPrograms). Their writes, copies and clears
   * do happen, so this belongs before the first real batch.
   */
  private programs(): Program[] {
    const zeros = new Uint32Array(this.acts.T);
    return this.rt.collectPrograms(() => {
      this.step(zeros, zeros);
      this.forward(zeros, zeros, false);
    });
  }

  get batch(): number {
    return this.acts.B;
  }

  get seqLen(): number {
    return this.acts.S;
  }

  /** Sets every parameter from a flat vector in the layout's order (layout.totalFloats long). */
  setParameters(flat: Float32Array): void {
    uploadFlat(this.rt, this.params, flat);
  }

  getParameters(): Promise<Float32Array> {
    return downloadFlat(this.rt, this.params);
  }

  zeroGrad(): void {
    clearParameterBuffers(this.rt, this.grads);
  }

  /**
   * Records the forward pass on `tokens` and `targets` ([batch·seqLen] ids each, row-major).
   * With `withGradient` (the default) it also starts the backward (the fused head), so that
   * `backward()` can follow; the loss is read with readLoss(). Gradients are of
   * gradScale·Σ losses, 1/(batch·seqLen) by default (the mean); pass 1/(tokens of all
   * micro-batches) to accumulate several batches into one step.
   */
  forward(tokens: Uint32Array | Int32Array, targets: Uint32Array | Int32Array, withGradient = true, gradScale = 1 / this.acts.T): void {
    const { T } = this.acts;
    const V = this.config.vocab_size;
    if (tokens.length !== T || targets.length !== T) {
      throw new Error(
        `forward: expected ${T} tokens and targets (batch ${this.batch} × seqLen ${this.seqLen}), got ${tokens.length} and ${targets.length}`,
      );
    }
    for (let t = 0; t < T; t++) {
      if (!(targets[t]! >= 0 && targets[t]! < V))
        throw new Error(`forward: target ${t} is ${targets[t]}, outside the vocabulary [0, ${V})`);
    }
    this.pendingIndex?.release(this.rt);
    // Built first: it also checks that every token id is inside the vocabulary.
    const index = buildTokenIndex(this.rt, tokens, V);
    this.rt.write(this.acts.tokens.buffer, new Uint32Array(tokens.buffer, tokens.byteOffset, T), this.acts.tokens.offset);
    this.rt.write(this.acts.targets.buffer, new Uint32Array(targets.buffer, targets.byteOffset, T), this.acts.targets.offset);
    if (!Number.isFinite(gradScale)) throw new Error(`forward: gradScale must be a finite number, got ${gradScale}`);
    // Without a gradient it is an evaluation: timed and cut apart from a training step's work.
    this.rt.work(withGradient ? 'training step' : 'evaluate', () => llamaForward(this.rt, this.tensors, withGradient ? gradScale : null));
    if (withGradient) {
      this.pendingIndex = index;
    } else {
      index.release(this.rt);
      this.pendingIndex = null;
    }
  }

  /** Records the backward pass of the last forward (which must have been run with gradient). */
  backward(): void {
    if (!this.pendingIndex) throw new Error('backward: call forward(tokens, targets) with gradient first');
    const index = this.pendingIndex;
    this.rt.work('training step', () => llamaBackward(this.rt, this.tensors, index));
    this.pendingIndex.release(this.rt);
    this.pendingIndex = null;
  }

  /** One training step's gradient: zeroGrad, forward, backward (recorded; read the results when needed). */
  step(tokens: Uint32Array | Int32Array, targets: Uint32Array | Int32Array): void {
    this.zeroGrad();
    this.forward(tokens, targets, true);
    this.backward();
  }

  /** Mean cross-entropy of the last forward. */
  async readLoss(): Promise<number> {
    const { meanLoss } = this.acts;
    return (await this.rt.readF32(meanLoss.buffer, meanLoss.offset / 4, 1))[0]!;
  }

  /** Per-token losses [batch·seqLen] of the last forward. */
  readLosses(): Promise<Float32Array> {
    const { losses } = this.acts;
    return this.rt.readF32(losses.buffer, losses.offset / 4, this.acts.T);
  }

  /** Gradients as a flat vector in the layout's order. */
  readGradients(): Promise<Float32Array> {
    return downloadFlat(this.rt, this.grads);
  }

  destroy(): void {
    this.rt.flush();
    this.pendingIndex?.release(this.rt);
    this.pendingIndex = null;
    destroyParameterBuffers(this.params);
    destroyParameterBuffers(this.grads);
    destroyActivations(this.acts);
    if (this.half) destroyHalfTensors(this.half);
  }
}
