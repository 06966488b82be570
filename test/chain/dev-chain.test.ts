// The dev chain: registration, commits, decisions and weights land in blocks and in its state;
// every extrinsic with bad input (unknown call, wrong signature, wrong nonce, oversized, and the
// other rules) is refused with a clear ChainError while blocks keep coming; a reopened chain
// continues with the same state; the HTTP routes serve head, blocks, metagraph and submissions.
import { createServer, type Server } from 'node:http';
import { u8aToHex } from '@polkadot/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevChain } from '../../src/chain/dev-chain.ts';
import { ChainError, signDecision, signWeights, type ChainErrorCode, type SignedDecision } from '../../src/chain/extrinsics.ts';
import { chainRoutes } from '../../src/chain/routes.ts';
import { RoundClock } from '../../src/chain/round-clock.ts';
import { verifyChain } from '../../src/chain/verify.ts';
import { signAnnouncement, type SignedAnnouncement } from '../../src/identity/announcement.ts';
import { bindingBytes, signBinding, type SignedBinding } from '../../src/identity/binding.ts';
import { createBurnerSigner } from '../../src/identity/burner.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { cryptoReady, SigningKey } from '../../src/identity/keys.ts';
import type { Session } from '../../src/identity/session.ts';
import { peerIdOf } from '../../src/identity/peer-id.ts';
import { MODEL_HASH, nextRound, openTestChain, PEER_KEY, populate, RUN, untilHeight, WORK_BITS } from './fixture.ts';

