// A transfer survives the path changing under it (issue 19): the provider's connection drops while
// it is sending a payload, and the requester gets the payload from the next source (the hub)
// with the right bytes; a decision that names that payload is applied exactly once, on the
// decided model hash. Three Node peers over loopback WebSockets: requester, provider, hub.
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash, signedHash, type ContentHash } from '../../src/base/content-hash.ts';
import type { SignedDecision } from '../../src/chain/extrinsics.ts';
import { followDecision } from '../../src/run/follow.ts';
import { MemoryContentStore, type ContentStore } from '../../src/swarm/content.ts';
import { createNodePeer } from '../../src/swarm/node-peer.ts';
import { MAX_FRAME_BYTES, PAYLOAD_PROTOCOL } from '../../src/swarm/protocol.ts';
import { Swarm } from '../../src/swarm/swarm.ts';
import { randomBytes } from '../helpers/random.ts';

const RUN = 'test-path-change';

async function makePeer(store: ContentStore, listen: boolean): Promise<Swarm> {
  const node = await createNodePeer({
    runId: RUN,
    webrtc: false,
    dialPrivateAddresses: true,
    ...(listen ? { listen: ['/ip4/127.0.0.1/tcp/0/ws'] } : {}),
  });
  const swarm = new Swarm({ node, runId: RUN, store });
  await swarm.start();
  return swarm;
}

/** A provider whose connection to the requester drops the moment it starts serving: the path changed. */
class DroppingStore extends MemoryContentStore {
  served = 0;
  constructor(private readonly drop: () => void) {
    super();
  }
  override async get(hash: ContentHash): Promise<Uint8Array | undefined> {
    const bytes = await super.get(hash);
    if (bytes) {
      this.served++;
      // After the response has started: the status, the size and the first frames are on their way.
      setTimeout(this.drop, 5);
    }
    return bytes;
  }
}

describe('a transfer whose path drops mid-way', () => {
  const payload = randomBytes(6 * MAX_FRAME_BYTES, 19);
  let hash: ContentHash;
  let requester: Swarm;
  let provider: Swarm;
  let providerStore: DroppingStore;
  let hub: Swarm;

  beforeAll(async () => {
    providerStore = new DroppingStore(() => {
      for (const c of provider.node.getConnections(requester.node.peerId)) c.abort(new Error('the path changed'));
    });
    hash = await providerStore.put(payload);
    const hubStore = new MemoryContentStore();
    await hubStore.put(payload);
    provider = await makePeer(providerStore, true);
    hub = await makePeer(hubStore, true);
    requester = await makePeer(new MemoryContentStore(), false);
    await requester.node.dial(multiaddr(provider.node.getMultiaddrs()[0]!));
    await requester.node.dial(multiaddr(hub.node.getMultiaddrs()[0]!));
  });

  afterAll(async () => {
    for (const peer of [requester, provider, hub]) await peer?.stop();
  });

  it('is retried from the hub, arrives whole, and its decision is applied once on the decided model', async () => {
    const applied: Uint8Array[][] = [];
    const fetchedFrom: string[] = [];
    const modelAfter = (payloads: Uint8Array[]) => contentHash(new Uint8Array(payloads.flatMap((p) => [...p.subarray(0, 64)])));
    const decision = {
      decision: { payloadHashes: [signedHash(hash)], modelHash: signedHash(modelAfter([payload])) },
    } as unknown as SignedDecision;
    const { modelHash } = await followDecision(3, decision, {
      payload: async (h) => {
        const { bytes, from } = await requester.fetchFromAny(PAYLOAD_PROTOCOL, [provider.peerId, hub.peerId], h, { timeoutMs: 20_000 });
        fetchedFrom.push(from);
        return bytes;
      },
      apply: (_round, payloads) => {
        applied.push(payloads);
        return modelAfter(payloads);
      },
    });
    expect(providerStore.served, 'the provider started serving before its path dropped').toBeGreaterThanOrEqual(1);
    expect(fetchedFrom).toEqual([hub.peerId]);
    expect(applied).toHaveLength(1);
    expect(contentHash(applied[0]![0]!)).toBe(hash);
    expect(modelHash).toBe(modelAfter([payload]));
  });

  it('says which sources it tried when none serves the object', async () => {
    const missing = contentHash(randomBytes(100, 3));
    await expect(requester.fetchFromAny(PAYLOAD_PROTOCOL, [hub.peerId], missing)).rejects.toThrow(
      new RegExp(`${missing} could not be fetched from ${hub.peerId}: .*not held here`),
    );
  });
});
