// The chain's rules for an open internet (issue 18): a registration pays the genesis's proof of
// work and proves the libp2p key its PeerId names; a new binding commits only once it is
// bindingAgeRounds old (at once when registered in round 0); a payload hash belongs to the binding
// that committed it first in a round; a round holds at most as many commits as a decision can
// list; the metagraph is served a bounded page at a time. Every rule holds on replay too.
import { createServer, type Server } from 'node:http';
import { hexToU8a, u8aWrapBytes } from '@polkadot/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevChain } from '../../src/chain/dev-chain.ts';
import { ChainError, DEFAULT_BINDING_AGE_ROUNDS, MAX_COMMITS_PER_ROUND, type ChainErrorCode } from '../../src/chain/extrinsics.ts';
import { chainRoutes } from '../../src/chain/routes.ts';
import { verifyChain } from '../../src/chain/verify.ts';
import { bindingBytes, bindingId, signBinding, type HotkeySigner } from '../../src/identity/binding.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { cryptoReady, SigningKey } from '../../src/identity/keys.ts';
import { Session } from '../../src/identity/session.ts';
import { leadingZeroBits } from '../../src/identity/work.ts';
import { DEFAULT_NULL_ROUNDS } from '../../src/sparseloco/error-feedback.ts';
import { MODEL_HASH, nextRound, openTestChain, PEER_KEY, RUN, testSession, untilHeight, WORK_BITS } from './fixture.ts';

async function refusal(submission: Promise<unknown>): Promise<ChainError> {
  const error = await submission.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected a refusal').toBeInstanceOf(ChainError);
  return error as ChainError;
}

async function expectRefused(submission: Promise<unknown>, code: ChainErrorCode, message?: RegExp): Promise<void> {
  const error = await refusal(submission);
  expect(error.code, error.message).toBe(code);
  if (message) expect(error.message).toMatch(message);
}

/** A hotkey that signs as a wallet does, without a mnemonic's key derivation (hundreds of them are made below). */
function quickSigner(): HotkeySigner {
  const key = SigningKey.generate('sr25519');
  return { address: key.address, label: 'test', burner: true, signRaw: async (data: Hex) => key.sign(u8aWrapBytes(hexToU8a(data))) };
}

const payloadHash = (byte: number) => `0x${byte.toString(16).padStart(2, '0').repeat(32)}` as Hex;

beforeAll(() => cryptoReady());

