// A hub facing strangers' bytes (issue 18): malformed WebSocket frames on its libp2p port close
// that connection only, and the hub goes on answering HTTP, serving objects and deciding rounds;
// its HTTP side closes the connection on a body it refuses early, refuses JSON nested too deep
// with a 400 and `?from=` that is not plain digits, and limits each address (429 with
// Retry-After), the chain's POST included; its relay limits relayed connections and reservations
// per address, and WebRTC links still form through it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHubHttpServer } from '../../src/hub/http.ts';
import { startHub, type Hub } from '../../src/hub/hub.ts';
import { DiskContentStore } from '../../src/hub/object-store.ts';
import type { RunInfo } from '../../src/run/api.ts';
import { MemoryContentStore } from '../../src/swarm/content.ts';
import { isDirectWebRTC } from '../../src/swarm/direct-links.ts';
import { createNodePeer } from '../../src/swarm/node-peer.ts';
import { PAYLOAD_PROTOCOL } from '../../src/swarm/protocol.ts';
import { Swarm } from '../../src/swarm/swarm.ts';
import { until } from '../helpers/until.ts';

function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `webloco-${name}-`));
}

/** host and port of a multiaddr like /ip4/127.0.0.1/tcp/PORT/ws/p2p/… */
function tcpOf(address: string): { host: string; port: number } {
  const [, , host, , port] = address.split('/');
  return { host: host!, port: Number(port) };
}

/** Opens a raw TCP connection and reads everything that comes back until the server closes it. */
function rawConnection(target: { host: string; port: number }): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void> }> {
  return new Promise((ready, fail) => {
    const chunks: Buffer[] = [];
    const socket = connect(target.port, target.host, () => ready({ socket, received: () => Buffer.concat(chunks), closed }));
    socket.on('data', (c: Buffer) => chunks.push(c));
    // A reset is a close too: what counts is that the server ended this connection.
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    socket.on('error', (err) => fail(err));
  });
}

const UPGRADE = [
  'GET / HTTP/1.1',
  'Host: hub',
  'Upgrade: websocket',
  'Connection: Upgrade',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Version: 13',
  '',
  '',
].join('\r\n');

const MASK = [0x11, 0x22, 0x33, 0x44];
/** A client frame: first byte (FIN, RSV, opcode), then the masked payload. */
function maskedFrame(first: number, payload: number[]): Buffer {
  return Buffer.from([first, 0x80 | payload.length, ...MASK, ...payload.map((b, i) => b ^ MASK[i % 4]!)]);
}
/** A frame header that declares `length` bytes (64-bit length form) and sends none of them. */
function declaredLength(length: number): Buffer {
  const header = Buffer.from([0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, ...MASK]);
  header.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
  header.writeUInt32BE(length % 2 ** 32, 6);
  return header;
}

const MALFORMED_FRAMES: [string, Buffer][] = [
  ['a declared length over 100 MiB', declaredLength(256 * 1024 * 1024)],
  ['a declared length over the 256 KiB message limit', declaredLength(300 * 1024)],
  ['a reserved opcode', maskedFrame(0x83, [])],
  ['an unmasked client frame', Buffer.from([0x82, 0x02, 0x00, 0x00])],
  ['RSV1 set without an extension', maskedFrame(0xc2, [1])],
  ['close code 1006', maskedFrame(0x88, [0x03, 0xee])],
  ['invalid UTF-8 in a text frame', maskedFrame(0x81, [0xff])],
  ['a fragmented ping', maskedFrame(0x09, [])],
];

