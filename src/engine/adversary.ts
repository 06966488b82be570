// Adversarial peers for tests and demos: each behaviour is a transformation of what an honest
// peer would send (or of nothing, for those that skip training), producing the bytes a cheater
// would put on the wire. Every valid-looking payload is re-encoded canonically (compressTensor +
// encodeUpdate), so only the Gauntlet's scoring, not the codec, can tell it from an honest one;
// the malformed ones are written byte by byte, since the encoder refuses to produce them.
//
//   honest     the peer's own contribution, unchanged
//   nan        the honest payload with a NaN written over a quantization float (the decoder refuses it)
//   scaled     the honest update × SCALED_FACTOR (aggregation clips it to the median norm; alone it overshoots)
//   signflip   the honest update negated
//   noise      no training: Gaussian noise of a pseudo-gradient's size
//   copycat    no training: another peer's payload of the round with values jittered and a tenth of
//              its indices moved, uploaded after it
//   stale      trains, but sends its previous round's payload (nothing in its first round)
//   forged     its honest payload announced as another peer's (the signature cannot verify)
//   oversized  the honest payload padded past the largest valid payload of the model
//   lazy       no training: zeros in even rounds, a tiny random update in odd ones
import { chunkGeometry } from '../sparseloco/chunking.ts';
import { HEADER_FIXED_BYTES, decodeUpdate, encodeUpdate, maxPayloadBytes, type PayloadOrigin } from '../sparseloco/codec.ts';
import { compressTensor, decompressTensor } from '../sparseloco/compress.ts';
import type { CompressedUpdate, TensorSpecs, WireLayout } from '../sparseloco/types.ts';

export const BEHAVIORS = ['honest', 'nan', 'scaled', 'signflip', 'noise', 'copycat', 'stale', 'forged', 'oversized', 'lazy'] as const;
export type Behavior = (typeof BEHAVIORS)[number];

/** The factor a `scaled` peer multiplies its update by. */
export const SCALED_FACTOR = 100;
/** Standard deviation of a `noise` peer's dense update (a pseudo-gradient's order of magnitude on the tiny preset). */
const NOISE_STD = 1e-2;
/** Standard deviation of a `lazy` peer's tiny update in odd rounds. */
const LAZY_STD = 1e-6;
/** Fraction of a copied payload's indices a `copycat` moves elsewhere. */
const COPYCAT_MOVED = 0.1;

/** Parses a comma-separated list of behaviours ('nan,scaled,copycat'). */
export function parseBehaviors(list: string): Behavior[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      if (!(BEHAVIORS as readonly string[]).includes(s))
        throw new RangeError(`unknown behaviour '${s}': choose from ${BEHAVIORS.join(', ')}`);
      return s as Behavior;
    });
}

/** Whether a peer with this behaviour trains (the others send without spending a GPU step). */
export function trains(behavior: Behavior): boolean {
  return behavior !== 'noise' && behavior !== 'copycat' && behavior !== 'lazy';
}

/** mulberry32 + Box-Muller: a small seeded generator, so a simulation is repeatable. */
export function gaussianSource(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => {
    const u = Math.max(uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
}

/** Compresses a dense per-tensor update as the honest compressor would (one round, no carried error). */
export function compressDense(tensors: readonly Float32Array[], layout: TensorSpecs): CompressedUpdate {
  return { tensors: layout.map((spec, t) => compressTensor(tensors[t]!.slice(), null, 1, spec.shape)) };
}

function decompress(update: CompressedUpdate, layout: TensorSpecs): Float32Array[] {
  return layout.map((spec, t) => decompressTensor(update.tensors[t]!, spec.shape));
}

export interface AdversaryContext {
  origin: PayloadOrigin;
  wire: WireLayout;
  layout: TensorSpecs;
  /** This peer's honest contribution this round (null when it did not train, or had nothing). */
  honest: { payload: Uint8Array; update: CompressedUpdate } | null;
  /** The payload this peer sent last round (for `stale`). */
  previous: Uint8Array | null;
  /** Payloads other peers uploaded earlier this round, in upload order (for `copycat`). */
  earlier: readonly Uint8Array[];
  /** Seed of this peer's randomness this round. */
  seed: number;
}

/**
 * The bytes a peer with `behavior` sends this round, or null when it sends nothing. (`forged`
 * returns its honest payload: the forgery is in the announcement, which the caller makes.)
 */
export function adversarialPayload(behavior: Behavior, ctx: AdversaryContext): Uint8Array | null {
  const { origin, wire, layout } = ctx;
  const encode = (update: CompressedUpdate) => encodeUpdate(origin, update, wire);
  const gaussian = gaussianSource(ctx.seed);
  switch (behavior) {
    case 'honest':
    case 'forged':
      return ctx.honest?.payload ?? null;
    case 'stale':
      return ctx.previous;
    case 'nan': {
      if (!ctx.honest) return null;
      // The first tensor's shift is the f32 right after its geometry and Rice parameter.
      const bytes = ctx.honest.payload.slice();
      const runIdBytes = bytes[HEADER_FIXED_BYTES - 1]!;
      new DataView(bytes.buffer).setUint32(HEADER_FIXED_BYTES + runIdBytes + 12, 0x7fc00000, true);
      return bytes;
    }
    case 'oversized': {
      if (!ctx.honest) return null;
      const bytes = new Uint8Array(maxPayloadBytes(wire) + 1);
      bytes.set(ctx.honest.payload);
      return bytes;
    }
    case 'scaled':
    case 'signflip': {
      if (!ctx.honest) return null;
      const factor = behavior === 'scaled' ? SCALED_FACTOR : -1;
      return encode(
        compressDense(
          decompress(ctx.honest.update, layout).map((t) => t.map((v) => v * factor)),
          layout,
        ),
      );
    }
    case 'noise':
      return encode(
        compressDense(
          layout.map((spec) => Float32Array.from({ length: elementCountOf(spec.shape) }, () => NOISE_STD * gaussian())),
          layout,
        ),
      );
    case 'lazy': {
      const std = origin.round % 2 === 0 ? 0 : LAZY_STD;
      return encode(
        compressDense(
          layout.map((spec) => Float32Array.from({ length: elementCountOf(spec.shape) }, () => std * gaussian())),
          layout,
        ),
      );
    }
    case 'copycat': {
      const victim = ctx.earlier[0];
      if (!victim) return null;
      const update = decodeUpdate(victim, wire).update;
      const uniform = () => 0.5 + 0.5 * Math.tanh(gaussian()); // in (0, 1), enough for picking
      const dense = layout.map((spec, t) => {
        const values = decompressTensor(update.tensors[t]!, spec.shape);
        const g = chunkGeometry(spec.shape);
        const out = new Float32Array(values.length);
        for (let i = 0; i < values.length; i++) {
          if (values[i] === 0) continue;
          // Jitter the value; now and then move it to a random element instead.
          const jittered = values[i]! * (1 + 0.05 * gaussian());
          const target = uniform() < COPYCAT_MOVED ? Math.min(values.length - 1, Math.floor(uniform() * g.rows * g.cols)) : i;
          out[target] = jittered;
        }
        return out;
      });
      return encode(compressDense(dense, layout));
    }
  }
}

function elementCountOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
