// Which training windows a peer trains on in a round, recomputable by anyone (the validator
// checks that a peer's update helps on *its* windows). Everything is integer arithmetic over
// blake3 output: no Math.random, no floats, so Node and every browser pick the same windows.
//
// Rule (version 1):
//   seed   = blake3( "webloco/samples/v1" ‖ field(runId) ‖ u64le(round) ‖ field(hotkey) ),
//            field(s) = u32le(byte length of utf8(s)) ‖ utf8(s)
//   stream = blake3(seed ‖ u32le(0)) ‖ blake3(seed ‖ u32le(1)) ‖ ...  read as u32le words
//   window i starts at the i-th word w with w < 2^32 − (2^32 mod R), taken mod R,
//            where R = tokenCount − seqLen (the number of possible starts)
//   window = tokens[start .. start + seqLen]  (seqLen + 1 tokens: inputs and shifted targets)
// Windows are drawn with replacement from the whole train stream and may overlap or cross a
// document boundary, as in ordinary LM pre-training.
import { blake3 } from '../base/blake3.ts';

const utf8 = new TextEncoder();
const SAMPLES_DOMAIN = 'webloco/samples/v1';
const HELD_OUT_DOMAIN = 'webloco/heldout/v1';

function field(text: string): Uint8Array {
  const bytes = utf8.encode(text);
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length, true);
  out.set(bytes, 4);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The 32-byte seed of (runId, round, hotkey). */
export function sampleSeed(runId: string, round: number, hotkey: string): Uint8Array {
  if (!Number.isSafeInteger(round) || round < 0) throw new Error(`round must be a non-negative integer, got ${round}`);
  const roundBytes = new Uint8Array(8);
  new DataView(roundBytes.buffer).setBigUint64(0, BigInt(round), true);
  return blake3(concat([utf8.encode(SAMPLES_DOMAIN), field(runId), roundBytes, field(hotkey)]));
}

/** `n` window starts in [0, tokenCount − seqLen), uniform and independent, from `seed`. */
export function seededWindowStarts(seed: Uint8Array, n: number, seqLen: number, tokenCount: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`the number of windows must be a non-negative integer, got ${n}`);
  if (!Number.isSafeInteger(seqLen) || seqLen < 1) throw new Error(`seqLen must be a positive integer, got ${seqLen}`);
  const range = tokenCount - seqLen;
  if (!Number.isSafeInteger(tokenCount) || range < 1) {
    throw new Error(
      `a window of seqLen + 1 = ${seqLen + 1} tokens does not fit in a split of ${tokenCount} tokens: use a shorter seqLen or more data`,
    );
  }
  if (range > 2 ** 32) throw new Error(`a split of ${tokenCount} tokens is larger than the sampler's 2^32 range`);
  // Rejection keeps every start equally likely: words at or above `limit` would favour small starts.
  const limit = 2 ** 32 - (2 ** 32 % range);
  const block = new Uint8Array(seed.length + 4);
  block.set(seed);
  const counterView = new DataView(block.buffer, seed.length, 4);
  const starts: number[] = [];
  for (let counter = 0; starts.length < n; counter++) {
    counterView.setUint32(0, counter, true);
    const digest = blake3(block);
    const words = new DataView(digest.buffer, digest.byteOffset, digest.byteLength);
    for (let w = 0; w < 8 && starts.length < n; w++) {
      const word = words.getUint32(w * 4, true);
      if (word < limit) starts.push(word % range);
    }
  }
  return starts;
}

/**
 * The windows assigned to `hotkey` in `round` of `runId`: `n` starts into the train split,
 * whose token count is `trainTokens` (the manifest's `splits.train.tokens`).
 */
export function samples(runId: string, round: number, hotkey: string, n: number, seqLen: number, trainTokens: number): number[] {
  return seededWindowStarts(sampleSeed(runId, round, hotkey), n, seqLen, trainTokens);
}

/** Fixed evaluation windows into the held-out split: the same for every peer, run and round. */
export function heldOutWindows(n: number, seqLen: number, heldOutTokens: number): number[] {
  return seededWindowStarts(blake3(utf8.encode(HELD_OUT_DOMAIN)), n, seqLen, heldOutTokens);
}

/** The windows' tokens, `starts.length` rows of seqLen + 1, as u32 (the kernels' token type). */
export function gatherWindows(tokens: Uint16Array, starts: readonly number[], seqLen: number): Uint32Array {
  const width = seqLen + 1;
  const out = new Uint32Array(starts.length * width);
  starts.forEach((start, row) => {
    if (!Number.isInteger(start) || start < 0 || start + width > tokens.length) {
      throw new Error(
        `window ${row} [${start}, ${start + width}) is outside the ${tokens.length}-token split: were the starts drawn for another split?`,
      );
    }
    out.set(tokens.subarray(start, start + width), row * width);
  });
  return out;
}