describe('a hub facing strangers', () => {
  let hub: Hub;

  beforeAll(async () => {
    const app = tempDir('app');
    writeFileSync(join(app, 'index.html'), '<!doctype html><title>WebLoCo</title>');
    // Take-all (no Gauntlet, no GPU), half-second rounds.
    hub = await startHub({
      port: 0,
      dataDir: tempDir('hub'),
      appDir: app,
      runId: 'open-internet',
      run: { blockTimeMs: 100, blocksPerRound: 5 },
    });
  });

  afterAll(async () => {
    await hub?.stop();
  });

  it('closes only the connection that sent a malformed WebSocket frame, and keeps serving and deciding', async () => {
    const target = tcpOf(hub.multiaddrs[0]!);
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      await Promise.all(
        MALFORMED_FRAMES.map(async ([what, frame]) => {
          const { socket, received, closed } = await rawConnection(target);
          socket.write(UPGRADE);
          await until(`the upgrade before sending ${what}`, () => received().toString('latin1').startsWith('HTTP/1.1 101'));
          socket.write(frame);
          await closed;
        }),
      );
      // One line per closed connection.
      const lines = logged.mock.calls.map((args) => args.map(String).join(' ')).filter((l) => l.startsWith('p2p: closed the WebSocket'));
      expect(lines).toHaveLength(MALFORMED_FRAMES.length);
      for (const line of lines) expect(line).toMatch(/^p2p: closed the WebSocket connection from 127\.0\.0\.1:\d+: [^\n]+$/);
    } finally {
      logged.mockRestore();
    }

    // HTTP still answers, a libp2p peer still connects and fetches an object, rounds are still decided.
    expect((await fetch(`${hub.http}/api/run`)).status).toBe(200);
    const object = new TextEncoder().encode('still here');
    const hash = await hub.store.put(object);
    const node = await createNodePeer({ runId: hub.runId, webrtc: false, dialPrivateAddresses: true });
    const peer = new Swarm({
      node,
      runId: hub.runId,
      store: new MemoryContentStore(),
      keepConnected: hub.multiaddrs.map((a) => multiaddr(a)),
    });
    try {
      await peer.start();
      expect(await peer.fetch(PAYLOAD_PROTOCOL, hub.swarm.peerId, hash)).toEqual(object);
      const round = hub.state()!.round;
      await until('the next decided round', () => hub.state()!.round > round);
    } finally {
      await peer.stop();
    }
  });

  /** Sends `head` and then `body` bytes of a request on a raw socket; what came back once the server closed it. */
  async function refusedEarly(head: string, body: Buffer): Promise<string> {
    const { socket, received, closed } = await rawConnection(tcpOf(`/ip4/127.0.0.1/tcp/${new URL(hub.http).port}`));
    socket.write(head);
    socket.write(body);
    await closed; // the server closes the connection; this test never ends its side
    return received().toString('latin1');
  }

  it('answers a body it refuses before reading it with Connection: close, and closes the connection', async () => {
    const oversized = await refusedEarly(
      'POST /api/chain/extrinsics HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n',
      Buffer.alloc(200 * 1024, 0x20),
    );
    expect(oversized).toMatch(/^HTTP\/1\.1 413 /);
    expect(oversized).toMatch(/\r\nconnection: close\r\n/i);
    expect(oversized).toContain('"code":"oversized"');
    // Chunked: no Content-Length to go by, refused once 128 KiB have arrived.
    const chunked = await refusedEarly(
      'POST /api/chain/extrinsics HTTP/1.1\r\nHost: hub\r\nTransfer-Encoding: chunked\r\n\r\n',
      Buffer.concat([Buffer.from(`${(200 * 1024).toString(16)}\r\n`), Buffer.alloc(200 * 1024, 0x20)]),
    );
    expect(chunked).toMatch(/^HTTP\/1\.1 413 /);
    expect(chunked).toMatch(/\r\nconnection: close\r\n/i);
    // A POST to a read-only route: 405 without reading the megabyte it announces.
    const readOnly = await refusedEarly('POST /api/run HTTP/1.1\r\nHost: hub\r\nContent-Length: 1048576\r\n\r\n', Buffer.alloc(1024));
    expect(readOnly).toMatch(/^HTTP\/1\.1 405 /);
    expect(readOnly).toMatch(/\r\nconnection: close\r\n/i);
  });

  it('refuses JSON nested thousands of levels deep with a 400, not a 500', async () => {
    const body = `{"call":"register","binding":${'['.repeat(3000)}${']'.repeat(3000)}}`;
    const response = await fetch(`${hub.http}/api/chain/extrinsics`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('malformed');
    expect(error.message).toMatch(/nests at most 32 arrays and objects deep/);
  });

  it('reads ?from= and &limit= of /api/chain/blocks as plain decimal digits only', async () => {
    const status = async (query: string) => (await fetch(`${hub.http}/api/chain/blocks${query}`)).status;
    for (const bad of [
      '',
      '?from=',
      '?from=0x10',
      '?from=1e1',
      '?from=-1',
      '?from=1.5',
      '?from=%201',
      '?from=1&limit=0x10',
      '?from=1&limit=',
    ])
      expect([bad, await status(bad)]).toEqual([bad, 400]);
    expect(await status('?from=0')).toBe(200);
    expect(await status('?from=1&limit=10')).toBe(200);
  });
});

