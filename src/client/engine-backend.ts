// The RoundBackend of a participant whose engine peer lives in the same process (`webloco peer`,
// tests, benchmarks): the engine's contribution, or an adversary's (src/client/adversary.ts).
import type { Peer } from '../engine/peer.ts';
import { decodeCheckpoint } from '../train/checkpoint.ts';
import type { Adversary } from './adversary.ts';
import type { RoundBackend } from './participant.ts';

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
