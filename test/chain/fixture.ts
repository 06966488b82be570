// Shared by the chain tests: a fast dev chain in a temporary directory (50 ms blocks, 4 blocks a
// round, a cheap proof of work and no binding age unless asked), a way to wait for a height, and a
// run with one registered burner session that commits in a round which the authority then decides.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevChain } from '../../src/chain/dev-chain.ts';
import { signDecision, type SignedDecision } from '../../src/chain/extrinsics.ts';
import type { SignedAnnouncement } from '../../src/identity/announcement.ts';
import { createBurnerSigner } from '../../src/identity/burner.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { SigningKey } from '../../src/identity/keys.ts';
import { Session } from '../../src/identity/session.ts';

export const RUN = 'chain-test';
/** The libp2p key of the test sessions' node (the binding names its PeerId). */
export const PEER_KEY = SigningKey.fromSeed(new Uint8Array(32).fill(7), 'ed25519');
export const MODEL_HASH = `0x${'3c'.repeat(32)}` as Hex;
/** The test chains' proof of work: 256 tries, well under a millisecond, and still checked. */
export const WORK_BITS = 8;

export async function openTestChain(
  options: { bindingAgeRounds?: number; blocksPerRound?: number } = {},
): Promise<{ chain: DevChain; dataDir: string; remove: () => void }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'webloco-chain-'));
  const chain = await DevChain.open({
    dataDir,
    run: RUN,
    blocksPerRound: options.blocksPerRound ?? 4,
    blockTimeMs: 50,
    bindingWorkBits: WORK_BITS,
    bindingAgeRounds: options.bindingAgeRounds ?? 0,
  });
  return { chain, dataDir, remove: () => rmSync(dataDir, { recursive: true, force: true }) };
}

/** A burner session whose binding the test chains register (its proof of work paid). */
export async function testSession(peer: SigningKey = PEER_KEY): Promise<Session> {
  return Session.start(await createBurnerSigner(), { run: RUN, peer, workBits: WORK_BITS });
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
  const session = await testSession();
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