describe("the hub's HTTP rate limits", () => {
  it('answers 429 with Retry-After once an address spends its budget, POSTs (the chain route included) sooner', async () => {
    const dir = tempDir('limits');
    const store = new DiskContentStore(dir);
    await store.init();
    let mountedCalls = 0;
    const server = createHubHttpServer({
      appDir: dir,
      store,
      runInfo: () => ({ runId: 'limits' }) as RunInfo,
      // Standing in for the dev chain's routes: a refused request never reaches a mounted route.
      routes: [
        async (req, res) => {
          if (!req.url?.startsWith('/api/chain/')) return false;
          mountedCalls++;
          res.writeHead(200).end('{}');
          return true;
        },
      ],
      rateLimits: { requests: { burst: 20, perSecond: 0.5 }, posts: { burst: 3, perSecond: 0.5 } },
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const posts = [];
      for (let i = 0; i < 5; i++) posts.push(await fetch(`${base}/api/chain/extrinsics`, { method: 'POST', body: '{}' }));
      expect(posts.map((r) => r.status)).toEqual([200, 200, 200, 429, 429]);
      expect(mountedCalls).toBe(3);
      expect(Number(posts[3]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await posts[3]!.json()) as { error: string }).error).toMatch(/too many requests from your address: retry in \d+ s/);
      // GETs have their own, larger budget: 20 in all, 5 of them spent by the POSTs.
      const gets = [];
      for (let i = 0; i < 16; i++) gets.push((await fetch(`${base}/api/run`)).status);
      expect(gets.slice(0, 15).every((s) => s === 200)).toBe(true);
      expect(gets[15]).toBe(429);
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });
});

describe("the hub's relay", () => {
  it('limits relayed connections and reservations per address, and WebRTC links still form through it', async () => {
    const app = tempDir('app');
    writeFileSync(join(app, 'index.html'), '<!doctype html><title>WebLoCo</title>');
    const hub = await startHub({
      port: 0,
      dataDir: tempDir('relay'),
      appDir: app,
      runId: 'open-internet-relay',
      discoveryIntervalMs: 300,
      maxReservationsPerAddress: 2,
    });
    const peers: Swarm[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const node = await createNodePeer({ runId: hub.runId, webrtc: true, dialPrivateAddresses: true, discoveryIntervalMs: 300 });
        const peer = new Swarm({
          node,
          runId: hub.runId,
          store: new MemoryContentStore(),
          keepConnected: hub.multiaddrs.map((a) => multiaddr(a)),
          directLinks: true,
        });
        await peer.start();
        peers.push(peer);
      }
      const { relay } = hub.swarm.node.services as unknown as { relay: CircuitRelayService }; // the hub's node has one
      await until('two reservations', () => relay.reservations.size === 2);
      // Peers with a reservation link directly; every relayed connection (the signalling path) is limited.
      await until('a direct WebRTC link', () => peers.some((p) => p.directPeers().length > 0), 45_000);
      const relayed = peers.flatMap((p) =>
        p.node.getConnections().filter((c) => c.remoteAddr.getComponents().some((x) => x.name === 'p2p-circuit') && !isDirectWebRTC(c)),
      );
      expect(relayed.length).toBeGreaterThan(0);
      // What is left of the 128 KiB the relay allows each relayed connection (no limit: undefined).
      for (const c of relayed) expect(c.limits?.bytes).toSatisfy((left: unknown) => typeof left === 'bigint' && left <= 128n * 1024n);
      // The third peer of this address asked too, and was refused.
      expect(relay.reservations.size).toBe(2);
    } finally {
      for (const peer of peers) await peer.stop();
      await hub.stop();
    }
  });
});
