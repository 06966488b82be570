// A hub on the internet (issue 19), in one process: TURN credentials minted as coturn's
// use-auth-secret expects them; GET /api/run carrying the ICE servers and the public addresses;
// the announce list under --public-url; HTTPS and WSS on one port; a hub started with --bootstrap
// serving the first hub's run and forwarding its API; the relay's bytes counted per peer.
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpUrlOf } from '../../src/hub/first-hub.ts';
import { startHub, publicMultiaddr, type Hub } from '../../src/hub/hub.ts';
import { checkIceConfig, iceServers, mintTurnCredential, turnPassword, TURN_CREDENTIAL_TTL_SECONDS } from '../../src/hub/ice.ts';
import type { RunInfo } from '../../src/run/api.ts';
import { iceCredentialsExpiry } from '../../src/run/hub-client.ts';
import { MemoryContentStore } from '../../src/swarm/content.ts';
import { isDirectWebRTC } from '../../src/swarm/direct-links.ts';
import { createNodePeer } from '../../src/swarm/node-peer.ts';
import { Swarm } from '../../src/swarm/swarm.ts';
import { until } from '../helpers/until.ts';

function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `webloco-${name}-`));
}

function app(): string {
  const dir = tempDir('app');
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>WebLoCo</title>');
  return dir;
}

async function runInfo(url: string): Promise<RunInfo> {
  return (await (await fetch(`${url}/api/run`)).json()) as RunInfo;
}

const FAST = { blockTimeMs: 100, blocksPerRound: 5 };

describe('TURN credentials (coturn use-auth-secret)', () => {
  it('mint username <expiry>:<id> and credential base64(HMAC-SHA1(secret, username))', () => {
    // Computed apart from this code: printf '1767225600:webloco-test' | openssl dgst -sha1 -hmac 'coturn-static-auth-secret' -binary | base64
    expect(turnPassword('coturn-static-auth-secret', '1767225600:webloco-test')).toBe('glfHUWoOX7zHFYjFBHD+qNfgp0w=');
    const now = Date.UTC(2026, 0, 1);
    const minted = mintTurnCredential('coturn-static-auth-secret', { nowMs: now, ttlSeconds: 3600, id: 'tab' });
    expect(minted).toEqual({
      username: '1767229200:tab',
      credential: turnPassword('coturn-static-auth-secret', '1767229200:tab'),
      expiresAt: 1767229200,
    });
    expect(minted.credential).toBe(createHmac('sha1', 'coturn-static-auth-secret').update('1767229200:tab').digest('base64'));
    // Each minted credential names a holder of its own; the default lifetime is a day.
    const [a, b] = [0, 1].map(() => mintTurnCredential('s', { nowMs: now }));
    expect(a!.username).not.toBe(b!.username);
    expect(a!.expiresAt).toBe(now / 1000 + TURN_CREDENTIAL_TTL_SECONDS);
  });

  it('hands STUN servers as they are and TURN servers with a fresh credential, never the secret', () => {
    const config = checkIceConfig({
      stun: ['stun:turn.example.org:3478'],
      turn: ['turn:turn.example.org:3478?transport=udp'],
      turnSecret: 'shh',
    });
    const now = Date.UTC(2026, 5, 1, 12);
    const servers = iceServers(config, now);
    expect(servers[0]).toEqual({ urls: ['stun:turn.example.org:3478'] });
    const turn = servers[1]!;
    expect(turn.urls).toEqual(['turn:turn.example.org:3478?transport=udp']);
    expect(turn.username).toMatch(new RegExp(`^${now / 1000 + TURN_CREDENTIAL_TTL_SECONDS}:[0-9a-f]{12}$`));
    expect(turn.credential).toBe(turnPassword('shh', turn.username!));
    expect(JSON.stringify(servers)).not.toContain('shh');
    expect(iceCredentialsExpiry(servers)).toBe(now + TURN_CREDENTIAL_TTL_SECONDS * 1000);
    expect(iceCredentialsExpiry([{ urls: ['stun:x'] }])).toBeUndefined();
  });

  it('refuses TURN without a secret and URLs of the wrong kind, saying what to write', () => {
    expect(() => checkIceConfig({ stun: [], turn: ['turn:t.example.org'] })).toThrow(/--turn needs --turn-secret-file/);
    expect(() => checkIceConfig({ stun: ['https://t.example.org'], turn: [] })).toThrow(/write it as stun:/);
    expect(() => checkIceConfig({ stun: [], turn: ['stun:t.example.org'], turnSecret: 's' })).toThrow(/write it as turn:/);
  });
});

