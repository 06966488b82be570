// GET /api/wall, the swarm wall's document, on a real hub (dev chain, round keeper taking every
// payload that decodes): two registered sessions, one of them connected to the hub, each commits a
// payload in one round, one of them encoded for the wrong round. The wall lists both peers (who is
// online), the round as decided with the one payload the decision took, the bytes each sent, and
// the totals per peer; a hub without the run's chain answers 404.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compressDense, gaussianSource } from '../../src/engine/adversary.ts';
import { startHub, type Hub } from '../../src/hub/hub.ts';
import type { WallView } from '../../src/hub/wall.ts';
import { createBurnerSigner } from '../../src/identity/burner.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { Session } from '../../src/identity/session.ts';
import { preset } from '../../src/model/config.ts';
import { parameterLayout } from '../../src/model/layout.ts';
import { encodeUpdate, wireLayoutOf } from '../../src/sparseloco/codec.ts';
import { MemoryContentStore } from '../../src/swarm/content.ts';
import { createNodePeer } from '../../src/swarm/node-peer.ts';
import { Swarm } from '../../src/swarm/swarm.ts';

const RUN = 'test-wall';
const layout = parameterLayout(preset('tiny'));
const wire = wireLayoutOf(layout.tensors);

function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `webloco-${name}-`));
}

function appDir(): string {
  const dir = tempDir('app');
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>WebLoCo</title>');
  return dir;
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function wallOf(hub: Hub): Promise<WallView> {
  const res = await fetch(`${hub.http}/api/wall`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return (await res.json()) as WallView;
}

/** A pseudo-gradient-like payload for `round` of the run, compressed and encoded as a peer would. */
function payload(seed: number, round: number, baseModelHash: string): Uint8Array {
  const gaussian = gaussianSource(seed);
  const update = compressDense(layout.tensors.map((t) => Float32Array.from({ length: t.shape.reduce((a, b) => a * b, 1) }, () => 1e-3 * gaussian())), layout.tensors);
  return encodeUpdate({ runId: RUN, round, baseModelHash: Buffer.from(baseModelHash, 'hex') }, update, wire);
}

describe('GET /api/wall', () => {
  let hub: Hub;
  let online: Swarm;

  beforeAll(async () => {
    // 3 s rounds: time to register and commit inside one.
    hub = await startHub({ port: 0, dataDir: tempDir('wall-hub'), appDir: appDir(), runId: RUN, discoveryIntervalMs: 500, run: { blockTimeMs: 100, blocksPerRound: 30 } });
    online = new Swarm({ node: await createNodePeer({ runId: RUN, webrtc: false, dialPrivateAddresses: true }), runId: RUN, store: new MemoryContentStore(), keepConnected: hub.multiaddrs.map((a) => multiaddr(a)) });
    await online.start();
  });

  afterAll(async () => {
    await online?.stop();
    await hub?.stop();
  });

  it('shows every registered peer, who is online, each round with what was committed and taken, and the totals', async () => {
    const offlinePeerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
    const [alice, bob] = await Promise.all([
      Session.start(await createBurnerSigner(), { run: RUN, peerId: online.peerId }),
      Session.start(await createBurnerSigner(), { run: RUN, peerId: offlinePeerId }),
    ]);
    await Promise.all([hub.chain!.register(alice.signed), hub.chain!.register(bob.signed)]);
    await until('the hub to see the online peer', () => hub.swarm.links().some((l) => l.peer === online.peerId) || undefined);

    const before = await wallOf(hub);
    expect(before).toMatchObject({ runId: RUN, preset: 'tiny', blocksPerRound: 30, blockTimeMs: 100, validator: 'take-all', denseBytes: layout.parameterCount * 4, loss: [] });
    expect(before.connectedPeers).toBeGreaterThanOrEqual(1);
    const hotkeyOf = (s: Session) => s.signed.binding.hotkey;
    expect(Object.fromEntries(before.peers.map((p) => [p.hotkey, [p.peerId, p.online, p.rounds, p.bytes, p.score]]))).toEqual({
      [hotkeyOf(alice)]: [online.peerId, true, 0, 0, null],
      [hotkeyOf(bob)]: [offlinePeerId, false, 0, 0, null],
    });

    // Both commit in the round the chain is in: alice a payload for it, bob one encoded for the next
    // round, which does not decode against this round's model and is left out of the decision.
    const { round, sent } = await until('two commits inside one round', async () => {
      const state = hub.state()!;
      // Early in a round whose predecessor is decided, so that both commits land in it.
      const position = hub.chain!.clock.position(hub.chain!.headBlock());
      if (position.round !== state.round || position.blocksLeft < 10) return undefined;
      const sent = [payload(1, state.round, state.modelHash), payload(2, state.round + 1, state.modelHash)];
      const hashes = await Promise.all(sent.map((bytes) => hub.store.put(bytes)));
      try {
        await Promise.all(
          [alice, bob].map((session, i) => hub.chain!.commit(session.announce({ round: state.round, baseModelHash: `0x${state.modelHash}` as Hex, payloadHash: `0x${hashes[i]}` as Hex, bytes: sent[i]!.length }))),
        );
        return { round: state.round, sent };
      } catch (err) {
        if (/wrong-round|round/.test((err as Error).message)) return undefined; // the round closed meanwhile: try the next
        throw err;
      }
    });
    const decision = await until(`round ${round}'s decision`, async () => (await hub.chain!.decision(round))?.decision);
    expect(decision.payloadHashes).toHaveLength(1);

    const wall = await wallOf(hub);
    const shown = wall.rounds.find((r) => r.round === round)!;
    expect(shown).toMatchObject({ round, decided: true, bytes: sent[0]!.length + sent[1]!.length, modelHash: decision.modelHash.slice(2), loss: null });
    expect(shown.peers).toEqual([
      { hotkey: hotkeyOf(alice), bytes: sent[0]!.length, included: true, score: null, rejected: null },
      { hotkey: hotkeyOf(bob), bytes: sent[1]!.length, included: false, score: null, rejected: null },
    ]);
    expect(wall.decidedRounds).toBeGreaterThanOrEqual(round + 1);
    expect(wall.round).toBeGreaterThan(round);
    expect(wall.rounds.at(-1)!).toMatchObject({ round: wall.round, decided: false });
    expect(wall.height).toBeGreaterThanOrEqual((round + 1) * 30);
    // Peers: who sent the most that was taken first, with their totals.
    expect(wall.peers.map((p) => [p.hotkey, p.rounds, p.included, p.bytes, p.lastRound])).toEqual([
      [hotkeyOf(alice), 1, 1, sent[0]!.length, round],
      [hotkeyOf(bob), 1, 0, sent[1]!.length, round],
    ]);
    // A decided round reads the same on the next request (it is kept once decided).
    expect((await wallOf(hub)).rounds.find((r) => r.round === round)).toEqual(shown);
  }, 60_000);

  it('is 404 on a hub that relays the run without its chain', async () => {
    const relay = await startHub({ port: 0, dataDir: tempDir('wall-relay'), appDir: appDir(), runId: RUN, bootstrap: [hub.multiaddrs[0]!] });
    try {
      const res = await fetch(`${relay.http}/api/wall`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toMatch(/does not host its run's chain/);
    } finally {
      await relay.stop();
    }
  });
});
