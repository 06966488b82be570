// What a stranger can make a hub store, and for how long (issue 18). A binding gossips 2,000
// announcements in one round and the hub stores none of them: it copies only committed payloads
// (one commit per binding per round), from the committer's own peer, no longer than the longest
// valid payload, and only those whose header is their commit's: a committed junk payload and a
// committed oversized one are left out and not stored either (the oversized one never fetched). And a 100-round
// run (take-all, 300 ms rounds, retention 5 rounds, a synthetic payload committed every round) keeps its disk bounded:
// objects, checkpoints and records older than the retention window expire, the hub refuses the
// expired rounds with 410, and what joining needs is still served. The disk use is printed.
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, describe, expect, it } from 'vitest';
import { contentHash } from '../../src/base/content-hash.ts';
import { compressDense, gaussianSource } from '../../src/engine/adversary.ts';
import { startHub, type Hub } from '../../src/hub/hub.ts';
import { createBurnerSigner } from '../../src/identity/burner.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { cryptoReady } from '../../src/identity/keys.ts';
import { peerSigningKey } from '../../src/identity/peer-id.ts';
import { Session } from '../../src/identity/session.ts';
import { preset } from '../../src/model/config.ts';
import { parameterLayout } from '../../src/model/layout.ts';
import type { Retention, RoundRecord, RunInfo } from '../../src/run/api.ts';
import { encodeUpdate, maxPayloadBytes, wireLayoutOf } from '../../src/sparseloco/codec.ts';
import { MemoryContentStore } from '../../src/swarm/content.ts';
import { createNodePeer } from '../../src/swarm/node-peer.ts';
import { Swarm } from '../../src/swarm/swarm.ts';
import { until } from '../helpers/until.ts';

const RUN = 'test-storage';
const layout = parameterLayout(preset('tiny'));
const wire = wireLayoutOf(layout.tensors);
const FAST_BINDINGS = { bindingWorkBits: 0, bindingAgeRounds: 0 };

function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `webloco-${name}-`));
}

function appDir(): string {
  const dir = tempDir('app');
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>WebLoCo</title>');
  return dir;
}

/** A compressed, encoded update of seeded noise for `round` against H (hex), as a peer would send. */
function payload(seed: number, round: number, modelHash: string): Uint8Array {
  const gaussian = gaussianSource(seed);
  const update = compressDense(
    layout.tensors.map((t) => Float32Array.from({ length: t.shape.reduce((a, b) => a * b, 1) }, () => 1e-3 * gaussian())),
    layout.tensors,
  );
  return encodeUpdate({ runId: RUN, round, baseModelHash: Buffer.from(modelHash, 'hex') }, update, wire);
}

/** Bytes under a folder, and how many files. */
function diskUse(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  if (!existsSync(dir)) return { bytes, files };
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    bytes += statSync(join(entry.parentPath, entry.name)).size;
    files++;
  }
  return { bytes, files };
}

/** The payload objects a hub holds: every object but its checkpoints. */
async function payloadObjects(hub: Hub, dataDir: string): Promise<string[]> {
  const checkpoints = new Set(
    ((await (await fetch(`${hub.http}/api/retention`)).json()) as Retention).checkpoints.map((c) => c.objectHash),
  );
  return readdirSync(join(dataDir, 'objects')).filter((name) => !checkpoints.has(name));
}

