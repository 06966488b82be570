// One peer's error-feedback state on the CPU and its round rule. What compression has not yet
// transmitted carries over, decayed, into the next round: e ← β·e + Δ; payload = compress(e);
// e ← e − decompress(payload) (the arithmetic is compress.ts's `compressLayout`, which the GPU
// compressor reproduces bit for bit). For its first rounds after joining a peer sends nothing and
// keeps e = 0 ("null rounds", as in the Covenant run): its first pseudo-gradients are computed
// while it is still settling in, and must reach neither the model nor its error buffer.
import { ERROR_FEEDBACK_BETA, compressLayout } from './compress.ts';
import { elementCount } from '../model/hash.ts';
import type { CompressedUpdate, TensorSpec, TensorSpecs } from './types.ts';

export const DEFAULT_NULL_ROUNDS = 2;

/**
 * The null-round rule, for every error-feedback store (this CPU one and the GPU one in
 * src/engine): in its first `nullRounds` rounds from `joinedRound` a peer sends nothing and keeps e = 0.
 */
export function isNullRound(round: number, joinedRound: number, nullRounds: number): boolean {
  return round < joinedRound + nullRounds;
}

export interface ErrorFeedbackOptions {
  /** Decay β of the carried error (0.95). */
  beta?: number;
  /** Rounds after joining in which nothing is sent and e stays 0 (2). */
  nullRounds?: number;
}

/** A tensor at an offset (in floats) of a flat vector; the model's `ParameterTensor` fits. */
export interface FlatTensor extends TensorSpec {
  offset: number;
}

/** Tensors back to back in layout order, for callers without the model's aligned flat layout. */
export function packedSlots(layout: TensorSpecs): { tensors: FlatTensor[]; flatLength: number } {
  let flatLength = 0;
  const tensors = layout.map(({ name, shape }) => {
    const tensor = { name, shape, offset: flatLength };
    flatLength += elementCount(shape);
    return tensor;
  });
  return { tensors, flatLength };
}

export class ErrorFeedback {
  /** e, laid out like the parameters: `tensors[t]` at its offset, padding kept at 0. */
  readonly error: Float32Array;
  readonly beta: number;
  readonly nullRounds: number;

  /**
   * `tensors` and `flatLength` describe the flat vector e and the pseudo-gradient share: the
   * model's `parameterLayout(config).tensors` and `.totalFloats`, or `packedSlots(layout)`.
   */
  constructor(
    readonly tensors: readonly FlatTensor[],
    flatLength: number,
    /** The first round this peer takes part in. */
    readonly joinedRound: number,
    options: ErrorFeedbackOptions = {},
  ) {
    this.beta = options.beta ?? ERROR_FEEDBACK_BETA;
    this.nullRounds = options.nullRounds ?? DEFAULT_NULL_ROUNDS;
    if (!(this.beta >= 0 && this.beta <= 1)) throw new RangeError(`ErrorFeedback: beta ${this.beta} must be in [0, 1]`);
    if (!Number.isInteger(this.nullRounds) || this.nullRounds < 0)
      throw new RangeError(`ErrorFeedback: nullRounds ${this.nullRounds} must be a non-negative integer`);
    for (const { name, shape, offset } of tensors) {
      if (!Number.isInteger(offset) || offset < 0 || offset + elementCount(shape) > flatLength) {
        throw new RangeError(`ErrorFeedback: tensor '${name}' at offset ${offset} runs past the flat length ${flatLength}`);
      }
    }
    this.error = new Float32Array(flatLength);
  }

  /** e of tensor t (a view). */
  tensorError(t: number): Float32Array {
    const { shape, offset } = this.tensors[t]!;
    return this.error.subarray(offset, offset + elementCount(shape));
  }

  /** True in the first `nullRounds` rounds after joining: send nothing, keep e = 0. */
  isNullRound(round: number): boolean {
    return isNullRound(round, this.joinedRound, this.nullRounds);
  }

  /**
   * One round of error feedback with this round's pseudo-gradient Δ (flat, laid out like e).
   * Returns the update to send, or null in a null round (e is reset to 0 and nothing is sent).
   * A tensor whose error went non-finite comes back "poisoned" (NaN quantization parameters):
   * the encoder refuses it, and the peer should reset its state and resync.
   */
  compress(round: number, pseudoGradient: Float32Array): CompressedUpdate | null {
    if (pseudoGradient.length !== this.error.length) {
      throw new RangeError(
        `ErrorFeedback: pseudo-gradient holds ${pseudoGradient.length} values, the flat layout ${this.error.length}; pass it laid out like the parameters`,
      );
    }
    if (this.isNullRound(round)) {
      this.error.fill(0);
      return null;
    }
    return compressLayout(this.error, pseudoGradient, this.beta, this.tensors);
  }

  /** Forgets all carried error (after a resync). */
  reset(): void {
    this.error.fill(0);
  }
}
