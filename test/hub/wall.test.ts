// GET /api/wall, the swarm wall's document, on a real hub (dev chain, round keeper taking every
// payload that decodes): two registered sessions, one of them connected to the hub, each commits a
// payload in one round, one of them encoded for the wrong round. The wall lists both peers (who is
// online), the round as decided with the one payload the decision took, the bytes each sent, and
// the totals per peer; a hub without the run's chain answers 404. With the Gauntlet deciding (on
// Dawn), the wall carries its loss of θ_w, each peer's score and the reason a payload was refused,
// exactly as the published judgement has them. With 150 registrations it lists 100 peers and
// GET /api/wall/peers pages through all of them.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureShards } from '../../src/data/node.ts';
import { compressDense, gaussianSource } from '../../src/engine/adversary.ts';
import { Validator } from '../../src/gauntlet/validator.ts';
import { startHub, type Hub } from '../../src/hub/hub.ts';
import { WALL_PEERS, type JudgedRoundRecord, type WallPeersPage, type WallView } from '../../src/run/api.ts';
import { createBurnerSigner } from '../../src/identity/burner.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { SigningKey } from '../../src/identity/keys.ts';
import { peerSigningKey } from '../../src/identity/peer-id.ts';
import { Session } from '../../src/identity/session.ts';
import { preset } from '../../src/model/config.ts';
import { parameterLayout } from '../../src/model/layout.ts';
import { encodeUpdate, wireLayoutOf } from '../../src/sparseloco/codec.ts';
import { MemoryContentStore } from '../../src/swarm/content.ts';
import { createNodePeer } from '../../src/swarm/node-peer.ts';
import { Swarm } from '../../src/swarm/swarm.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { until as untilWithin } from '../helpers/until.ts';

/** Waits up to 20 s unless told otherwise: rounds here take several seconds. */
const until = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000) =>
  untilWithin(what, probe, timeoutMs);

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

