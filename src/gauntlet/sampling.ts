// Which peers a round evaluates (at most `maxEvaluated`, 20, since each costs forward passes on
// the GPU; of them at most `maxNewcomers`, 10, on probation), and which sequences it evaluates them on. Both are functions of public data and the
// round's evaluation seed, which the decision record reveals after the round, so an auditor
// replays the same choice. The seed is secret until then: a peer that knew the random sequences
// in advance could train on them.
import { blake3 } from '../base/blake3.ts';
import { bytesToHex } from '../base/hex.ts';
import { samples, seededWindowStarts } from '../data/samples.ts';
import type { GauntletConfig } from './config.ts';
import { ordinalOf, type GauntletState } from './standings.ts';

const utf8 = new TextEncoder();

/** The round's evaluation seed, 64 hex digits: blake3(validator secret ‖ run id ‖ round). */
export function evaluationSeed(secret: string, runId: string, round: number): string {
  return bytesToHex(blake3(utf8.encode(`webloco/gauntlet/v1\u0000${secret}\u0000${runId}\u0000${round}`)));
}

function tieBreak(seed: string, hotkey: string): string {
  return bytesToHex(blake3(utf8.encode(`${seed}\u0000${hotkey}`)));
}

/**
 * Up to `limit` (default `maxEvaluated`) of `candidates`: sorted by OpenSkill ordinal into `evaluationBins` bins of
 * (nearly) equal size, then taken round robin across the bins, best bin first, each bin yielding
 * the peer it has looked at least recently (never evaluated first), ties by a seeded hash. So
 * every part of the ranking is looked at every round and nobody waits long.
 */
export function chooseForEvaluation(
  candidates: readonly string[],
  state: GauntletState,
  seed: string,
  config: GauntletConfig,
  limit = config.maxEvaluated,
): string[] {
  const unique = [...new Set(candidates)].sort();
  if (unique.length <= limit) return unique;
  const ordinalOfPeer = (h: string) => (state.peers[h] ? ordinalOf(state.peers[h]) : 0);
  const byOrdinal = [...unique].sort((a, b) => ordinalOfPeer(b) - ordinalOfPeer(a) || (a < b ? -1 : 1));
  const binCount = Math.min(config.evaluationBins, byOrdinal.length);
  const bins = Array.from({ length: binCount }, (_, b) => {
    const bin = byOrdinal.slice(Math.floor((b * byOrdinal.length) / binCount), Math.floor(((b + 1) * byOrdinal.length) / binCount));
    const lastLook = (h: string) => state.peers[h]?.lastEvaluated ?? -1;
    return bin.sort((a, b2) => lastLook(a) - lastLook(b2) || (tieBreak(seed, a) < tieBreak(seed, b2) ? -1 : 1));
  });
  const chosen: string[] = [];
  for (let i = 0; chosen.length < limit; i++) {
    for (const bin of bins) {
      if (i < bin.length && chosen.length < limit) chosen.push(bin[i]!);
    }
  }
  return chosen.sort();
}

/**
 * Up to `limit` of the peers on probation: never evaluated first, then the one evaluated longest
 * ago; then the one waiting since the earliest round; ties by a seeded hash. A wave of fresh hotkeys
 * therefore queues behind the peers already waiting, and one that failed waits behind every peer
 * not yet looked at.
 */
export function chooseOnProbation(candidates: readonly string[], state: GauntletState, seed: string, limit: number): string[] {
  const waitingSince = (h: string) => {
    const first = state.peers[h]?.firstSeen ?? -1;
    return first < 0 ? state.round : first;
  };
  const lastLook = (h: string) => state.peers[h]?.lastEvaluated ?? -1;
  return [...new Set(candidates)]
    .sort((a, b) => lastLook(a) - lastLook(b) || waitingSince(a) - waitingSince(b) || (tieBreak(seed, a) < tieBreak(seed, b) ? -1 : 1))
    .slice(0, limit)
    .sort();
}

/** Window starts of the peer's own assigned samples: the first `n` it trained on (samples() is a prefix-stable stream). */
export function assignedWindows(runId: string, round: number, hotkey: string, n: number, seqLen: number, trainTokens: number): number[] {
  return samples(runId, round, hotkey, n, seqLen, trainTokens);
}

/** The round's random train windows, one set for every peer evaluated in the round. */
export function randomWindows(seed: string, n: number, seqLen: number, trainTokens: number): number[] {
  return seededWindowStarts(blake3(utf8.encode(`webloco/gauntlet/random/v1\u0000${seed}`)), n, seqLen, trainTokens);
}
