// A hub and two Node peers on loopback: gossip crosses the hub, a committed payload is copied
// into the hub's store and fetched from there by another peer, malformed gossip and announcements
// without a registered session binding are rejected and reported while the nodes keep working;
// the HTTP side serves the app and the API and answers bad requests with JSON errors; the hub
// keeps its peer id and run id across restarts.
import type { RunInfo } from '../../src/run/api.ts';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../src/hub/hub.ts';
import { MemoryContentStore } from '../../src/swarm/content.ts';
import { contentHash } from '../../src/base/content-hash.ts';
import { signAnnouncement, type Announcement, type SignedAnnouncement } from '../../src/identity/announcement.ts';
import { createBurnerSigner } from '../../src/identity/burner.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { SigningKey, cryptoReady } from '../../src/identity/keys.ts';
import { peerSigningKey } from '../../src/identity/peer-id.ts';
import { Session } from '../../src/identity/session.ts';
import { compressDense } from '../../src/engine/adversary.ts';
import { preset } from '../../src/model/config.ts';
import { parameterLayout } from '../../src/model/layout.ts';
import { encodeUpdate, wireLayoutOf } from '../../src/sparseloco/codec.ts';
import { createNodePeer } from '../../src/swarm/node-peer.ts';
import { PAYLOAD_PROTOCOL, announceTopic } from '../../src/swarm/protocol.ts';
import { Swarm } from '../../src/swarm/swarm.ts';
import { until } from '../helpers/until.ts';

const RUN = 'test-hub';
const hex = (byte: string): Hex => `0x${byte.repeat(32)}`;

/** A session's signed announcement of `payloadHash` for round 0 (the round the test chain stays in). */
function announcementOf(session: Session, fields: Partial<Announcement>): SignedAnnouncement {
  return signAnnouncement(session.key, {
    kind: 'webloco/announcement/v1',
    run: RUN,
    round: 0,
    binding: session.id,
    baseModelHash: hex('02'),
    payloadHash: hex('0e'),
    bytes: 10,
    nonce: 0,
    ...fields,
  });
}

function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `webloco-${name}-`));
}

function appDir(): string {
  const dir = tempDir('app');
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>WebLoCo</title>');
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'assets', 'app.js'), 'console.log(1)');
  return dir;
}

async function peerOf(hub: Hub, acceptGossip?: ConstructorParameters<typeof Swarm>[0]['acceptGossip']): Promise<Swarm> {
  const node = await createNodePeer({ runId: hub.runId, webrtc: false, dialPrivateAddresses: true, discoveryIntervalMs: 500 });
  const swarm = new Swarm({
    node,
    runId: hub.runId,
    store: new MemoryContentStore(),
    keepConnected: hub.multiaddrs.map((a) => multiaddr(a)),
    acceptGossip,
  });
  await swarm.start();
  return swarm;
}

