// Shared by the chain tests: a fast dev chain in a temporary directory (50 ms blocks, 4 blocks a
// round), a way to wait for a height, and a run with one registered burner session that commits
// in a round which the authority then decides.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevChain } from '../../src/chain/dev-chain.ts';
import { signDecision, type SignedDecision } from '../../src/chain/extrinsics.ts';
import type { SignedAnnouncement } from '../../src/identity/announcement.ts';
import { createBurnerSigner } from '../../src/identity/burner.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { Session } from '../../src/identity/session.ts';

export const RUN = 'chain-test';
export const PEER_ID = '12D3KooWGzh8vQ8m6cY1mXq7p1cJk9V8m5G5hQ7wV2ZLJ3nXbqjW';
export const MODEL_HASH = `0x${'3c'.repeat(32)}` as Hex;

export async function openTestChain(): Promise<{ chain: DevChain; dataDir: string; remove: () => void }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'webloco-chain-'));
  const chain = await DevChain.open({ dataDir, run: RUN, blocksPerRound: 4, blockTimeMs: 50 });
  return { chain, dataDir, remove: () => rmSync(dataDir, { recursive: true, force: true }) };
}

export function untilHeight(chain: DevChain, height: number): Promise<void> {
  if (chain.headBlock().height >= height) return Promise.resolve();
  return new Promise((resolve) => {
    const stop = chain.onBlock((block) => {
      if (block.height >= height) {
        stop();
        resolve();
      }
    });
  });
}

/** The round the next block belongs to: the one a commit submitted now must name. */
export function nextRound(chain: DevChain): number {
  return chain.clock.roundAt(chain.headBlock().height + 1);
}

/** Registers a burner session, commits one payload, waits out the round and decides it. */
export async function populate(
  chain: DevChain,
): Promise<{ session: Session; commit: SignedAnnouncement; decision: SignedDecision; round: number }> {
  const session = await Session.start(await createBurnerSigner(), { run: RUN, peerId: PEER_ID });
  await chain.register(session.signed);
  // Commit early in a round, so the commit cannot slip past the round's last block.
  await untilHeight(chain, chain.clock.firstBlock(nextRound(chain) + 1));
  const round = nextRound(chain);
  const commit = session.announce({ round, baseModelHash: MODEL_HASH, payloadHash: `0x${'ab'.repeat(32)}` as Hex, bytes: 4321 });
  await chain.commit(commit);
  await untilHeight(chain, chain.clock.lastBlock(round));
  const decision = signDecision(chain.authority, {
    run: RUN,
    round,
    payloadHashes: [commit.announcement.payloadHash],
    modelHash: `0x${'4d'.repeat(32)}` as Hex,
    nonce: 0,
  });
  await chain.decide(decision);
  return { session, commit, decision, round };
}