async function wallOf(hub: Hub): Promise<WallView> {
  const res = await fetch(`${hub.http}/api/wall`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return (await res.json()) as WallView;
}

/** A pseudo-gradient-like payload for `round` of the run, compressed and encoded as a peer would. */
function payload(seed: number, round: number, baseModelHash: string): Uint8Array {
  const gaussian = gaussianSource(seed);
  const update = compressDense(
    layout.tensors.map((t) => Float32Array.from({ length: t.shape.reduce((a, b) => a * b, 1) }, () => 1e-3 * gaussian())),
    layout.tensors,
  );
  return encodeUpdate({ runId: RUN, round, baseModelHash: Buffer.from(baseModelHash, 'hex') }, update, wire);
}

/**
 * Each session commits its payload (made for the round the chain is in, from H of its θ) inside one
 * round; the hub's store holds the bytes, as it would after copying them from the announcers.
 */
async function commitInOneRound(
  hub: Hub,
  sessions: Session[],
  payloadsFor: (round: number, modelHash: string) => Uint8Array[],
): Promise<{ round: number; sent: Uint8Array[] }> {
  return until('commits inside one round', async () => {
    const state = hub.state()!;
    // Early in a round whose predecessor is decided, so that every commit lands in it.
    const position = hub.chain!.clock.position(hub.chain!.headBlock());
    if (position.round !== state.round || position.blocksLeft < 10) return undefined;
    const sent = payloadsFor(state.round, state.modelHash);
    const hashes = await Promise.all(sent.map((bytes) => hub.store.put(bytes)));
    await Promise.all(
      sessions.map((session, i) =>
        hub.chain!.commit(
          session.announce({
            round: state.round,
            baseModelHash: `0x${state.modelHash}` as Hex,
            payloadHash: `0x${hashes[i]}` as Hex,
            bytes: sent[i]!.length,
          }),
        ),
      ),
    );
    return { round: state.round, sent };
  });
}

describe('GET /api/wall', () => {
  let hub: Hub;
  let online: Swarm;
  let onlineKey: Awaited<ReturnType<typeof generateKeyPair>>;

  beforeAll(async () => {
    // 3 s rounds: time to register and commit inside one.
    hub = await startHub({
      port: 0,
      dataDir: tempDir('wall-hub'),
      appDir: appDir(),
      runId: RUN,
      discoveryIntervalMs: 500,
      // Registering is not under test here: a cheap proof of work, and commits from the round of registration.
      run: { blockTimeMs: 100, blocksPerRound: 30, bindingWorkBits: 8, bindingAgeRounds: 0 },
    });
    onlineKey = await generateKeyPair('Ed25519');
    online = new Swarm({
      node: await createNodePeer({ runId: RUN, privateKey: onlineKey, webrtc: false, dialPrivateAddresses: true }),
      runId: RUN,
      store: new MemoryContentStore(),
      keepConnected: hub.multiaddrs.map((a) => multiaddr(a)),
    });
    await online.start();
  });

  afterAll(async () => {
    await online?.stop();
    await hub?.stop();
  });

  it('shows every registered peer, who is online, each round with what was committed and taken, and the totals', async () => {
    const workBits = hub.chain!.bindingRules.workBits;
    const [alice, bob] = await Promise.all([
      Session.start(await createBurnerSigner(), { run: RUN, peer: peerSigningKey(onlineKey), workBits }),
      Session.start(await createBurnerSigner(), { run: RUN, peer: SigningKey.generate('ed25519'), workBits }),
    ]);
    const offlinePeerId = bob.signed.binding.peerId;
    await Promise.all([hub.chain!.register(alice.signed), hub.chain!.register(bob.signed)]);
    await until('the hub to see the online peer', () => hub.swarm.links().some((l) => l.peer === online.peerId) || undefined);

    const before = await wallOf(hub);
    expect(before).toMatchObject({
      runId: RUN,
      preset: 'tiny',
      blocksPerRound: 30,
      blockTimeMs: 100,
      validator: 'take-all',
      denseBytes: layout.parameterCount * 4,
      loss: [],
    });
    expect(before.connectedPeers).toBeGreaterThanOrEqual(1);
    const hotkeyOf = (s: Session) => s.signed.binding.hotkey;
    expect(Object.fromEntries(before.peers.map((p) => [p.hotkey, [p.peerId, p.online, p.rounds, p.bytes, p.score]]))).toEqual({
      [hotkeyOf(alice)]: [online.peerId, true, 0, 0, null],
      [hotkeyOf(bob)]: [offlinePeerId, false, 0, 0, null],
    });

    // Both commit in the round the chain is in: alice a payload for it, bob one encoded for the next
    // round, which does not decode against this round's model and is left out of the decision.
    const { round, sent } = await commitInOneRound(hub, [alice, bob], (round, modelHash) => [
      payload(1, round, modelHash),
      payload(2, round + 1, modelHash),
    ]);
    const decision = await until(`round ${round}'s decision`, async () => (await hub.chain!.decision(round))?.decision);
    expect(decision.payloadHashes).toHaveLength(1);

    const wall = await wallOf(hub);
    const shown = wall.rounds.find((r) => r.round === round)!;
    expect(shown).toMatchObject({
      round,
      decided: true,
      bytes: sent[0]!.length + sent[1]!.length,
      modelHash: decision.modelHash.slice(2),
      loss: null,
    });
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

  it("is the first hub's on a hub that joined the run with --bootstrap (it forwards /api/ there)", async () => {
    const joined = await startHub({
      port: 0,
      dataDir: tempDir('wall-relay'),
      appDir: appDir(),
      bootstrap: [hub.multiaddrs[0]!],
    });
    try {
      const [viaJoined, viaFirst] = [await wallOf(joined), await wallOf(hub)];
      expect(joined.runId).toBe(hub.runId);
      expect(viaJoined.runId).toBe(viaFirst.runId);
      expect(viaJoined.peerCount).toBe(viaFirst.peerCount);
    } finally {
      await joined.stop();
    }
  });
});

describe('GET /api/wall with many registrations', () => {
  it('lists the first 100 peers whatever the number registered, and pages through all of them', async () => {
    const hub = await startHub({
      port: 0,
      dataDir: tempDir('wall-many'),
      appDir: appDir(),
      runId: RUN,
      run: { blockTimeMs: 100, blocksPerRound: 30, bindingWorkBits: 0 },
    });
    try {
      const REGISTERED = 150;
      const sessions = await Promise.all(
        Array.from({ length: REGISTERED }, async () =>
          Session.start(await createBurnerSigner(), { run: RUN, peer: SigningKey.generate('ed25519') }),
        ),
      );
      await Promise.all(sessions.map((s) => hub.chain!.register(s.signed)));
      const wall = await wallOf(hub);
      expect([wall.peerCount, wall.peers.length]).toEqual([REGISTERED, WALL_PEERS]);
      const paged: string[] = [];
      for (let offset = 0; offset < REGISTERED; offset += 40) {
        const page = (await (await fetch(`${hub.http}/api/wall/peers?offset=${offset}&limit=40`)).json()) as WallPeersPage;
        expect([page.total, page.offset]).toEqual([REGISTERED, offset]);
        paged.push(...page.peers.map((p) => p.hotkey));
      }
      expect(paged.slice(0, WALL_PEERS)).toEqual(wall.peers.map((p) => p.hotkey));
      expect(new Set(paged)).toEqual(new Set(sessions.map((s) => s.signed.binding.hotkey)));
      for (const bad of ['offset=-1', 'limit=0', 'limit=101', 'offset=1e1'])
        expect((await fetch(`${hub.http}/api/wall/peers?${bad}`)).status, bad).toBe(400);
    } finally {
      await hub.stop();
    }
  });
});

describe('GET /api/wall with the Gauntlet deciding', () => {
  let hub: Hub;
  let validator: Validator;

  beforeAll(async () => {
    const rt = await testRuntime();
    const data = await ensureShards('bytes');
    validator = await Validator.create(rt, {
      runId: RUN,
      config: preset('tiny'),
      trainTokens: data.train.tokens,
      seqLen: 16,
      secret: 'wall',
    });
    hub = await startHub({
      port: 0,
      dataDir: tempDir('wall-gauntlet'),
      appDir: appDir(),
      runId: RUN,
      run: { blockTimeMs: 100, blocksPerRound: 30, seqLen: 16, bindingWorkBits: 8, bindingAgeRounds: 0 },
      gauntlet: validator,
    });
  }, 300_000);

  afterAll(async () => {
    await hub?.stop();
    validator?.destroy();
  });

  it("shows the Gauntlet's loss of the round's model, each peer's score and why a payload was refused", async () => {
    const start = async () =>
      Session.start(await createBurnerSigner(), {
        run: RUN,
        peer: SigningKey.generate('ed25519'),
        workBits: hub.chain!.bindingRules.workBits,
      });
    const [honest, garbled] = await Promise.all([start(), start()]);
    await Promise.all([hub.chain!.register(honest.signed), hub.chain!.register(garbled.signed)]);
    const { round } = await commitInOneRound(hub, [honest, garbled], (round, modelHash) => [
      payload(3, round, modelHash),
      new TextEncoder().encode('not a payload '.repeat(20)),
    ]);
    const judged = await until(
      `the Gauntlet's record of round ${round}`,
      async () => {
        const res = await fetch(`${hub.http}/api/gauntlet/rounds/${round}`);
        return res.ok ? ((await res.json()) as JudgedRoundRecord) : undefined;
      },
      120_000,
    );
    const measured = judged.record.measurements.find((m) => m.hotkey === honest.signed.binding.hotkey)!;
    expect(measured.lossBeforeRandom).toBeGreaterThan(0);

    const wall = await wallOf(hub);
    expect(wall.validator).toBe('gauntlet');
    const shown = wall.rounds.find((r) => r.round === round)!;
    expect(shown.loss).toBe(measured.lossBeforeRandom);
    expect(wall.loss).toContainEqual({ round, loss: measured.lossBeforeRandom });
    const scoreOf = (hotkey: string) => judged.record.scores.find((s) => s.hotkey === hotkey)!.final;
    expect(shown.peers).toEqual([
      {
        hotkey: honest.signed.binding.hotkey,
        bytes: expect.any(Number) as number,
        // A newcomer's payload counts only if its evaluation admits it (this one is noise: it may not).
        included: judged.record.gathered.includes(honest.signed.binding.hotkey),
        score: scoreOf(honest.signed.binding.hotkey),
        rejected: null,
      },
      {
        hotkey: garbled.signed.binding.hotkey,
        bytes: 280,
        included: false,
        score: scoreOf(garbled.signed.binding.hotkey),
        rejected: 'malformed',
      },
    ]);
    // A peer's score is its standing now; the honest one was evaluated, the garbled one never was.
    const standing = validator.ranking().find((s) => s.hotkey === honest.signed.binding.hotkey)!;
    expect(wall.peers.find((p) => p.hotkey === honest.signed.binding.hotkey)!.score).toBe(standing.final);
    expect(wall.peers.find((p) => p.hotkey === garbled.signed.binding.hotkey)!.score).toBeNull();
  }, 180_000);
});
