// The transfer protocols between two Node peers over loopback WebSockets: a fetch by hash
// verifies, and every way a peer can misbehave (wrong bytes, an oversized or malformed response,
// a malformed request, too many requests) ends in a clear error while both nodes keep serving.
import type { Stream } from '@libp2p/interface';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryContentStore, type ContentStore } from '../../src/swarm/content.ts';
import { contentHash } from '../../src/base/content-hash.ts';
import { bytesToHex, hexToBytes } from '../../src/base/hex.ts';
import { createNodePeer } from '../../src/swarm/node-peer.ts';
import { CHECKPOINT_PROTOCOL, HASH_BYTES, MAX_FRAME_BYTES, PAYLOAD_PROTOCOL, Status } from '../../src/swarm/protocol.ts';
import { StreamReader, u32le } from '../../src/swarm/stream-bytes.ts';
import { Swarm, type Transfer } from '../../src/swarm/swarm.ts';
import { TransferError } from '../../src/swarm/transfer.ts';
import { randomBytes } from '../helpers/random.ts';

const RUN = 'test-transfer';

async function makePeer(store: ContentStore, options: Partial<ConstructorParameters<typeof Swarm>[0]> = {}): Promise<Swarm> {
  const node = await createNodePeer({ runId: RUN, webrtc: false, dialPrivateAddresses: true, listen: ['/ip4/127.0.0.1/tcp/0/ws'] });
  const swarm = new Swarm({ node, runId: RUN, store, ...options });
  await swarm.start();
  return swarm;
}

/** A store that answers every hash with the same wrong bytes: a lying peer. */
class LyingStore implements ContentStore {
  async get(): Promise<Uint8Array> {
    return new TextEncoder().encode('not what you asked for');
  }
  async put(bytes: Uint8Array): Promise<string> {
    return contentHash(bytes);
  }
  async has(): Promise<boolean> {
    return true;
  }
}