describe('what a hub stores', () => {
  const hubs: Hub[] = [];
  const peers: Swarm[] = [];
  afterAll(async () => {
    for (const peer of peers) await peer.stop();
    for (const hub of hubs) await hub.stop();
  });

  it('2,000 announcements from one binding in one round store nothing; of its commit only the payload; a committed junk or oversized payload not at all', async () => {
    await cryptoReady();
    const dataDir = tempDir('storage-flood');
    // 10 s rounds: the flood and the commits fit in one.
    const hub = await startHub({
      port: 0,
      dataDir,
      appDir: appDir(),
      runId: RUN,
      run: { blockTimeMs: 50, blocksPerRound: 200, ...FAST_BINDINGS },
    });
    hubs.push(hub);
    const privateKey = await generateKeyPair('Ed25519');
    // Alice serves every object asked for, and notes which the hub asked for.
    const asked: string[] = [];
    const store = new MemoryContentStore();
    const alice = new Swarm({
      node: await createNodePeer({ runId: RUN, privateKey, webrtc: false, dialPrivateAddresses: true, discoveryIntervalMs: 500 }),
      runId: RUN,
      store: { get: (hash) => (asked.push(hash), store.get(hash)), put: (bytes) => store.put(bytes), has: (hash) => store.has(hash) },
      keepConnected: hub.multiaddrs.map((a) => multiaddr(a)),
    });
    await alice.start();
    peers.push(alice);
    const [flooder, junker, bloater] = await Promise.all(
      [1, 2, 3].map(async () => Session.start(await createBurnerSigner(), { run: RUN, peer: peerSigningKey(privateKey) })),
    );
    await Promise.all([flooder!, junker!, bloater!].map((s) => hub.chain!.register(s.signed)));
    await until('the hub to link alice', () => hub.swarm.links().some((l) => l.peer === alice.peerId) || undefined);
    let received = 0;
    hub.swarm.addEventListener('announcement', () => received++);
    // Gossipsub builds its mesh on heartbeats: announce (nothing worth copying) until one gets through.
    await until('gossip to reach the hub', async () => {
      const { round, modelHash } = hub.state()!;
      await alice.announce(
        flooder!.announce({ round, baseModelHash: `0x${modelHash}` as Hex, payloadHash: `0x${'0'.repeat(64)}` as Hex, bytes: 1 }),
      );
      await new Promise((r) => setTimeout(r, 200));
      return received > 0 || undefined;
    });
    received = 0;

    const round = await until('the start of a round', () => {
      const position = hub.chain!.clock.position(hub.chain!.headBlock());
      return position.blocksLeft > 150 && hub.state()!.round === position.round ? position.round : undefined;
    });
    const { modelHash } = hub.state()!;
    // 2,000 announcements of payloads alice serves, all for this round, none committed.
    const FLOOD = 2_000;
    for (let i = 0; i < FLOOD; i++) {
      const bytes = crypto.getRandomValues(new Uint8Array(200 + i)); // junk nobody commits
      const hash = await alice.store.put(bytes);
      await alice.announce(
        flooder!.announce({ round, baseModelHash: `0x${modelHash}` as Hex, payloadHash: `0x${hash}` as Hex, bytes: bytes.length }),
      );
    }
    // Then one commit each: the flooder's real payload, the junker's junk (not a payload of this
    // round), the bloater's object one byte longer than the longest valid payload.
    const real = payload(7, round, modelHash);
    const junk = new TextEncoder().encode('not a payload '.repeat(40));
    const bloat = new Uint8Array(maxPayloadBytes(wire) + 1).fill(7);
    const [realHash, junkHash, bloatHash] = await Promise.all([real, junk, bloat].map((bytes) => alice.store.put(bytes)));
    const announce = (session: Session, hash: string, bytes: Uint8Array) =>
      session.announce({ round, baseModelHash: `0x${modelHash}` as Hex, payloadHash: `0x${hash}` as Hex, bytes: bytes.length });
    await hub.chain!.commit(announce(flooder!, realHash!, real));
    await hub.chain!.commit(announce(junker!, junkHash!, junk));
    await hub.chain!.commit(announce(bloater!, bloatHash!, bloat));
    // A second commit of the flooder in the round is refused by the chain: one per binding per round.
    const second = payload(8, round, modelHash);
    await expect(hub.chain!.commit(announce(flooder!, await alice.store.put(second), second))).rejects.toThrow(
      /already committed a payload in round/,
    );

    // Copied as soon as the commit is in a block, or else fetched when the round closes.
    const record = await until(
      `round ${round}'s record`,
      async () => {
        const res = await fetch(`${hub.http}/api/rounds/${round}`);
        return res.ok ? ((await res.json()) as RoundRecord) : undefined;
      },
      60_000,
    );
    await hub.coordinator!.stop(); // no more rounds decided (nor checkpoints written) while the store is checked
    const held = await payloadObjects(hub, dataDir);
    console.log(
      `the hub received ${received} of the ${FLOOD} gossiped announcements; it holds ${held.length} payload (${held.join(', ')})`,
    );
    expect(received).toBeGreaterThanOrEqual(100); // gossip under load drops some; every one that arrived counts
    expect(record.payloadHashes).toEqual([realHash]);
    expect(record.excluded).toEqual([
      expect.objectContaining({ payloadHash: junkHash, reason: 'header-mismatch' }),
      expect.objectContaining({ payloadHash: bloatHash, reason: 'too-large' }),
    ]);
    expect(await payloadObjects(hub, dataDir)).toEqual([realHash]);
    expect(await hub.store.has(junkHash!)).toBe(false);
    // The hub asked alice for the two committed payloads it could take, never for an announced one or the oversized one.
    expect(new Set(asked)).toEqual(new Set([realHash, junkHash]));
  }, 120_000);

  it('keeps a 100-round run on a bounded disk: old payloads, checkpoints and records expire, the latest stay', async () => {
    await cryptoReady();
    const RETAIN = 5;
    const ROUNDS = 100;
    const dataDir = tempDir('storage-100');
    const hub = await startHub({
      port: 0,
      dataDir,
      appDir: appDir(),
      runId: RUN,
      run: { blockTimeMs: 50, blocksPerRound: 6, checkpointEvery: 1, ...FAST_BINDINGS },
      retainRounds: RETAIN,
    });
    hubs.push(hub);
    const session = await Session.start(await createBurnerSigner(), { run: RUN, peer: peerSigningKey(await generateKeyPair('Ed25519')) });
    await hub.chain!.register(session.signed);

    const committed = new Map<number, string>();
    const samples: { round: number; objects: number; bytes: number; records: number }[] = [];
    let included = 0;
    while (hub.state()!.round < ROUNDS) {
      const { round, modelHash } = hub.state()!;
      const position = hub.chain!.clock.position(hub.chain!.headBlock());
      if (position.round === round && !committed.has(round) && position.blocksLeft >= 2) {
        const bytes = payload(round, round, modelHash);
        const hash = await hub.store.put(bytes);
        await hub
          .chain!.commit(
            session.announce({ round, baseModelHash: `0x${modelHash}` as Hex, payloadHash: `0x${hash}` as Hex, bytes: bytes.length }),
          )
          .then(() => committed.set(round, hash))
          .catch(() => undefined); // the round closed first: commit in the next one
      }
      if (round % 10 === 0 && samples.at(-1)?.round !== round) {
        const objects = diskUse(join(dataDir, 'objects'));
        const records = diskUse(join(dataDir, 'rounds')).bytes;
        samples.push({ round, objects: objects.files, bytes: objects.bytes + records, records });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await hub.coordinator!.stop(); // no more decisions, so nothing expires while the rest is checked
    for (const [round, hash] of committed) if ((await hub.chain!.decision(round))?.decision.payloadHashes.includes(`0x${hash}`)) included++;
    const chain = statSync(join(dataDir, 'chain.sqlite')).size;
    console.log(
      `retention ${RETAIN} rounds; disk use by round (objects and round records, bytes): ${samples.map((s) => `${s.round}: ${s.bytes} (${s.objects} objects)`).join(', ')}; chain.sqlite ${chain} bytes; ${committed.size} payloads committed, ${included} decided`,
    );
    expect(committed.size).toBeGreaterThan(ROUNDS / 2);
    expect(included).toBeGreaterThan(ROUNDS / 2);

    // At most 2K rounds of payloads and records, the base checkpoints and the newest.
    const retention = (await (await fetch(`${hub.http}/api/retention`)).json()) as Retention;
    const current = hub.state()!.round;
    expect(retention.retainRounds).toBe(RETAIN);
    expect(retention.fromRound).toBeGreaterThanOrEqual(current - 2 * RETAIN);
    expect(retention.checkpoints.length).toBeLessThanOrEqual(4);
    // The policy's bound, whatever the run's length: the kept checkpoints (two bases, the newest two)
    // and one being written, 2K + 2 rounds of payloads and round records.
    const bound = 5 * retention.checkpoints[0]!.bytes + (2 * RETAIN + 2) * (maxPayloadBytes(wire) + 8_192);
    expect(Math.max(...samples.map((s) => s.bytes))).toBeLessThanOrEqual(bound);
    expect((await payloadObjects(hub, dataDir)).length).toBeLessThanOrEqual(2 * RETAIN + 1);
    expect(readdirSync(join(dataDir, 'rounds')).length).toBeLessThanOrEqual(2 * RETAIN + 1);

    // The oldest rounds are gone, and refused with a reason; the latest are all there.
    const first = Math.min(...committed.keys());
    expect((await fetch(`${hub.http}/api/objects/${committed.get(first)}`)).status).toBe(404);
    const gone = await fetch(`${hub.http}/api/rounds/${first}`);
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as { error: string }).error).toMatch(/older than this hub keeps/);
    for (const [round, hash] of committed) {
      if (round < retention.fromRound) continue;
      expect((await fetch(`${hub.http}/api/objects/${hash}`)).status, `round ${round}'s payload`).toBe(200);
    }
    // Joining still works: the checkpoint GET /api/run names is served.
    const info = (await (await fetch(`${hub.http}/api/run`)).json()) as RunInfo;
    const checkpoint = await fetch(`${hub.http}/api/objects/${info.checkpoint!.objectHash}`);
    expect(contentHash(new Uint8Array(await checkpoint.arrayBuffer()))).toBe(info.checkpoint!.objectHash);
  }, 180_000);
});
