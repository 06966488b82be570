// The participant's side of the open-internet rules, the one round loop a tab and `webloco peer`
// share, against stubbed chain, swarm and backend (no network, no GPU): it commits a payload on
// chain before gossiping its announcement (so nobody can commit the hash first), commits nothing
// before its binding is old enough, and refuses to start from a checkpoint whose model hash the
// chain does not vouch for (θ_0 of the run's seed, or the decision of the round before).
import { describe, expect, it } from 'vitest';
import type { Chain } from '../../src/chain/chain.ts';
import type { SignedDecision } from '../../src/chain/extrinsics.ts';
import { RoundClock } from '../../src/chain/round-clock.ts';
import type { Hex } from '../../src/identity/fields.ts';
import type { Session } from '../../src/identity/session.ts';
import { UntrustedCheckpointError } from '../../src/run/follow.ts';
import { Participant, type RoundBackend } from '../../src/run/participant.ts';
import type { Swarm } from '../../src/swarm/swarm.ts';

const THETA_0 = 'a0'.repeat(32);
const THETA_1 = 'a1'.repeat(32);
const OTHER = 'ff'.repeat(32);
const INCLUSION = { height: 1, blockHash: `0x${'00'.repeat(32)}` as Hex, index: 0 };

function decisionNaming(round: number, modelHash: string): SignedDecision {
  return {
    decision: {
      kind: 'webloco/decision/v1',
      run: 'stub-run',
      round,
      payloadHashes: [],
      modelHash: `0x${modelHash}`,
      validator: 'stub',
      nonce: round,
    },
    signature: `0x${'00'.repeat(64)}`,
  };
}

/** A participant whose every collaborator is a stub; `events` records what it did, in order. */
function stubbed(o: { firstCommitRound?: number; checkpointRound?: number; loads?: string }) {
  const events: string[] = [];
  const decisions = new Map<number, SignedDecision>();
  const chain = {
    run: 'stub-run',
    clock: new RoundClock(10, 1000),
    bindingRules: { workBits: 0, ageRounds: 2 },
    head: async () => ({ height: 0, hash: INCLUSION.blockHash, timestamp: 0 }),
    binding: async () => undefined,
    register: async () => (events.push('register'), INCLUSION),
    firstCommitRound: async () => o.firstCommitRound ?? 0,
    commit: async () => (events.push('commit'), INCLUSION),
    decision: async (round: number) => decisions.get(round),
  };
  const swarm = {
    peerId: 'self',
    addEventListener: () => {},
    store: { put: async () => 'stored', get: async () => undefined },
    announce: async () => (events.push('announce'), 1),
    fetch: async () => new Uint8Array(8),
    links: () => [],
    directPeers: () => [],
  };
  const session = {
    id: `0x${'11'.repeat(32)}`,
    signed: {},
    announce: (fields: object) => ({ announcement: fields, signature: `0x${'22'.repeat(64)}` }),
  };
  const backend: RoundBackend = {
    load: async () => o.loads ?? THETA_0,
    contribute: async () => (events.push('train'), { payload: new Uint8Array([1, 2, 3]), cancelled: false }),
    applyDecision: async () => THETA_1,
  };
  const participant = new Participant({
    swarm: swarm as unknown as Swarm,
    chain: chain as unknown as Chain,
    session: session as unknown as Session,
    backend,
    hubPeerId: 'hub',
    latestCheckpoint: async () => ({ round: o.checkpointRound ?? 0, objectHash: 'cc'.repeat(32), modelHash: o.loads ?? THETA_0, bytes: 8 }),
    initialModelHash: () => THETA_0,
  });
  return { participant, events, decisions };
}

describe('a participant on the open internet', () => {
  it('commits its payload on chain before it gossips the announcement', async () => {
    const { participant, events, decisions } = stubbed({});
    await participant.join();
    decisions.set(0, decisionNaming(0, THETA_1));
    await participant.run(1);
    expect(events).toEqual(['register', 'train', 'commit', 'announce']);
  });

  it('sends nothing before the round the chain takes its binding in', async () => {
    const { participant, events, decisions } = stubbed({ firstCommitRound: 2 });
    const rounds: { note?: string; payloadHash: string | null }[] = [];
    participant.addEventListener('round', (e) => rounds.push(e.detail));
    await participant.join();
    decisions.set(0, decisionNaming(0, THETA_1));
    await participant.run(1);
    expect(events).toEqual(['register', 'train']);
    expect(rounds[0]?.note).toMatch(/may commit from round 2 on/);
  });

  it("refuses a checkpoint the chain does not vouch for: not θ_0 of the run's seed, not what the decision before names, or none", async () => {
    const wrongSeed = stubbed({ loads: OTHER });
    await expect(wrongSeed.participant.join()).rejects.toThrow(UntrustedCheckpointError);
    await expect(wrongSeed.participant.join()).rejects.toThrow(
      new RegExp(`the hub's checkpoint of round 0 holds model ${OTHER}, but θ_0 of the run's seed hashes to ${THETA_0}`),
    );

    const wrongRound = stubbed({ loads: OTHER, checkpointRound: 3 });
    wrongRound.decisions.set(2, decisionNaming(2, THETA_1));
    await expect(wrongRound.participant.join()).rejects.toThrow(/of round 3 holds model f+, but the chain's decision of round 2 names a1/);

    const undecided = stubbed({ loads: THETA_1, checkpointRound: 3 });
    await expect(undecided.participant.join()).rejects.toThrow(/the chain has no decision of round 2 to vouch for it/);

    const vouched = stubbed({ loads: THETA_1, checkpointRound: 3 });
    vouched.decisions.set(2, decisionNaming(2, THETA_1));
    await vouched.participant.join();
    expect(vouched.participant.round).toBe(3);
  });
});