describe('/webloco/payload/1 between two Node peers', () => {
  let server: Swarm;
  let client: Swarm;
  let liar: Swarm;
  let strict: Swarm;
  let payload: Uint8Array;
  let payloadHash: string;

  beforeAll(async () => {
    payload = randomBytes(2.5 * MAX_FRAME_BYTES, 7); // three frames, the last one partial
    const store = new MemoryContentStore();
    payloadHash = await store.put(payload);
    server = await makePeer(store);
    client = await makePeer(new MemoryContentStore());
    liar = await makePeer(new LyingStore());
    strict = await makePeer(store, { requestRate: { burst: 2, perSecond: 0.01 } });
    for (const peer of [server, liar, strict]) await client.node.dial(peer.node.getMultiaddrs()[0]!);
  });

  afterAll(async () => {
    await Promise.all([server, client, liar, strict].map((s) => s?.stop()));
  });

  it('fetches an object by hash, in frames, and verifies it', async () => {
    const bytes = await client.fetch(PAYLOAD_PROTOCOL, server.peerId, payloadHash);
    expect(bytes.byteLength).toBe(payload.byteLength);
    expect(contentHash(bytes)).toBe(payloadHash);
  });

  it('counts the bytes each side of a fetch sent and received, framing included', async () => {
    const served = new Promise<Transfer>((done) => server.addEventListener('transfer', (e) => done(e.detail), { once: true }));
    const fetched = new Promise<Transfer>((done) => client.addEventListener('transfer', (e) => done(e.detail), { once: true }));
    await client.fetch(PAYLOAD_PROTOCOL, server.peerId, payloadHash);
    // The request is the digest; the answer a status byte, the size, and three frames each with its length.
    const answer = 1 + 4 + 3 * 4 + payload.byteLength;
    expect(await fetched).toEqual({ protocol: PAYLOAD_PROTOCOL, role: 'fetch', peer: server.peerId, sent: HASH_BYTES, received: answer });
    expect(await served).toEqual({ protocol: PAYLOAD_PROTOCOL, role: 'serve', peer: client.peerId, sent: answer, received: HASH_BYTES });
  });

  it('refuses every request while it does not serve (a tab at its data cap); a requester takes its next source', async () => {
    const hub = await makePeer(server.store);
    server.stopServing('at its data cap');
    try {
      await client.node.dial(hub.node.getMultiaddrs()[0]!);
      await expect(client.fetch(PAYLOAD_PROTOCOL, server.peerId, payloadHash)).rejects.toThrow(/rateLimited: at its data cap/);
      const { from } = await client.fetchFromAny(PAYLOAD_PROTOCOL, [server.peerId, hub.peerId], payloadHash);
      expect(from).toBe(hub.peerId);
    } finally {
      server.resumeServing();
      await hub.stop();
    }
    expect(contentHash(await client.fetch(PAYLOAD_PROTOCOL, server.peerId, payloadHash))).toBe(payloadHash);
  });

  it("serves the same store on /webloco/checkpoint/1, under that protocol's own size limit", async () => {
    expect(contentHash(await client.fetch(CHECKPOINT_PROTOCOL, server.peerId, `0x${payloadHash}`))).toBe(payloadHash);
    const small = await makePeer(server.store, { maxObjectBytes: { [CHECKPOINT_PROTOCOL]: 1024 } });
    try {
      await client.node.dial(small.node.getMultiaddrs()[0]!);
      await expect(client.fetch(CHECKPOINT_PROTOCOL, small.peerId, payloadHash)).rejects.toThrow(
        /tooLarge.*more than this protocol's 1024/,
      );
      expect((await client.fetch(PAYLOAD_PROTOCOL, small.peerId, payloadHash)).byteLength).toBe(payload.byteLength);
    } finally {
      await small.stop();
    }
  });

  it('reports an object the peer does not hold', async () => {
    const missing = 'ab'.repeat(32);
    await expect(client.fetch(PAYLOAD_PROTOCOL, server.peerId, missing)).rejects.toThrow(/notFound.*not held/);
  });

  it('rejects bytes whose hash is not the requested one', async () => {
    await expect(client.fetch(PAYLOAD_PROTOCOL, liar.peerId, payloadHash)).rejects.toThrow(/hash mismatch/);
  });

  it('refuses an object larger than the caller allows, before downloading it', async () => {
    const err = await client.fetch(PAYLOAD_PROTOCOL, server.peerId, payloadHash, { maxBytes: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect((err as TransferError).status).toBe(Status.tooLarge);
    expect((err as Error).message).toMatch(/announced 2621440 bytes.*more than the 1000 allowed/);
  });

  it('rejects a malformed hash before sending anything', async () => {
    await expect(client.fetch(PAYLOAD_PROTOCOL, server.peerId, 'xyz')).rejects.toThrow(/64 lowercase hex/);
  });

  it('answers a short or long request with badRequest and keeps serving', async () => {
    for (const length of [5, HASH_BYTES + 8]) {
      const stream = await client.node.dialProtocol(server.node.peerId, PAYLOAD_PROTOCOL);
      stream.send(new Uint8Array(length));
      await stream.close();
      const reader = new StreamReader(stream);
      const [status] = await reader.read(1, 'status');
      expect(status).toBe(Status.badRequest);
      const messageLength = new DataView((await reader.read(2, 'length')).buffer).getUint16(0, true);
      expect(new TextDecoder().decode(await reader.read(messageLength, 'message'))).toMatch(/malformed request/);
    }
    expect((await client.fetch(PAYLOAD_PROTOCOL, server.peerId, payloadHash)).byteLength).toBe(payload.byteLength);
  });

  it('trips the per-peer rate limit and says so', async () => {
    await client.fetch(PAYLOAD_PROTOCOL, strict.peerId, payloadHash);
    await client.fetch(PAYLOAD_PROTOCOL, strict.peerId, payloadHash);
    const err = await client.fetch(PAYLOAD_PROTOCOL, strict.peerId, payloadHash).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect((err as TransferError).status).toBe(Status.rateLimited);
    // Another peer still has its own budget.
    await server.node.dial(strict.node.getMultiaddrs()[0]!);
    expect((await server.fetch(PAYLOAD_PROTOCOL, strict.peerId, payloadHash)).byteLength).toBe(payload.byteLength);
  });

  it('limits every peer id from one address together: fresh peer ids do not multiply the budget', async () => {
    const guarded = await makePeer(server.store, {
      requestRate: { burst: 2, perSecond: 0.01 },
      requestRatePerAddress: { burst: 4, perSecond: 0.01 },
    });
    const fresh = await Promise.all([1, 2, 3].map(() => makePeer(new MemoryContentStore())));
    try {
      const outcomes: string[] = [];
      for (const peer of fresh) {
        await peer.node.dial(guarded.node.getMultiaddrs()[0]!);
        for (let i = 0; i < 2; i++)
          outcomes.push(
            await peer.fetch(PAYLOAD_PROTOCOL, guarded.peerId, payloadHash).then(
              () => 'served',
              (err: unknown) => (err instanceof TransferError && err.status === Status.rateLimited ? err.message : String(err)),
            ),
          );
      }
      // Each peer's own budget (2) would serve all 6; the address's (4) serves 4.
      expect(outcomes.filter((o) => o === 'served')).toHaveLength(4);
      expect(outcomes.slice(4)).toEqual([
        expect.stringMatching(/too many requests from this address/),
        expect.stringMatching(/this address/),
      ]);
    } finally {
      await Promise.all([guarded, ...fresh].map((s) => s.stop()));
    }
  });
});

describe('a malicious responder', () => {
  // A bare protocol handler that answers every request with the given bytes, whatever they are.
  let adversary: Swarm;
  let client: Swarm;
  let respond: (stream: Stream) => Promise<void>;
  const hash = 'cd'.repeat(32);

  beforeAll(async () => {
    adversary = await makePeer(new MemoryContentStore());
    await adversary.node.unhandle(PAYLOAD_PROTOCOL);
    await adversary.node.handle(PAYLOAD_PROTOCOL, async (stream) => {
      const reader = new StreamReader(stream);
      await reader.read(HASH_BYTES, 'request');
      await respond(stream);
    });
    client = await makePeer(new MemoryContentStore());
    await client.node.dial(adversary.node.getMultiaddrs()[0]!);
  });

  afterAll(async () => {
    await Promise.all([adversary, client].map((s) => s?.stop()));
  });

  const cases: [string, () => Uint8Array[], RegExp][] = [
    [
      'announces 4 GiB (refused before allocating)',
      () => [Uint8Array.of(Status.ok), u32le(0xfffffff0)],
      /announced 4294967280 bytes.*not downloading/,
    ],
    ['sends an empty frame', () => [Uint8Array.of(Status.ok), u32le(10), u32le(0)], /frame of 0 bytes/],
    ['sends a frame over 1 MiB', () => [Uint8Array.of(Status.ok), u32le(10), u32le(MAX_FRAME_BYTES + 1)], /frame of 1048577 bytes/],
    [
      'sends frames beyond the total',
      () => [Uint8Array.of(Status.ok), u32le(4), u32le(8), new Uint8Array(8)],
      /exceed the announced 4 bytes/,
    ],
    [
      'stops in the middle',
      () => [Uint8Array.of(Status.ok), u32le(100), u32le(100), new Uint8Array(10)],
      /stream ended after 10 of 100 bytes/,
    ],
    [
      'sends bytes after the object',
      () => [Uint8Array.of(Status.ok), u32le(4), u32le(4), new Uint8Array(4), new Uint8Array(3)],
      /bytes after the announced/,
    ],
    [
      'refuses with newlines and terminal escapes in its message (shown escaped, on one line)',
      () => {
        const text = new TextEncoder().encode('gone\nhub: payload accepted\u001b[2K\u202e');
        return [Uint8Array.of(Status.notFound, text.byteLength, 0), text];
      },
      /notFound: gone\\nhub: payload accepted\\u001b\[2K\\u202e$/,
    ],
    [
      'sends an overlong error message',
      () => [Uint8Array.of(Status.notFound), new Uint8Array([0xff, 0xff])],
      /error message of 65535 bytes/,
    ],
  ];

  for (const [what, response, error] of cases) {
    it(`gets an error when the peer ${what}`, async () => {
      respond = async (stream) => {
        for (const part of response()) stream.send(part);
        await stream.close();
      };
      await expect(client.fetch(PAYLOAD_PROTOCOL, adversary.peerId, hash, { timeoutMs: 5_000 })).rejects.toThrow(error);
    });
  }

  it('keeps both nodes running afterwards', async () => {
    const good = new TextEncoder().encode('hello');
    const goodHash = contentHash(good);
    respond = async (stream) => {
      for (const part of [Uint8Array.of(Status.ok), u32le(good.byteLength), u32le(good.byteLength), good]) stream.send(part);
      await stream.close();
    };
    expect(bytesToHex(hexToBytes(goodHash))).toBe(goodHash);
    expect(new TextDecoder().decode(await client.fetch(PAYLOAD_PROTOCOL, adversary.peerId, goodHash))).toBe('hello');
  });
});