describe('registration', () => {
  let chain: DevChain;
  let remove: () => void;
  beforeAll(async () => {
    ({ chain, remove } = await openTestChain());
    chain.start();
  });
  afterAll(() => {
    chain.close();
    remove();
  });

  it("refuses a binding without the genesis's proof of work, or not signed by the libp2p key its PeerId names", async () => {
    expect(chain.bindingRules).toEqual({ workBits: WORK_BITS, ageRounds: 0 });
    // No work searched: its id has fewer than 8 leading zero bits but for 1 time in 256; sign again until it does.
    let unpaid = await signBinding(quickSigner(), { run: RUN, peer: PEER_KEY, sessionKey: SigningKey.generate() });
    while (leadingZeroBits(bindingId(unpaid.binding)) >= WORK_BITS)
      unpaid = await signBinding(quickSigner(), { run: RUN, peer: PEER_KEY, sessionKey: SigningKey.generate() });
    await expectRefused(chain.register(unpaid), 'insufficient-work', /carries \d bits of proof of work; .* with 8/);

    const paid = await signBinding(quickSigner(), { run: RUN, peer: PEER_KEY, sessionKey: SigningKey.generate(), workBits: WORK_BITS });
    expect(leadingZeroBits(bindingId(paid.binding))).toBeGreaterThanOrEqual(WORK_BITS);
    // Someone else's node: the PeerId of PEER_KEY, co-signed by another key.
    const stranger = SigningKey.generate('ed25519');
    await expectRefused(
      chain.register({ ...paid, peerSignature: stranger.sign(bindingBytes(paid.binding)) }),
      'bad-signature',
      /not signed by the libp2p key of its PeerId/,
    );
    // A PeerId that spells no Ed25519 key (an RSA-style Qm… id) cannot be proven at all.
    const rsaStyle = { ...paid.binding, peerId: 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N' };
    await expectRefused(chain.register({ ...paid, binding: rsaStyle }), 'malformed', /not an Ed25519 libp2p PeerId/);

    await chain.register(paid);
    expect((await chain.binding(bindingId(paid.binding)))?.peerSignature).toBe(paid.peerSignature);
    verifyChain(chain.blocks(0, 1000), { authority: chain.authority.address });
  });
});

describe('binding age', () => {
  let chain: DevChain;
  let remove: () => void;
  beforeAll(async () => {
    ({ chain, remove } = await openTestChain({ bindingAgeRounds: 2 }));
    chain.start();
  });
  afterAll(() => {
    chain.close();
    remove();
  });

  it('takes a binding registered after round 0 only from two rounds after its registration, as honest null rounds do', async () => {
    expect(DEFAULT_BINDING_AGE_ROUNDS).toBe(DEFAULT_NULL_ROUNDS);
    await untilHeight(chain, chain.clock.firstBlock(1));
    const session = await testSession();
    const { height } = await chain.register(session.signed);
    const registered = chain.clock.roundAt(height);
    expect(await chain.firstCommitRound(session.id)).toBe(registered + 2);
    const commit = (round: number, nonce: number) =>
      session.announce({ round, baseModelHash: MODEL_HASH, payloadHash: payloadHash(nonce + 1), bytes: 100 });
    await expectRefused(chain.commit(commit(nextRound(chain), 0)), 'too-young', new RegExp(`may commit from round ${registered + 2} on`));
    await untilHeight(chain, chain.clock.firstBlock(registered + 2));
    await chain.commit(commit(nextRound(chain), 1));
    expect((await chain.commits(registered + 2)).map((c) => c.announcement.binding)).toEqual([session.id]);
    // A verifier replaying the blocks applies the same rule.
    verifyChain(chain.blocks(0, 1000), { authority: chain.authority.address });
  });
});

describe('commits in a round', () => {
  // Long rounds, so that the whole test runs in round 0, where every registration may commit at once.
  let chain: DevChain;
  let remove: () => void;
  let base: string;
  let server: Server;
  beforeAll(async () => {
    ({ chain, remove } = await openTestChain({ bindingAgeRounds: 2, blocksPerRound: 10_000 }));
    chain.start();
    const routes = chainRoutes(chain);
    server = createServer((req, res) => void routes(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => {
    server.close();
    chain.close();
    remove();
  });

  it("refuses a second commit of another binding's payload hash, crediting it to the first only", async () => {
    const [author, copier, third, fourth] = await Promise.all([
      testSession(),
      ...[1, 2, 3].map(() => testSession(SigningKey.generate('ed25519'))),
    ]);
    await Promise.all([author, copier, third, fourth].map((s) => chain.register(s!.signed)));
    expect(await chain.firstCommitRound(copier!.id)).toBe(0); // registered in round 0: no waiting
    const round = nextRound(chain);
    const fields = { round, baseModelHash: MODEL_HASH, payloadHash: payloadHash(0xab), bytes: 4321 };
    const authored = author!.announce(fields);
    await chain.commit(authored);
    // The copier saw the hash (in gossip, or on chain) and commits it as its own.
    await expectRefused(
      chain.commit(copier!.announce(fields)),
      'copied-payload',
      new RegExp(`already committed in round ${round} by binding ${author!.id}`),
    );
    // Both on their way into one block: the first in the pool holds it, the second is refused at once.
    const raced = payloadHash(0xcd);
    const pending = chain.commit(third!.announce({ ...fields, payloadHash: raced }));
    await expectRefused(chain.commit(fourth!.announce({ ...fields, payloadHash: raced })), 'copied-payload');
    await pending;
    expect((await chain.commits(round)).map((c) => [c.announcement.binding, c.announcement.payloadHash])).toEqual([
      [author!.id, payloadHash(0xab)],
      [third!.id, raced],
    ]);
  });

  it('holds at most as many commits as a decision can list, and serves the metagraph a bounded page at a time', async () => {
    const round = nextRound(chain);
    const already = (await chain.commits(round)).length;
    const sessions = await Promise.all(
      Array.from({ length: MAX_COMMITS_PER_ROUND - already + 1 }, () =>
        Session.start(quickSigner(), { run: RUN, peer: SigningKey.generate('ed25519'), workBits: WORK_BITS, keyType: 'ed25519' }),
      ),
    );
    await Promise.all(sessions.map((s) => chain.register(s.signed)));
    await Promise.all(
      sessions
        .slice(0, -1)
        .map((s, i) =>
          chain.commit(
            s.announce({ round, baseModelHash: MODEL_HASH, payloadHash: `0x${(i + 1).toString(16).padStart(64, '0')}` as Hex, bytes: 1 }),
          ),
        ),
    );
    expect(await chain.commits(round)).toHaveLength(MAX_COMMITS_PER_ROUND);
    const last = sessions.at(-1)!;
    await expectRefused(
      chain.commit(last.announce({ round, baseModelHash: MODEL_HASH, payloadHash: payloadHash(0xee), bytes: 1 })),
      'round-full',
      /as many as a decision can list/,
    );

    // The metagraph over HTTP, in pages of 256 by default (1000 at most).
    const neurons = (await chain.metagraph()).neurons.length;
    const page = async (query: string) => {
      const response = await fetch(`${base}/api/chain/metagraph${query}`);
      return { status: response.status, body: (await response.json()) as { neurons: { uid: number }[]; next: number | null } };
    };
    const first = await page('');
    expect(first.status).toBe(200);
    expect(first.body.neurons.map((n) => n.uid)).toEqual(Array.from({ length: 256 }, (_, i) => i));
    expect(first.body.next).toBe(256);
    const rest = await page(`?from=${first.body.next}`);
    expect(rest.body.neurons.map((n) => n.uid)).toEqual(Array.from({ length: neurons - 256 }, (_, i) => 256 + i));
    expect(rest.body.next).toBeNull();
    expect((await page('?from=1&limit=2')).body).toMatchObject({ neurons: [{ uid: 1 }, { uid: 2 }], next: 3 });
    for (const bad of ['?limit=1001', '?limit=0', '?from=0x1', '?from=1e1', '?from=']) expect((await page(bad)).status, bad).toBe(400);
  }, 60_000);
});
