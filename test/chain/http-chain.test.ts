// HttpChain against a dev chain served on 127.0.0.1: it verifies the chain from genesis, submits
// through the API, answers reads from the state it replayed, follows new heads, and refuses a
// hub that serves an altered block or a chain sealed by an authority other than the pinned one.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockVerificationError, type Block } from '../../src/chain/block.ts';
import type { DevChain } from '../../src/chain/dev-chain.ts';
import { ChainError, signDecision } from '../../src/chain/extrinsics.ts';
import { HttpChain } from '../../src/chain/http-chain.ts';
import { chainRoutes } from '../../src/chain/routes.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { cryptoReady, SigningKey } from '../../src/identity/keys.ts';
import { MODEL_HASH, openTestChain, RUN, testSession, untilHeight } from './fixture.ts';

let chain: DevChain;
let remove: () => void;
let server: Server;
let base: string;
/** When set, the server alters the blocks it serves with it. */
let tamper: ((block: Block) => void) | undefined;

beforeAll(async () => {
  await cryptoReady();
  ({ chain, remove } = await openTestChain());
  chain.start();
  const routes = chainRoutes(chain);
  server = createServer((req, res) => {
    if (tamper && req.url?.startsWith('/api/chain/blocks')) {
      const from = Number(new URL(req.url, 'http://x').searchParams.get('from'));
      const blocks = chain.blocks(from, 1000);
      blocks.forEach(tamper);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ blocks }));
      return;
    }
    void routes(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}, 30_000);

afterAll(() => {
  server.close();
  chain.close();
  remove();
});

describe('HttpChain', () => {
  it('verifies, submits, reads from its own replayed state and follows new heads', async () => {
    const remote = await HttpChain.connect(base, { authority: chain.authority.address });
    try {
      expect(remote.run).toBe(RUN);
      expect(remote.clock.blocksPerRound).toBe(4);
      const session = await testSession();
      const registered = await remote.register(session.signed);
      expect((await remote.head()).height).toBeGreaterThanOrEqual(registered.height);
      expect((await remote.binding(session.id))?.binding).toEqual(session.signed.binding);

      const round = remote.clock.roundAt((await chain.head()).height + 1);
      const commit = session.announce({ round, baseModelHash: MODEL_HASH, payloadHash: `0x${'12'.repeat(32)}` as Hex, bytes: 100 });
      await remote.commit(commit).catch(async (error: unknown) => {
        // The round may have ended while the request travelled: commit again in the next one.
        if (!(error instanceof ChainError && error.code === 'wrong-round')) throw error;
        const retry = session.announce({
          round: round + 1,
          baseModelHash: MODEL_HASH,
          payloadHash: commit.announcement.payloadHash,
          bytes: 100,
        });
        await remote.commit(retry);
      });
      const committedRound = (await remote.commits(round)).length > 0 ? round : round + 1;
      expect((await remote.commits(committedRound)).map((c) => c.announcement.binding)).toEqual([session.id]);
      expect(await remote.nextNonce({ binding: session.id })).toBeGreaterThanOrEqual(1);

      await untilHeight(chain, chain.clock.lastBlock(committedRound));
      const decision = signDecision(chain.authority, {
        run: RUN,
        round: committedRound,
        payloadHashes: [`0x${'12'.repeat(32)}` as Hex],
        modelHash: MODEL_HASH,
        nonce: 0,
      });
      await remote.decide(decision);
      expect(await remote.decision(committedRound)).toEqual(decision);
      expect((await remote.metagraph()).neurons.map((n) => n.hotkey)).toEqual([session.signed.binding.hotkey]);

      await expect(remote.submit({ call: 'mint' })).rejects.toMatchObject({ code: 'unknown-call' });

      const heads: number[] = [];
      const stop = remote.onHead((head) => heads.push(head.height));
      await untilHeight(chain, chain.headBlock().height + 3);
      await new Promise((resolve) => setTimeout(resolve, 200));
      stop();
      expect(heads.length).toBeGreaterThan(0);
      expect(heads).toEqual(heads.map((_, i) => heads[0]! + i));
    } finally {
      remote.close();
    }
  }, 30_000);

  it('refuses a hub that alters a block, and one whose chain another authority sealed', async () => {
    await expect(HttpChain.connect(base, { authority: SigningKey.generate().address })).rejects.toThrow(/expected authority/);
    tamper = (block) => {
      if (block.height === 2) block.timestamp += 1;
    };
    try {
      await expect(HttpChain.connect(base)).rejects.toBeInstanceOf(BlockVerificationError);
    } finally {
      tamper = undefined;
    }
  }, 30_000);
});
