// What a hub keeps, and what it lets go (docs/PROTOCOL.md, "Retention"): the objects a stranger can
// make it store are bounded per round (payload-copier.ts), and this bounds them in time. With K =
// `retainRounds`, the hub keeps everything that rebuilding and auditing any of the latest K rounds
// needs, and joining and resyncing need less:
//   - base checkpoints: θ at every round that is a multiple of K (the coordinator writes those),
//     from the last one at or before round w − K on (w: the round being trained), and the newest
//     two (a member that read the newest from GET /api/run a moment before the next one is
//     written still finds it);
//   - every committed payload, round record and Gauntlet judgement of the rounds from that base on.
// Everything older goes after each decision. So between K and 2K rounds are kept, and any kept round
// is rebuilt from a base checkpoint and at most 2K decisions. Rounds before the base are refused
// (410) by the routes that would need them (routes.ts).
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isContentHash, toContentHash, type ContentHash } from '../base/content-hash.ts';
import type { Chain } from '../chain/chain.ts';
import type { CheckpointRef } from '../run/api.ts';
import type { HubDataDir } from './data-dir.ts';

/** K by default: 100 rounds (at the default 30 blocks of 1 s, 50 minutes to 100 minutes of history). */
export const DEFAULT_RETAIN_ROUNDS = 100;

/** The round a checkpoint must exist at: the last multiple of K at or before `current − K` (0 early on). */
function baseRound(current: number, retainRounds: number): number {
  return Math.max(0, Math.floor((current - retainRounds) / retainRounds) * retainRounds);
}

/** Whether θ at the start of `round` must be checkpointed as a base (besides every `checkpointEvery`). */
export function isBaseRound(round: number, retainRounds: number): boolean {
  return round % retainRounds === 0;
}

/**
 * The checkpoints to keep when round `current` is being trained, and the oldest round whose
 * payloads and records are kept (the base checkpoint's round). `checkpoints` are oldest first, the
 * newest last. A data dir without a checkpoint at the base round (written under another K) keeps
 * the newest one before it instead, and the rounds since.
 */
export function retentionPlan(
  current: number,
  retainRounds: number,
  checkpoints: readonly CheckpointRef[],
): { fromRound: number; keep: CheckpointRef[] } {
  const newest = checkpoints.at(-1);
  if (!newest) return { fromRound: 0, keep: [] };
  const target = baseRound(current, retainRounds);
  const base = checkpoints.filter((c) => c.round <= target).at(-1) ?? checkpoints[0]!;
  const newest2 = checkpoints.slice(-2);
  const keep = checkpoints.filter((c) => c === base || newest2.includes(c) || (c.round > base.round && isBaseRound(c.round, retainRounds)));
  return { fromRound: base.round, keep };
}

export interface ExpiryInputs {
  dir: HubDataDir;
  chain: Pick<Chain, 'commits'>;
  /** The round being trained. */
  current: number;
  retainRounds: number;
  /**
   * Files younger than this stay whatever they are (a round's duration): an object being written, or
   * put before its commit reaches a block; a temporary file left by a write cut short goes after it.
   */
  graceMs: number;
}

/**
 * Applies the policy: forgets the checkpoints it does not keep (state.json), removes every object
 * that is neither a kept checkpoint nor a payload committed from the base round on, and the records
 * of the rounds before it. Returns the oldest round kept.
 */
export async function expireOld({ dir, chain, current, retainRounds, graceMs }: ExpiryInputs): Promise<number> {
  const checkpoints = await dir.checkpoints();
  const { fromRound, keep } = retentionPlan(current, retainRounds, checkpoints);
  if (keep.length === 0) return 0;
  if (keep.length !== checkpoints.length) await dir.saveCheckpoints(keep);
  const live = new Set<ContentHash>(keep.map((c) => c.objectHash));
  for (let round = fromRound; round <= current; round++)
    for (const { announcement } of await chain.commits(round)) live.add(toContentHash(announcement.payloadHash));
  const objects = join(dir.path, 'objects');
  const now = Date.now();
  for (const name of await readdir(objects).catch(() => [] as string[])) {
    if (isContentHash(name) && live.has(name)) continue;
    const written = await stat(join(objects, name)).catch(() => undefined);
    if (!written || written.mtimeMs > now - graceMs) continue;
    await rm(join(objects, name), { force: true });
  }
  await dir.expireRoundsBefore(fromRound);
  return fromRound;
}
