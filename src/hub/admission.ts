// The hub's checks on gossip, run on every well-formed message before it is delivered or forwarded:
// an announcement must be signed by the session key of a binding registered on chain, for the
// round the chain is in (or the one just closed, for messages in flight at the boundary), and not
// replayed; a decision must come from a validator of the run. The replay guard keeps only the
// rounds still accepted, so it holds at most two rounds' announcements however long the run.
import type { DevChain } from '../chain/dev-chain.ts';
import { ReplayGuard, verifyAnnouncement } from '../identity/announcement.ts';
import type { VerifiedBinding } from '../identity/binding.ts';
import type { SwarmOptions } from '../swarm/swarm.ts';

export function gossipAdmission(
  chain: Pick<DevChain, 'clock' | 'headBlock' | 'binding' | 'run' | 'spec'>,
  replay = new ReplayGuard(),
): NonNullable<SwarmOptions['acceptGossip']> {
  return {
    announcement: async (signed) => {
      const current = chain.clock.roundAt(chain.headBlock().height);
      replay.forgetRoundsBefore(current - 1);
      const bindings = new Map<string, VerifiedBinding | undefined>([
        [signed.announcement.binding, await chain.binding(signed.announcement.binding)],
      ]);
      verifyAnnouncement(signed, {
        run: chain.run,
        acceptRound: (r) => r === current || r === current - 1,
        bindingOf: (id) => bindings.get(id),
        now: Date.now(),
        replay,
      });
    },
    decision: (signed) => {
      if (!chain.spec.validators.includes(signed.decision.validator))
        throw new Error(`${signed.decision.validator} is not a validator of run ${chain.run}`);
    },
  };
}
