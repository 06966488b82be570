// The hub's gossip admission keeps its replay guard to the rounds it still accepts (the chain's
// round and the one just closed): however long a run, it holds two rounds of (binding, nonce)
// pairs, and a replay inside them is still refused.
import { expect, it } from 'vitest';
import { RoundClock } from '../../src/chain/round-clock.ts';
import { ReplayGuard, type SignedAnnouncement } from '../../src/identity/announcement.ts';
import { verifyBinding } from '../../src/identity/binding.ts';
import { createBurnerSigner } from '../../src/identity/burner.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { cryptoReady, SigningKey } from '../../src/identity/keys.ts';
import { Session } from '../../src/identity/session.ts';
import { gossipAdmission } from '../../src/hub/admission.ts';

const RUN = 'admission-test';
const HASH = `0x${'ab'.repeat(32)}` as Hex;

it('remembers only the rounds it still accepts, and still refuses a replay within them', async () => {
  await cryptoReady();
  const session = await Session.start(await createBurnerSigner(), { run: RUN, peer: SigningKey.generate('ed25519'), keyType: 'ed25519' });
  const binding = verifyBinding(session.signed, { run: RUN, now: Date.now() });
  const clock = new RoundClock(10, 1000);
  let height = 0;
  const chain = {
    run: RUN,
    clock,
    spec: { validators: [] as string[] },
    headBlock: () => ({ height }),
    binding: async (id: Hex) => (id === binding.id ? binding : undefined),
  };
  const replay = new ReplayGuard();
  const admit = gossipAdmission(chain as unknown as Parameters<typeof gossipAdmission>[0], replay).announcement!;
  const announce = (round: number) => session.announce({ round, baseModelHash: HASH, payloadHash: HASH, bytes: 1 });

  let last: SignedAnnouncement | undefined;
  for (let round = 0; round < 30; round++) {
    height = clock.firstBlock(round);
    // Several announcements a round (each with the binding's next nonce), as a busy peer might gossip.
    for (let i = 0; i < 4; i++) await admit((last = announce(round)), 'gossiping-peer');
    expect(replay.size).toBeLessThanOrEqual(8);
  }
  await expect(admit(last!, 'gossiping-peer')).rejects.toThrow(/already accepted: a replay/);
  await expect(admit(announce(27), 'gossiping-peer')).rejects.toThrow(/not accepted now/);
});
