// The global model θ_w and the step every participant takes from it: a round's decision lists
// payloads; each is decoded against H_w, they are aggregated in the listed order, and
// θ_{w+1} = θ_w − lr·aggregate on the CPU in f32, so a peer, a hub and an auditor that apply the
// same decision hold the same bits and the same model hash. No GPU is involved.
import { CodedError } from '../base/errors.ts';
import { bytesToHex } from '../base/hex.ts';
import { modelHashBytes } from '../model/hash.ts';
import { initParameters } from '../model/init.ts';
import type { ParameterLayout } from '../model/layout.ts';
import { aggregateUpdates, type Averaging } from '../sparseloco/aggregate.ts';
import { PayloadDecoder, decodeUpdate, type DecodeOptions } from '../sparseloco/codec.ts';
import { DEFAULT_OUTER_LR, decisionLr, outerStep, type LrScaling } from '../sparseloco/outer.ts';
import type { CompressedUpdate, WireLayout } from '../sparseloco/types.ts';
import { decodeCheckpoint, MODEL_FILE, tensorViews } from '../train/checkpoint.ts';

/** θ_w, flat in its layout, with its model hash. */
export interface GlobalModel {
  theta: Float32Array;
  hash: Uint8Array;
}

/** Thrown when a decision's payloads do not decode against θ_w: the holder is out of sync. */
export class DecisionError extends CodedError<'decision-does-not-apply'> {
  constructor(message: string) {
    super('decision-does-not-apply', message);
  }
}

/** θ_0 of a run: the portable seeded init (src/model/init.ts) and its hash. */
export function initialModel(layout: ParameterLayout, seed: number): GlobalModel {
  return withHash(layout, initParameters(layout, { seed }));
}

/** θ with its model hash computed. */
export function withHash(layout: ParameterLayout, theta: Float32Array): GlobalModel {
  if (theta.length !== layout.totalFloats) throw new RangeError(`the model holds ${theta.length} floats, its layout ${layout.totalFloats}`);
  return { theta, hash: modelHashBytes(layout.tensors, tensorViews(layout, theta)) };
}

export function hashHex(model: GlobalModel): string {
  return bytesToHex(model.hash);
}

/** The outer step's rule besides its learning rate; the defaults are the protocol's, the rest reproduce earlier rules for ablations. */
export interface OuterRule {
  /** How the aggregate averages an index's values (src/sparseloco/aggregate.ts; 'all'). */
  averaging?: Averaging;
  /** How the learning rate grows with the payloads aggregated (src/sparseloco/outer.ts; 'sqrt'). */
  lrScaling?: LrScaling;
}

export interface RoundOrigin {
  runId: string;
  round: number;
}

/** What a contribution to `round` of `runId` computed against `base` must say in its header. */
function contributionOf(base: GlobalModel, origin: RoundOrigin): DecodeOptions {
  return { expect: { runId: origin.runId, round: origin.round, baseModelHash: base.hash } };
}

/** Decodes one payload as a contribution to `round` of `runId` computed against `base`; throws CodecError. */
export function decodeContribution(wire: WireLayout, base: GlobalModel, origin: RoundOrigin, payload: Uint8Array): CompressedUpdate {
  return decodeUpdate(payload, wire, contributionOf(base, origin)).update;
}

/**
 * θ_{w+1} from θ_w and a decision's payloads, in the decision's order. An empty decision returns
 * θ_w itself. A payload that does not decode throws DecisionError; `base` is never modified.
 */
export function applyDecision(
  layout: ParameterLayout,
  wire: WireLayout,
  base: GlobalModel,
  origin: RoundOrigin,
  payloads: readonly Uint8Array[],
  outerLr = DEFAULT_OUTER_LR,
  rule: OuterRule = {},
): GlobalModel {
  const decoder = new PayloadDecoder(wire);
  const updates = payloads.map((bytes, i) => {
    try {
      return decoder.decode(bytes, contributionOf(base, origin)).update;
    } catch (err) {
      throw new DecisionError(
        `payload ${i} of round ${origin.round}'s decision does not apply to model ${bytesToHex(base.hash).slice(0, 16)}…: ${(err as Error).message}`,
      );
    }
  });
  if (updates.length === 0) return base;
  const theta = base.theta.slice();
  const views = tensorViews(layout, theta);
  const aggregate = aggregateUpdates(updates, layout.tensors, rule.averaging);
  const usable = updates.length - aggregate.skippedPeers.length;
  outerStep(views, aggregate.tensors, decisionLr(outerLr, usable, rule.lrScaling));
  return { theta, hash: modelHashBytes(layout.tensors, views) };
}

/** θ from a stored checkpoint object, checked against the model hash it records. */
export function modelFromCheckpoint(layout: ParameterLayout, bytes: Uint8Array): GlobalModel {
  const ckpt = decodeCheckpoint({ [MODEL_FILE]: bytes });
  const model = withHash(layout, ckpt.params);
  if (ckpt.modelHash && ckpt.modelHash !== bytesToHex(model.hash))
    throw new Error(`checkpoint records model hash ${ckpt.modelHash}, its parameters hash to ${bytesToHex(model.hash)}`);
  return model;
}
