// A participant whose engine peer lives in the same process (`webloco peer`, tests, benchmarks):
// its RoundBackend is the engine's contribution, or an adversary's (src/client/adversary.ts).
import type { HttpChain } from '../chain/http-chain.ts';
import type { Behavior } from '../engine/adversary.ts';
import type { Peer } from '../engine/peer.ts';
import { decodeCheckpoint } from '../train/checkpoint.ts';
import { Adversary, forgedAnnouncement } from './adversary.ts';
import { Participant, type ParticipantOptions, type RoundBackend } from './participant.ts';

export function engineBackend(engine: Peer, adversary: Adversary | null = null): RoundBackend {
  return {
    async load(files) {
      engine.setGlobalModel(decodeCheckpoint(files).params);
      return engine.modelHash;
    },
    async contribute(round) {
      if (adversary) return adversary.contribute(round);
      const result = await engine.contribute(round);
      return { payload: result.contribution?.payload ?? null, cancelled: result.cancelled, skipped: result.skipped };
    },
    async applyDecision(round, payloads) {
      return engine.applyDecision(round, payloads);
    },
  };
}

/**
 * A participant over an in-process engine peer, honest or playing `behavior` (a forger signs for
 * another peer's binding, which the chain refuses).
 */
export function engineParticipant(
  o: Omit<ParticipantOptions, 'backend' | 'announce' | 'chain'> & { chain: HttpChain; engine: Peer; behavior?: Behavior },
): Participant {
  const { engine, behavior = 'honest', ...options } = o;
  const adversary = behavior === 'honest' ? null : new Adversary(behavior, engine, o.swarm, o.hubPeerId);
  return new Participant({
    ...options,
    backend: engineBackend(engine, adversary),
    ...(behavior === 'forged' ? { announce: (fields) => forgedAnnouncement(o.chain, o.session, fields) } : {}),
  });
}
