// A peer's error-feedback store and compressor, behind one interface with two homes: on the GPU
// (the worker's and every peer's default: e never leaves the GPU, only the selected entries come
// back) and on the CPU (src/sparseloco/error-feedback.ts; bit-identical, used to cross-check).
// Both follow the one null-round rule in src/sparseloco/error-feedback.ts.
import { STORAGE_USAGE, type GpuRuntime } from '../gpu/runtime.ts';
import { arenaGroups, compressBatchOnGpu } from '../sparseloco/gpu-compress.ts';
import type { ParameterLayout } from '../model/layout.ts';
import { ERROR_FEEDBACK_BETA } from '../sparseloco/compress.ts';
import { DEFAULT_NULL_ROUNDS, ErrorFeedback, isNullRound } from '../sparseloco/error-feedback.ts';
import type { CompressedUpdate } from '../sparseloco/types.ts';

export type CompressorKind = 'gpu' | 'cpu';

export interface ErrorFeedbackOptions {
  /** 'gpu' (default) or 'cpu'. */
  kind?: CompressorKind;
  /** Decay β (0.95). */
  beta?: number;
  /** Rounds from `joinedRound` in which nothing is sent and e stays 0 (2). */
  nullRounds?: number;
  /**
   * The first round this peer takes part in. Default: the first round it compresses for, except
   * that a peer whose first round is the run's first (0) starts with the run and has no null rounds.
   */
  joinedRound?: number;
}

/** The null-round rule; without a joined round, the first round seen fixes it (none when that is round 0). */
function nullRoundRule(nullRounds: number, joinedRound: number | undefined): (round: number) => boolean {
  if (joinedRound !== undefined) return (round) => isNullRound(round, joinedRound, nullRounds);
  let joined: number | undefined;
  return (round) => {
    joined ??= round;
    return joined > 0 && isNullRound(round, joined, nullRounds);
  };
}

/** e ← β·e + Δ; payload = compress(e); e ← e − decompress(payload). */
export interface ErrorFeedbackCompressor {
  readonly kind: CompressorKind;
  /** The update to send in `round`, or null in a null round (e is then reset to 0). */
  compress(round: number, pseudoGradient: Float32Array): Promise<CompressedUpdate | null>;
  /** Forgets all carried error (after a resync). */
  reset(): void;
  /** e, in layout order (what a tab saves to resume after a reload). */
  state(): Promise<Float32Array>;
  /** Sets e from `state()`'s output; the next compress carries it on. */
  setState(e: Float32Array): void;
  destroy(): void;
}

export function createErrorFeedback(rt: GpuRuntime, layout: ParameterLayout, options: ErrorFeedbackOptions = {}): ErrorFeedbackCompressor {
  const kind = options.kind ?? 'gpu';
  if (kind !== 'gpu' && kind !== 'cpu') throw new RangeError(`the compressor runs on 'gpu' or 'cpu', not '${String(kind)}'`);
  const beta = options.beta ?? ERROR_FEEDBACK_BETA;
  const nullRounds = options.nullRounds ?? DEFAULT_NULL_ROUNDS;
  const isNull = nullRoundRule(nullRounds, options.joinedRound);
  if (kind === 'cpu') {
    // The rule above decides null rounds; the CPU store itself is given none.
    const feedback = new ErrorFeedback(layout.tensors, layout.totalFloats, 0, { beta, nullRounds: 0 });
    return {
      kind,
      compress: async (round, pseudoGradient) => {
        if (isNull(round)) {
          feedback.reset();
          return null;
        }
        return feedback.compress(round, pseudoGradient);
      },
      reset: () => feedback.reset(),
      state: async () => feedback.error.slice(),
      setState: (e) => {
        checkLength(e, layout.totalFloats);
        feedback.error.set(e);
      },
      destroy() {},
    };
  }
  return new GpuErrorFeedback(rt, layout, beta, isNull);
}

/**
 * e lives on the GPU in buffers shaped like the parameter arenas; Δ is uploaded into scratch
 * arenas of the same shape; compressBatchOnGpu does the whole layout in one submit.
 */
class GpuErrorFeedback implements ErrorFeedbackCompressor {
  readonly kind = 'gpu';
  private readonly errors: GPUBuffer[];
  private readonly deltas: GPUBuffer[];
  private readonly groups: ReturnType<typeof arenaGroups>;

  constructor(
    private readonly rt: GpuRuntime,
    private readonly layout: ParameterLayout,
    private readonly beta: number,
    private readonly isNull: (round: number) => boolean,
  ) {
    if (!(beta >= 0 && beta <= 1)) throw new RangeError(`error feedback: beta ${beta} must be in [0, 1]`);
    // WebGPU zero-fills new buffers, so e starts at 0.
    const arena = (floats: number, label: string) => rt.device.createBuffer({ label, size: Math.max(floats, 4) * 4, usage: STORAGE_USAGE });
    this.errors = layout.arenaFloats.map((floats, i) => arena(floats, `error-feedback-${i}`));
    this.deltas = layout.arenaFloats.map((floats, i) => arena(floats, `pseudo-gradient-${i}`));
    this.groups = arenaGroups(layout.tensors, this.errors, this.deltas, rt.limits.maxStorageBufferBindingSize);
  }

  async compress(round: number, pseudoGradient: Float32Array): Promise<CompressedUpdate | null> {
    if (pseudoGradient.length !== this.layout.totalFloats) {
      throw new RangeError(
        `error feedback: the pseudo-gradient holds ${pseudoGradient.length} values, the layout ${this.layout.totalFloats}`,
      );
    }
    if (this.isNull(round)) {
      this.reset();
      return null;
    }
    this.layout.arenaFloats.forEach((floats, i) => {
      const start = this.layout.arenaStart[i]!;
      this.rt.write(this.deltas[i]!, pseudoGradient.subarray(start, start + floats));
    });
    return { tensors: await compressBatchOnGpu(this.rt, { beta: this.beta, groups: this.groups }) };
  }

  reset(): void {
    for (const e of this.errors) this.rt.clear(e);
  }

  async state(): Promise<Float32Array> {
    const e = new Float32Array(this.layout.totalFloats);
    for (const [i, floats] of this.layout.arenaFloats.entries()) {
      if (floats > 0) e.set(await this.rt.readF32(this.errors[i]!, 0, floats), this.layout.arenaStart[i]);
    }
    return e;
  }

  setState(e: Float32Array): void {
    checkLength(e, this.layout.totalFloats);
    this.layout.arenaFloats.forEach((floats, i) => {
      const start = this.layout.arenaStart[i]!;
      this.rt.write(this.errors[i]!, e.subarray(start, start + floats));
    });
  }

  destroy(): void {
    this.rt.flush();
    for (const b of [...this.errors, ...this.deltas]) b.destroy();
  }
}

function checkLength(e: Float32Array, floats: number): void {
  if (e.length !== floats) throw new RangeError(`error feedback: a saved state holds ${e.length} values, this model's layout ${floats}`);
}