/** A raw GET, so that the path reaches the server exactly as written (fetch() normalizes it). */
function get(base: string, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((done, fail) => {
    const req = request({ hostname, port, path, method }, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (c) => (body += c))
        .on('end', () => done({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', fail).end();
  });
}

describe('hub with two Node peers', () => {
  let hub: Hub;
  let alice: Swarm;
  let bob: Swarm;
  let session: Session;

  beforeAll(async () => {
    await cryptoReady();
    // A mounted route (as the dev chain's API is mounted) answers before the hub's own.
    const routes = [
      async (req: IncomingMessage, res: ServerResponse) => {
        if (!req.url?.startsWith('/api/mounted')) return false;
        res.writeHead(201).end('mounted');
        return true;
      },
    ];
    // Fast blocks, long rounds: the whole test runs inside round 0.
    hub = await startHub({
      port: 0,
      dataDir: tempDir('hub'),
      appDir: appDir(),
      runId: RUN,
      discoveryIntervalMs: 500,
      routes,
      run: { blockTimeMs: 100, blocksPerRound: 10_000, bindingWorkBits: 8 },
    });
    alice = await peerOf(hub);
    // The hub accepts announcements signed by a session whose binding is registered on its chain.
    session = await Session.start(await createBurnerSigner(), {
      run: RUN,
      peer: SigningKey.generate('ed25519'),
      workBits: hub.chain!.bindingRules.workBits,
    });
    await hub.chain!.register(session.signed);
    // Bob's round logic refuses nonce 99 (standing in for identity's full verification).
    bob = await peerOf(hub, {
      announcement: (signed) => {
        if (signed.announcement.nonce === 99) throw new Error('replayed nonce');
      },
    });
  });

  afterAll(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await hub?.stop();
  });

  it('carries an announcement from one peer to the other', async () => {
    const received = new Promise<{ from: string; message: SignedAnnouncement }>((done) =>
      bob.addEventListener('announcement', (e) => done(e.detail), { once: true }),
    );
    // Gossipsub builds its mesh on heartbeats: publish until a message gets through (each with
    // its own nonce: the hub refuses a replayed one).
    let nonce = 100;
    const got = await until('the announcement at bob', async () => {
      await alice.announce(announcementOf(session, { nonce: nonce++ }));
      return Promise.race([received, new Promise<undefined>((r) => setTimeout(r, 300))]);
    });
    expect(got.from).toBe(alice.peerId);
    expect(got.message.announcement.binding).toBe(session.id);
  });

  it('copies a committed payload into the hub store from the committer; another peer fetches it from the hub', async () => {
    // The hub copies what the chain vouches for, from the peer the committing binding names.
    const privateKey = await generateKeyPair('Ed25519');
    const carol = new Swarm({
      node: await createNodePeer({ runId: RUN, privateKey, webrtc: false, dialPrivateAddresses: true }),
      runId: RUN,
      store: new MemoryContentStore(),
      keepConnected: hub.multiaddrs.map((a) => multiaddr(a)),
    });
    await carol.start();
    try {
      const committer = await Session.start(await createBurnerSigner(), {
        run: RUN,
        peer: peerSigningKey(privateKey),
        workBits: hub.chain!.bindingRules.workBits,
      });
      await hub.chain!.register(committer.signed);
      const { round, modelHash } = hub.state()!;
      const layout = parameterLayout(preset('tiny'));
      const update = compressDense(
        layout.tensors.map((t) => new Float32Array(t.shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i) * 1e-3)),
        layout.tensors,
      );
      const payload = encodeUpdate(
        { runId: RUN, round, baseModelHash: Buffer.from(modelHash, 'hex') },
        update,
        wireLayoutOf(layout.tensors),
      );
      const hash = await carol.store.put(payload);
      await hub.chain!.commit(
        committer.announce({ round, baseModelHash: `0x${modelHash}`, payloadHash: `0x${hash}`, bytes: payload.byteLength }),
      );
      await until('the hub to hold the payload', () => hub.store.has(hash));
      const bytes = await bob.fetch(PAYLOAD_PROTOCOL, hub.swarm.peerId, hash);
      expect(contentHash(bytes)).toBe(hash);
      const viaHttp = await fetch(`${hub.http}/api/objects/${hash}`);
      expect(viaHttp.status).toBe(200);
      expect(new Uint8Array(await viaHttp.arrayBuffer())).toEqual(payload);
    } finally {
      await carol.stop();
    }
  });

  it('rejects malformed, oversized and refused gossip, reports it, and keeps delivering good messages', async () => {
    const reasons: string[] = [];
    hub.swarm.addEventListener('invalid-message', (e) => reasons.push(e.detail.reason));
    const refusedByBob: string[] = [];
    bob.addEventListener('invalid-message', (e) => refusedByBob.push(e.detail.reason));
    const pubsub = alice.node.services.pubsub;
    const topic = announceTopic(RUN);
    await pubsub.publish(topic, new TextEncoder().encode('{"announcement": not json'));
    const badHash = announcementOf(session, { nonce: 2 });
    await pubsub.publish(
      topic,
      new TextEncoder().encode(JSON.stringify({ ...badHash, announcement: { ...badHash.announcement, payloadHash: 'nope' } })),
    );
    await pubsub.publish(topic, new Uint8Array(5000).fill(0x20));
    // Well-formed and signed, but by a session key whose binding the chain has never seen.
    await alice.announce(
      signAnnouncement(SigningKey.generate('ed25519'), { ...announcementOf(session, { nonce: 3 }).announcement, binding: hex('01') }),
    );
    await until('four rejections at the hub', () => reasons.length >= 4 || undefined);
    expect(reasons.join('\n')).toMatch(/not UTF-8 JSON/);
    expect(reasons.join('\n')).toMatch(/payloadHash must be 0x/);
    expect(reasons.join('\n')).toMatch(/exceeds the 4096-byte limit/);
    expect(reasons.join('\n')).toMatch(/binding .* is not known here/);
    // Well-formed, but Bob's own check refuses it: he reports it and does not deliver it.
    await alice.announce(announcementOf(session, { nonce: 99 }));
    await until('bob to refuse nonce 99', () => refusedByBob.some((r) => r.includes('replayed nonce')) || undefined);
    // A topic outside the run's is not delivered anywhere; the nodes carry on.
    await pubsub.publish('/webloco/other-run/announce/1', new TextEncoder().encode('{}')).catch(() => undefined);
    const good = announcementOf(session, { nonce: 4 });
    const received = new Promise<SignedAnnouncement>((done) =>
      bob.addEventListener('announcement', (e) => e.detail.message.announcement.nonce === 4 && done(e.detail.message)),
    );
    await alice.announce(good);
    expect(await received).toEqual(good);
  });

  it('lists its peers and their links in GET /api/run', async () => {
    const res = await fetch(`${hub.http}/api/run`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const run = (await res.json()) as RunInfo;
    expect(run).toMatchObject({ runId: RUN, settings: { preset: 'tiny' }, round: 0, checkpoint: { round: 0 } });
    expect(run.modelHash).toMatch(/^[0-9a-f]{64}$/); // H of θ_0
    const ids = run.peers.map((p) => p.peerId);
    expect(ids).toEqual(expect.arrayContaining([alice.peerId, bob.peerId]));
    expect(run.peers.find((p) => p.peerId === alice.peerId)!.links[0]!.kind).toBe('websockets');
  });

  it('serves the app, falls back to index.html for routes, and answers bad requests with JSON errors', async () => {
    const index = await get(hub.http, '/');
    expect([index.status, index.type]).toEqual([200, 'text/html; charset=utf-8']);
    expect((await get(hub.http, '/assets/app.js')).type).toBe('text/javascript; charset=utf-8');
    expect((await get(hub.http, '/dashboard/wall')).body).toContain('<title>WebLoCo</title>');
    expect(await get(hub.http, '/api/mounted', 'POST')).toMatchObject({ status: 201, body: 'mounted' });
    const cases: [string, number, RegExp, string?][] = [
      ['/assets/missing.js', 404, /no file/],
      ['/api/nothing', 404, /no API route/],
      ['/api/objects/zz', 400, /64 lowercase hex/],
      ['/api/objects/0xzz', 400, /64 lowercase hex/],
      [`/api/objects/${'0'.repeat(64)}`, 404, /not in this hub's store/],
      ['/%E0%A4%A', 400, /malformed URL/],
      ['/..%2f..%2f..%2fetc%2fpasswd', 400, /outside the app/],
      ['/assets/..%2f..%2f..%2fetc%2fpasswd', 400, /outside the app/],
      ['/api/run', 405, /not allowed/, 'POST'],
      [`/${'a'.repeat(3000)}`, 414, /URL longer/],
    ];
    for (const [path, status, error, method] of cases) {
      const res = await get(hub.http, path, method);
      expect([path, res.status, res.type]).toEqual([path, status, 'application/json; charset=utf-8']);
      expect((JSON.parse(res.body) as { error: string }).error).toMatch(error);
    }
    // Dot segments written literally are resolved by URL parsing, so they stay inside the app.
    const dotted = await get(hub.http, '/../../etc/passwd');
    expect(dotted.body).not.toMatch(/root:/);
    expect((await get(hub.http, '/api/run')).status).toBe(200);
  });
});

describe('hub restarts', () => {
  it('a peer redials its hub with backoff after the hub comes back', async () => {
    const dataDir = tempDir('hub-redial');
    const first = await startHub({ port: 0, dataDir, appDir: appDir(), runId: 'redial-run' });
    const port = Number(new URL(first.http).port);
    const node = await createNodePeer({ runId: first.runId, webrtc: false, dialPrivateAddresses: true });
    const peer = new Swarm({
      node,
      runId: first.runId,
      store: new MemoryContentStore(),
      keepConnected: first.multiaddrs.map((a) => multiaddr(a)),
      maxRedialDelayMs: 1_000,
    });
    await peer.start();
    try {
      await until('the first link', () => first.swarm.links().some((l) => l.peer === peer.peerId) || undefined);
      await first.stop();
      await until('the peer to notice', () => peer.links().length === 0 || undefined);
      const second = await startHub({ port, dataDir, appDir: appDir() });
      try {
        await until('the peer to redial', () => second.swarm.links().some((l) => l.peer === peer.peerId) || undefined, 15_000);
      } finally {
        await second.stop();
      }
    } finally {
      await peer.stop();
    }
  });

  it('keeps its peer id and run id in its data dir, and refuses another run id there', async () => {
    const dataDir = tempDir('hub-restart');
    const first = await startHub({ port: 0, dataDir, appDir: appDir(), runId: 'restart-run' });
    const { peerId } = first.swarm;
    await first.stop();
    const second = await startHub({ port: 0, dataDir, appDir: appDir() });
    expect([second.swarm.peerId, second.runId]).toEqual([peerId, 'restart-run']);
    await second.stop();
    await expect(startHub({ port: 0, dataDir, runId: 'another-run' })).rejects.toThrow(/belongs to run 'restart-run'/);
  });
});