describe('the announce list under --public-url', () => {
  it('is /dns4/<name>/tcp/<port>/wss, 443 by default', () => {
    expect(publicMultiaddr('https://hub.example.org')).toBe('/dns4/hub.example.org/tcp/443/wss');
    expect(publicMultiaddr('https://hub.example.org:8443/')).toBe('/dns4/hub.example.org/tcp/8443/wss');
    expect(publicMultiaddr('http://10.1.2.3:8080')).toBe('/ip4/10.1.2.3/tcp/8080/ws');
    expect(publicMultiaddr('https://[2001:db8::1]')).toBe('/ip6/2001:db8::1/tcp/443/wss');
    expect(() => publicMultiaddr('https://hub.example.org/webloco')).toThrow(/must be an origin/);
    expect(() => publicMultiaddr('hub.example.org')).toThrow(/not a URL/);
  });

  it("gives a hub's HTTP URL from the address its WebSockets share a port with", () => {
    expect(httpUrlOf('/dns4/hub.example.org/tcp/443/wss/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo')).toBe(
      'https://hub.example.org:443',
    );
    expect(httpUrlOf('/ip4/127.0.0.1/tcp/8080/ws')).toBe('http://127.0.0.1:8080');
    expect(httpUrlOf('/ip4/10.0.0.1/tcp/9443/tls/ws')).toBe('https://10.0.0.1:9443');
    expect(httpUrlOf('/ip4/10.0.0.1/tcp/4001')).toBeUndefined();
  });
});

describe('a hub behind a TLS-terminating proxy', () => {
  let hub: Hub;
  beforeAll(async () => {
    hub = await startHub({
      port: 0,
      dataDir: tempDir('public-hub'),
      appDir: app(),
      run: FAST,
      publicUrl: 'https://hub.example.org',
      ice: { stun: ['stun:turn.example.org:3478'], turn: ['turn:turn.example.org:3478?transport=udp'], turnSecret: 'shh' },
    });
  });
  afterAll(() => hub?.stop());

  it('announces its public name only, builds its URLs from it, and serves ICE servers with fresh TURN credentials', async () => {
    const wss = `/dns4/hub.example.org/tcp/443/wss/p2p/${hub.swarm.peerId}`;
    expect(hub.multiaddrs).toEqual([wss]);
    expect(hub.http).toBe('https://hub.example.org');
    // Reached here at its listen address, as the proxy reaches it.
    const listen = `http://127.0.0.1:${hub.port}`;
    const [first, second] = [await runInfo(listen), await runInfo(listen)];
    expect(first.hub).toEqual({ peerId: hub.swarm.peerId, multiaddrs: [wss], url: 'https://hub.example.org' });
    expect(first.firstHub).toEqual(first.hub);
    expect(first.iceServers.map((s) => s.urls)).toEqual([['stun:turn.example.org:3478'], ['turn:turn.example.org:3478?transport=udp']]);
    const [a, b] = [first.iceServers[1]!, second.iceServers[1]!];
    expect(a.username).not.toBe(b.username);
    for (const turn of [a, b]) expect(turn.credential).toBe(turnPassword('shh', turn.username!));
  });
});

describe('a hub with a certificate', () => {
  let dir: string;
  let hub: Hub;
  beforeAll(async () => {
    dir = tempDir('tls');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=hub.test',
        '-addext',
        'subjectAltName=DNS:hub.test,IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    hub = await startHub({
      port: 0,
      dataDir: tempDir('tls-hub'),
      appDir: app(),
      run: FAST,
      tls: { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) },
    });
  });
  afterAll(() => hub?.stop());

  it('serves HTTPS and WSS on its one port, and announces that port as /tls/ws', async () => {
    expect(hub.http).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const port = Number(new URL(hub.http).port);
    expect(hub.multiaddrs).toEqual([`/ip4/127.0.0.1/tcp/${port}/tls/ws/p2p/${hub.swarm.peerId}`]);
    const ca = readFileSync(join(dir, 'cert.pem'));
    const body = await new Promise<string>((done, fail) =>
      request(`${hub.http}/api/run`, { ca }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => done(text));
      })
        .on('error', fail)
        .end(),
    );
    expect((JSON.parse(body) as RunInfo).hub.url).toBe(hub.http);
    // A WebSocket upgrade on the same port, over TLS.
    const answer = await new Promise<string>((done, fail) => {
      const socket = connect({ host: '127.0.0.1', port, ca, servername: 'hub.test' }, () =>
        socket.write(
          'GET / HTTP/1.1\r\nHost: hub.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        ),
      );
      socket.once('data', (c: Buffer) => {
        done(c.toString('latin1'));
        socket.destroy();
      });
      socket.on('error', fail);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 101 /);
  });
});

