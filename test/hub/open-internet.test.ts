// A hub facing strangers' bytes (issue 18): malformed WebSocket frames on its libp2p port close
// that connection only, and the hub goes on answering HTTP, serving objects and deciding rounds.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../src/hub/hub.ts';
import { MemoryContentStore } from '../../src/swarm/content.ts';
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
    await Promise.all(
      MALFORMED_FRAMES.map(async ([what, frame]) => {
        const { socket, received, closed } = await rawConnection(target);
        socket.write(UPGRADE);
        await until(`the upgrade before sending ${what}`, () => received().toString('latin1').startsWith('HTTP/1.1 101'));
        socket.write(frame);
        await closed;
      }),
    );

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
});