async function expectRefused(submission: Promise<unknown>, code: ChainErrorCode, message?: RegExp): Promise<void> {
  const error = await submission.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a '${code}' refusal`).toBeInstanceOf(ChainError);
  expect((error as ChainError).code, (error as Error).message).toBe(code);
  if (message) expect((error as Error).message).toMatch(message);
}

describe('RoundClock', () => {
  it('maps heights to rounds and deadlines', () => {
    const clock = new RoundClock(4, 50);
    expect([0, 3, 4, 7, 8].map((h) => clock.roundAt(h))).toEqual([0, 0, 1, 1, 2]);
    expect([clock.firstBlock(2), clock.lastBlock(2)]).toEqual([8, 11]);
    expect(clock.position({ height: 9, timestamp: 1000 })).toEqual({ round: 2, blocksLeft: 2, deadline: 1100 });
    expect(() => new RoundClock(0, 50)).toThrow(/positive integer/);
  });
});

describe('dev chain', () => {
  let chain: DevChain;
  let dataDir: string;
  let remove: () => void;
  let session: Session;
  let commit: SignedAnnouncement;
  let decision: SignedDecision;
  let round: number;

  beforeAll(async () => {
    await cryptoReady();
    ({ chain, dataDir, remove } = await openTestChain());
    chain.start();
    ({ session, commit, decision, round } = await populate(chain));
  }, 30_000);

  afterAll(() => {
    chain.close();
    remove();
  });

  it('records the registration, the commit and the decision, and the whole chain verifies', async () => {
    expect(await chain.binding(session.id)).toMatchObject({ id: session.id, binding: { burner: true } });
    expect(await chain.commits(round)).toEqual([commit]);
    expect(await chain.decision(round)).toEqual(decision);
    expect(await chain.nextNonce({ binding: session.id })).toBe(1);
    expect(await chain.nextNonce({ validator: chain.authority.address })).toBe(1);
    const metagraph = await chain.metagraph();
    expect(metagraph.neurons.map((n) => [n.uid, n.hotkey])).toEqual([[0, session.signed.binding.hotkey]]);
    expect(metagraph.validators).toEqual([chain.authority.address]);

    const blocks = chain.blocks(0, 1000);
    expect(blocks.at(-1)!.hash).toBe(chain.headBlock().hash);
    const verifier = verifyChain(blocks, { authority: chain.authority.address });
    expect(verifier.state.decision(round)).toEqual(decision);
    expect(verifier.state.commits(round)).toEqual([commit]);
  });

  it('refuses bad input on every extrinsic with a clear error, and keeps producing blocks', async () => {
    const startHeight = chain.headBlock().height;
    const burner = await createBurnerSigner();

    // Unknown calls and envelopes.
    await expectRefused(chain.submit({ call: 'transfer', to: 'x' }), 'unknown-call', /accepts register, commit, decision, weights/);
    await expectRefused(chain.submit({ call: 'genesis', spec: chain.spec }), 'unknown-call', /block 0/);
    await expectRefused(chain.submit('register'), 'malformed');
    await expectRefused(chain.submit({ call: 'register', binding: session.signed, extra: 1 }), 'malformed', /unknown field 'extra'/);

    // register: wrong signature, replayed binding, reused binding nonce, oversized, wrong run.
    const fresh = await signBinding(burner, { run: RUN, peer: PEER_KEY, sessionKey: SigningKey.generate(), workBits: WORK_BITS });
    const otherPeer = peerIdOf(SigningKey.generate('ed25519').publicKey);
    await expectRefused(
      chain.register({ ...fresh, binding: { ...fresh.binding, peerId: otherPeer } }),
      'bad-signature',
      /not signed by its hotkey/,
    );
    await expectRefused(chain.register(session.signed), 'already-registered');
    const sameNonce = { ...fresh.binding, sessionKey: SigningKey.generate().publicKeyHex };
    const reused: SignedBinding = {
      binding: sameNonce,
      signature: await burner.signRaw(u8aToHex(bindingBytes(sameNonce)) as Hex),
      peerSignature: PEER_KEY.sign(bindingBytes(sameNonce)),
    };
    await chain.register(fresh);
    await expectRefused(chain.register(reused), 'wrong-nonce', /fresh nonce/);
    await expectRefused(
      chain.register({ ...fresh, binding: { ...fresh.binding, peerId: 'Q'.repeat(70_000) } }),
      'oversized',
      /at most 65536/,
    );
    const otherRun = await signBinding(burner, { run: 'other-run', peer: PEER_KEY, sessionKey: SigningKey.generate() });
    await expectRefused(chain.register(otherRun), 'wrong-run');

    // commit: wrong signature, wrong nonce (a replay and a lower one), oversized, wrong round, unregistered binding, second commit in a round.
    // Each announcement names the round of the next block at the moment it is submitted (rounds here last 200 ms).
    const announce = (fields: Partial<SignedAnnouncement['announcement']>) =>
      signAnnouncement(session.key, {
        ...commit.announcement,
        round: nextRound(chain),
        payloadHash: `0x${'cd'.repeat(32)}` as Hex,
        ...fields,
      });
    await expectRefused(
      chain.commit({ ...announce({ nonce: 5 }), signature: announce({ nonce: 6 }).signature }),
      'bad-signature',
      /session key/,
    );
    await expectRefused(chain.commit(announce({ nonce: 0 })), 'wrong-nonce', /not above/);
    await expectRefused(
      chain.commit({
        announcement: { ...announce({ nonce: 5 }).announcement, run: 'r'.repeat(70_000) },
        signature: announce({}).signature,
      }),
      'oversized',
    );
    await expectRefused(chain.commit(announce({ nonce: 5, round: nextRound(chain) + 1 })), 'wrong-round');
    await expectRefused(chain.commit(announce({ nonce: 5, binding: `0x${'ee'.repeat(32)}` as Hex })), 'not-registered', /registered first/);
    const accepted = chain.commit(announce({ nonce: 5 }));
    await expectRefused(chain.commit(announce({ nonce: 6, payloadHash: `0x${'ef'.repeat(32)}` as Hex })), 'duplicate', /already committed/);
    await accepted;

    // decision: wrong signature, wrong nonce, oversized, not a validator, too early, duplicate, unknown payload.
    const decide = (fields: Partial<SignedDecision['decision']>, key = chain.authority) =>
      signDecision(key, { run: RUN, round, payloadHashes: [commit.announcement.payloadHash], modelHash: MODEL_HASH, nonce: 1, ...fields });
    await expectRefused(
      chain.decide({ ...decide({}), decision: { ...decide({}).decision, modelHash: `0x${'00'.repeat(32)}` as Hex } }),
      'bad-signature',
      /not signed by its validator/,
    );
    await expectRefused(chain.decide(decide({ round: round + 1, payloadHashes: [], nonce: 0 })), 'wrong-nonce');
    await expectRefused(
      chain.decide(decide({ payloadHashes: Array.from({ length: 1500 }, (_, i) => `0x${i.toString(16).padStart(64, '0')}` as Hex) })),
      'oversized',
    );
    await expectRefused(chain.decide(decide({ round: round + 1, payloadHashes: [] }, SigningKey.generate())), 'not-validator');
    await expectRefused(
      chain.decide(decide({ round: nextRound(chain), payloadHashes: [] })),
      'too-early',
      /its decision can come from block/,
    );
    await expectRefused(chain.decide(decide({})), 'duplicate', /already decided/);
    await expectRefused(
      chain.decide(decide({ round: round - 1, payloadHashes: [`0x${'99'.repeat(32)}` as Hex] })),
      'unknown-payload',
      /not committed in round/,
    );

    // weights: accepted, then wrong signature, wrong nonce, oversized, unregistered hotkey, future round.
    const hotkey = session.signed.binding.hotkey;
    const weigh = (fields: Partial<Parameters<typeof signWeights>[1]>) =>
      signWeights(chain.authority, { run: RUN, round, weights: [{ hotkey, weight: 65535 }], nonce: 2, ...fields });
    await chain.setWeights(weigh({}));
    expect((await chain.metagraph()).weights.map((w) => w.weights.weights)).toEqual([[{ hotkey, weight: 65535 }]]);
    await expectRefused(
      chain.setWeights({ ...weigh({ nonce: 3 }), weights: { ...weigh({ nonce: 3 }).weights, round: round - 1 } }),
      'bad-signature',
    );
    await expectRefused(chain.setWeights(weigh({})), 'wrong-nonce');
    await expectRefused(
      chain.setWeights(weigh({ nonce: 3, weights: Array.from({ length: 5000 }, () => ({ hotkey, weight: 1 })) })),
      'oversized',
    );
    await expectRefused(
      chain.setWeights(weigh({ nonce: 3, weights: [{ hotkey: SigningKey.generate().address, weight: 1 }] })),
      'not-registered',
      /never registered/,
    );
    await expectRefused(chain.setWeights(weigh({ nonce: 3, round: nextRound(chain) + 5 })), 'wrong-round');
    await expectRefused(chain.setWeights(weigh({ nonce: 3, weights: [{ hotkey, weight: 70_000 }] })), 'malformed', /\[0, 65535\]/);

    // Blocks kept coming, and they all verify.
    await untilHeight(chain, chain.headBlock().height + 2);
    expect(chain.headBlock().height).toBeGreaterThan(startHeight + 2);
    verifyChain(chain.blocks(0, 1000), { authority: chain.authority.address });
  }, 30_000);

  it('serves head, blocks, metagraph and submissions over HTTP', async () => {
    const routes = chainRoutes(chain);
    const server: Server = createServer((req, res) => {
      void routes(req, res).then((handled) => {
        if (!handled) res.writeHead(404).end('not the chain');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const base = `http://127.0.0.1:${port}`;
    try {
      const head = (await (await fetch(`${base}/api/chain/head`)).json()) as {
        height: number;
        hash: string;
        run: string;
        authority: string;
        blocksPerRound: number;
      };
      expect(head).toMatchObject({ run: RUN, authority: chain.authority.address, blocksPerRound: 4 });
      const { blocks } = (await (await fetch(`${base}/api/chain/blocks?from=0&limit=1000`)).json()) as { blocks: unknown[] };
      expect(blocks.length).toBeGreaterThan(head.height);
      expect(verifyChain(blocks, { authority: head.authority }).head!.height).toBe(blocks.length - 1);
      const page = (await (await fetch(`${base}/api/chain/blocks?from=2&limit=3`)).json()) as { blocks: { height: number }[] };
      expect(page.blocks.map((b) => b.height)).toEqual([2, 3, 4]);

      const metagraph = (await (await fetch(`${base}/api/chain/metagraph`)).json()) as {
        neurons: { uid: number; bindingId: string; binding: SignedBinding }[];
      };
      expect(metagraph.neurons[0]).toMatchObject({ uid: 0, bindingId: session.id, binding: session.signed });

      const fresh = await signBinding(await createBurnerSigner(), {
        run: RUN,
        peer: PEER_KEY,
        sessionKey: SigningKey.generate(),
        workBits: WORK_BITS,
      });
      const accepted = await fetch(`${base}/api/chain/extrinsics`, {
        method: 'POST',
        body: JSON.stringify({ call: 'register', binding: fresh }),
      });
      expect(accepted.status).toBe(200);
      const inclusion = (await accepted.json()) as { height: number; blockHash: string; index: number };
      expect(chain.blocks(inclusion.height, 1)[0]).toMatchObject({
        hash: inclusion.blockHash,
        extrinsics: [{ call: 'register', binding: fresh }],
      });

      const refused = await fetch(`${base}/api/chain/extrinsics`, { method: 'POST', body: JSON.stringify({ call: 'mint' }) });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('unknown-call');
      const huge = await fetch(`${base}/api/chain/extrinsics`, { method: 'POST', body: 'x'.repeat(200_000) });
      expect(huge.status).toBe(413);
      expect((await fetch(`${base}/api/chain/extrinsics`, { method: 'POST', body: '{not json' })).status).toBe(400);
      expect((await fetch(`${base}/api/chain/blocks`)).status).toBe(400);
      expect((await fetch(`${base}/api/chain/head`, { method: 'POST', body: '{}' })).status).toBe(405);
      expect((await fetch(`${base}/api/chain/nothing`)).status).toBe(404);
      expect(await (await fetch(`${base}/elsewhere`)).text()).toBe('not the chain');
    } finally {
      server.close();
    }
  }, 30_000);

  it('reopens on the same data dir with the same state, refuses another run and a second process', async () => {
    const nonceBefore = await chain.nextNonce({ binding: session.id });
    const neuronsBefore = (await chain.metagraph()).neurons;
    chain.close();
    await expect(DevChain.open({ dataDir, run: 'another-run' })).rejects.toThrow(/has run "chain-test", not "another-run"/);
    const reopened = await DevChain.open({ dataDir, run: RUN });
    try {
      expect(await reopened.decision(round)).toEqual(decision);
      expect(await reopened.nextNonce({ binding: session.id })).toBe(nonceBefore);
      expect((await reopened.metagraph()).neurons).toEqual(neuronsBefore);
      expect(reopened.authority.address).toBe(chain.authority.address);
      await expect(DevChain.open({ dataDir, run: RUN })).rejects.toThrow(/in use by another process/);
      const before = reopened.headBlock().height;
      reopened.start();
      await untilHeight(reopened, before + 2);
      verifyChain(reopened.blocks(0, 1000), { authority: chain.authority.address });
    } finally {
      reopened.close();
    }
    await expectRefused(reopened.submit({ call: 'register', binding: session.signed }), 'stopped');
  }, 30_000);
});