describe('several hubs of one run', () => {
  let first: Hub;
  let joining: Hub;
  beforeAll(async () => {
    first = await startHub({ port: 0, dataDir: tempDir('first-hub'), appDir: app(), runId: 'several-hubs', run: FAST });
    // Given other settings, which the run's own replace.
    joining = await startHub({
      port: 0,
      dataDir: tempDir('joining-hub'),
      appDir: app(),
      bootstrap: [first.multiaddrs[0]!],
      run: { ...FAST, seqLen: 16 },
    });
  });
  afterAll(async () => {
    await joining?.stop();
    await first?.stop();
  });

  it("serves the first hub's run with its own addresses, names the first hub, and forwards the rest of the API", async () => {
    expect(joining.runId).toBe('several-hubs');
    expect(joining.settings).toEqual(first.settings);
    const [a, b] = [await runInfo(first.http), await runInfo(joining.http)];
    expect(b.hub.peerId).toBe(joining.swarm.peerId);
    expect(b.firstHub).toEqual(a.hub);
    expect(b.chain?.authority).toBe(a.chain?.authority);
    expect([b.runId, b.settings]).toEqual([a.runId, a.settings]);
    expect(b.checkpoint).toEqual(a.checkpoint);
    const head = async (url: string) => ((await (await fetch(`${url}/api/chain/head`)).json()) as { run: string; hash: string }).run;
    expect(await head(joining.http)).toBe('several-hubs');
    // A POST goes through, and so does the first hub's refusal.
    const refused = await fetch(`${joining.http}/api/chain/extrinsics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"call":"nonsense"}',
    });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBeTypeOf('string');
    // Objects come through too, checkpoints included.
    const object = await fetch(`${joining.http}/api/objects/${a.checkpoint!.objectHash}`);
    expect([object.status, (await object.arrayBuffer()).byteLength]).toEqual([200, a.checkpoint!.bytes]);
    await until('the two hubs to be linked', () => first.swarm.links().some((l) => l.peer === joining.swarm.peerId) || undefined);
  });

  it('refuses another --run-id than the first hub runs', async () => {
    await expect(
      startHub({ port: 0, dataDir: tempDir('wrong-hub'), appDir: app(), bootstrap: [first.multiaddrs[0]!], runId: 'another-run' }),
    ).rejects.toThrow(/runs 'several-hubs': leave --run-id out/);
  });
});

describe("the relay's meter", () => {
  it('counts the bytes relayed on circuits each peer opened, and WebRTC setup stays far below the relay limit', async () => {
    const hub = await startHub({
      port: 0,
      dataDir: tempDir('metered'),
      appDir: app(),
      runId: 'metered',
      run: FAST,
      discoveryIntervalMs: 500,
    });
    const peers: Swarm[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const node = await createNodePeer({ runId: hub.runId, dialPrivateAddresses: true, discoveryIntervalMs: 500 });
        const swarm = new Swarm({
          node,
          runId: hub.runId,
          store: new MemoryContentStore(),
          keepConnected: hub.multiaddrs.map((a) => multiaddr(a)),
          directLinks: true,
        });
        await swarm.start();
        peers.push(swarm);
      }
      await until('a direct WebRTC link', () => peers[0]!.node.getConnections().some(isDirectWebRTC) || undefined, 30_000);
      const info = await runInfo(hub.http);
      const relayed = info.peers.filter((p) => peers.some((s) => s.peerId === p.peerId)).map((p) => p.relayedBytes);
      const total = relayed.reduce((a, b) => a + b, 0);
      // The dialer's circuit carried the WebRTC signalling (a few KB); both made reservations.
      expect(relayed.every((n) => n > 0)).toBe(true);
      expect(total).toBeLessThan(128 * 1024);
    } finally {
      for (const peer of peers) await peer.stop();
      await hub.stop();
    }
  });
});
