// Integrity: the checks a payload passes before the validator spends a GPU second on it. Any
// failure scores the round as missing and keeps the payload out of the gather set; the reason
// goes into the round's decision record. In order, cheapest first:
//   oversized   longer than any valid payload of this model (checked before anything is read)
//   forged      the caller's verifier refuses the signed announcement or session binding
//   malformed   the header does not parse, or the layout differs (CodecError code in `detail`)
//   wrong-run   the header names another run
//   stale       computed for an earlier round (its rounds behind go into the sync score)
//   wrong-round computed for a round that has not started
//   wrong-model computed against a model other than θ_w (rounds behind when it is a recent one)
//   malformed   the body breaks the wire format: counts, index range, duplicates, non-finite or
//               insane quantization (|scale| outside [1e-12, 1e4]), non-canonical bytes
//   non-finite  a decoded value is not finite (the codec already refuses these; checked again
//               because the aggregate must never see one)
// and, once every payload of the round is decoded (round.ts, with `updateNorm` here):
//   norm-outlier its norm is more than maxNormRatio × the median norm of the round's sound payloads
import { bytesToHex } from '../base/hex.ts';
import { decodedNorm } from '../sparseloco/aggregate.ts';
import { CodecError, decodeUpdate, maxPayloadBytes, readPayloadHeader } from '../sparseloco/codec.ts';
import type { CompressedUpdate, WireLayout } from '../sparseloco/types.ts';

export type IntegrityReason =
  | 'oversized'
  | 'forged'
  | 'malformed'
  | 'wrong-run'
  | 'stale'
  | 'wrong-round'
  | 'wrong-model'
  | 'non-finite'
  | 'norm-outlier'
  | 'duplicate';

export interface IntegrityContext {
  wire: WireLayout;
  runId: string;
  round: number;
  /** H_w, 32 bytes: the model every payload of this round must be computed against. */
  baseModelHash: Uint8Array;
  /** Model hashes of recent rounds (hex → round), to tell how far behind a wrong-model payload is. */
  recentModels?: ReadonlyMap<string, number>;
  /** Largest payload accepted (maxPayloadBytes of the wire layout by default). */
  maxBytes?: number;
  /**
   * Checks the signature and session binding of whatever announced the payload; returns null when
   * they hold, else what is wrong. Without it signatures are not checked here (the swarm did).
   */
  verify?: () => string | null;
}

export type IntegrityResult =
  { ok: true; update: CompressedUpdate } | { ok: false; reason: IntegrityReason; detail: string; roundsBehind?: number };

/** Runs every integrity check on one payload. Never throws for a bad payload. */
export function checkIntegrity(payload: Uint8Array, context: IntegrityContext): IntegrityResult {
  const maxBytes = context.maxBytes ?? maxPayloadBytes(context.wire);
  if (payload.length > maxBytes) return { ok: false, reason: 'oversized', detail: `${payload.length} bytes, the limit is ${maxBytes}` };
  const refusal = context.verify?.();
  if (refusal) return { ok: false, reason: 'forged', detail: refusal };

  let header: ReturnType<typeof readPayloadHeader>;
  try {
    header = readPayloadHeader(payload, context.wire);
  } catch (err) {
    if (err instanceof CodecError) return { ok: false, reason: 'malformed', detail: err.message };
    throw err;
  }
  if (header.runId !== context.runId)
    return { ok: false, reason: 'wrong-run', detail: `run '${header.runId}', this is run '${context.runId}'` };
  const baseHex = bytesToHex(header.baseModelHash);
  const baseRound = context.recentModels?.get(baseHex);
  if (header.round < context.round) {
    const roundsBehind = context.round - header.round;
    return { ok: false, reason: 'stale', detail: `a payload for round ${header.round} in round ${context.round}`, roundsBehind };
  }
  if (header.round > context.round)
    return { ok: false, reason: 'wrong-round', detail: `a payload for round ${header.round} in round ${context.round}` };
  if (baseHex !== bytesToHex(context.baseModelHash)) {
    const roundsBehind = baseRound !== undefined && baseRound < context.round ? context.round - baseRound : undefined;
    return {
      ok: false,
      reason: 'wrong-model',
      detail: `computed against model ${baseHex.slice(0, 16)}…${roundsBehind !== undefined ? ` (θ of ${roundsBehind} rounds ago)` : ''}, θ_${context.round} is ${bytesToHex(context.baseModelHash).slice(0, 16)}…`,
      ...(roundsBehind !== undefined ? { roundsBehind } : {}),
    };
  }
  let update: CompressedUpdate;
  try {
    update = decodeUpdate(payload, context.wire, {
      expect: { runId: context.runId, round: context.round, baseModelHash: context.baseModelHash },
    }).update;
  } catch (err) {
    if (err instanceof CodecError) return { ok: false, reason: 'malformed', detail: err.message };
    throw err;
  }
  const badTensor = update.tensors.findIndex((t) => !Number.isFinite(decodedNorm(t)));
  if (badTensor >= 0) return { ok: false, reason: 'non-finite', detail: `tensor ${badTensor} decodes to a non-finite value` };
  return { ok: true, update };
}

/**
 * How much of `later`'s selection `earlier` already made: |A ∩ B| / |A| over every tensor's
 * (chunk, in-chunk index) pairs, A = later's, B = earlier's. Payloads are canonical, so equal
 * updates have equal bytes; a copier who perturbs values or swaps a few indices still shares most
 * of the index set. Both updates must be of one layout (checkIntegrity's output).
 */
export function indexOverlap(later: CompressedUpdate, earlier: CompressedUpdate): number {
  let shared = 0;
  let total = 0;
  later.tensors.forEach((a, t) => {
    const b = earlier.tensors[t]!;
    const k = a.k;
    for (let c = 0; c < a.numChunks; c++) {
      // Both index lists are strictly ascending within a chunk: a merge counts the intersection.
      let i = c * k;
      let j = c * k;
      const endA = i + k;
      const endB = j + k;
      while (i < endA && j < endB) {
        const x = a.indices[i]!;
        const y = b.indices[j]!;
        if (x === y) {
          shared++;
          i++;
          j++;
        } else if (x < y) i++;
        else j++;
      }
    }
    total += a.numChunks * k;
  });
  return total === 0 ? 0 : shared / total;
}

/** ‖update‖₂ over all its tensors' decoded values (float64). */
export function updateNorm(update: CompressedUpdate): number {
  let sumSquares = 0;
  for (const t of update.tensors) sumSquares += decodedNorm(t) ** 2;
  return Math.sqrt(sumSquares);
}
